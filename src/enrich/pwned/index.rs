//! Reading an index: open (validate, map), lookup, range answers.

use super::format::{self, Header};
use super::PwnedError;
use memmap2::Mmap;
use sha1::{Digest, Sha1};
use std::cmp::Ordering;
use std::fs::File;
use std::path::{Path, PathBuf};

/// A breach-corpus index, mapped read-only. Lookups touch the prefix table and
/// one bucket; nothing is read up front but the header and the table.
pub struct PwnedIndex {
    path: PathBuf,
    map: Mmap,
    header: Header,
    record: usize,
}

impl PwnedIndex {
    /// Maps and validates an index: magic, version, flags, the checksum over
    /// the header and prefix table, the file's exact size, and that the table
    /// rises to the hash count. The body is not hashed here (see the module
    /// doc); [`PwnedIndex::verify`] does that.
    pub fn open(path: &Path) -> Result<PwnedIndex, PwnedError> {
        let bad = |what: String| PwnedError::Index {
            path: path.to_path_buf(),
            what,
        };
        let io = |source| PwnedError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len < format::HEADER_LEN as u64 {
            return Err(bad(format!(
                "truncated: {len} bytes, shorter than the {}-byte header",
                format::HEADER_LEN
            )));
        }
        // SAFETY: the map is read-only and private to this process. Another
        // process truncating the file under us would fault; indexes are
        // written to a temporary name and renamed into place, never edited.
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        if map[..8] != format::MAGIC {
            return Err(bad(format!(
                "not a breach-corpus index (starts with {:02x?}, expected {:02x?})",
                &map[..8],
                format::MAGIC
            )));
        }
        let header = Header::decode(&map[..format::HEADER_LEN]);
        if header.version != format::VERSION {
            return Err(bad(format!(
                "format version {}, this build reads version {} (rebuild the index with this palisade)",
                header.version,
                format::VERSION
            )));
        }
        if len < format::BODY_OFFSET as u64 {
            return Err(bad(format!(
                "truncated: {len} bytes, shorter than the header and prefix table ({} bytes)",
                format::BODY_OFFSET
            )));
        }
        let table = &map[format::HEADER_LEN..format::BODY_OFFSET];
        if format::checksum(&map, table) != format::stored_checksum(&map) {
            return Err(bad(
                "checksum mismatch in the header or prefix table (the file is corrupt)".into(),
            ));
        }
        if header.flags & !format::FLAG_RANGE != 0 {
            return Err(bad(format!("unknown flags {:#x}", header.flags)));
        }
        let record = if header.range() {
            format::RANGE_RECORD
        } else {
            format::LOOKUP_RECORD
        };
        if header.record as usize != record || header.prefix_bits != format::PREFIX_BITS {
            return Err(bad(format!(
                "record size {} and prefix bits {} do not fit its flags",
                header.record, header.prefix_bits
            )));
        }
        let expected = header
            .count
            .checked_mul(record as u64)
            .and_then(|b| b.checked_add(format::BODY_OFFSET as u64))
            .ok_or_else(|| bad(format!("impossible hash count {}", header.count)))?;
        if len < expected {
            return Err(bad(format!(
                "truncated: {len} bytes, expected {expected} for {} hashes",
                header.count
            )));
        }
        if len > expected {
            return Err(bad(format!(
                "{} bytes after the last record (expected {expected} bytes for {} hashes)",
                len - expected,
                header.count
            )));
        }
        let index = PwnedIndex {
            path: path.to_path_buf(),
            map,
            header,
            record,
        };
        // The checksum vouches for the table; this catches a writer's bug.
        let mut last = 0;
        for p in 0..=format::BUCKETS {
            let at = index.table(p);
            if at < last || at > index.header.count {
                return Err(bad(format!("prefix table not ascending at bucket {p:05X}")));
            }
            last = at;
        }
        if last != index.header.count {
            return Err(bad("prefix table does not end at the hash count".into()));
        }
        Ok(index)
    }

    #[inline]
    fn table(&self, p: usize) -> u64 {
        let o = format::HEADER_LEN + p * 8;
        u64::from_le_bytes(self.map[o..o + 8].try_into().expect("8 bytes"))
    }

    /// Bucket `p`'s records.
    #[inline]
    fn bucket(&self, p: usize) -> &[u8] {
        let (a, b) = (self.table(p) as usize, self.table(p + 1) as usize);
        &self.map[format::BODY_OFFSET + a * self.record..format::BODY_OFFSET + b * self.record]
    }

    /// None: not in the corpus. Some(count): seen, with its count rounded down
    /// to its bucket's lower bound (>= 1).
    pub fn lookup(&self, sha1: &[u8; 20]) -> Option<u32> {
        let bucket = self.bucket(format::prefix_of(sha1));
        let n = bucket.len() / self.record;
        if n == 0 {
            return None;
        }
        let key = format::suffix_of(sha1);
        let k = self.record - 2;
        let head = u64::from_be_bytes(key[..8].try_into().expect("8 bytes"));
        // A record's first 8 bytes are key, but for the 60-bit key of a
        // lookup-only record, whose 8th byte ends in count code.
        let (head_mask, long) = if k >= 8 {
            (u64::MAX, true)
        } else {
            (!0u64 << 4, false)
        };
        let rec = |i: usize| &bucket[i * self.record..(i + 1) * self.record];
        let cmp = |i: usize| -> Ordering {
            let r = rec(i);
            let rh = u64::from_be_bytes(r[..8].try_into().expect("8 bytes")) & head_mask;
            let ord = rh.cmp(&(head & head_mask));
            if !long || ord != Ordering::Equal {
                return ord;
            }
            r[8..k]
                .cmp(&key[8..k])
                .then_with(|| (r[k] & 0xF0).cmp(&(key[k] & 0xF0)))
        };
        // SHA-1s are uniform, so a key's place in its bucket is about its
        // fraction of the key space: start there, gallop out to bracket the key
        // (expected distance ~sqrt(n), a cache line or two), then bisect the
        // bracket. Skewed data only costs the gallop, O(log n) probes.
        let guess = ((head as u128 * n as u128) >> 64) as usize;
        let (mut lo, mut hi); // the key, if present, is in lo..hi
        match cmp(guess) {
            Ordering::Equal => return Some(format::code_count(format::record_code(rec(guess)))),
            Ordering::Less => {
                let mut step = 1;
                lo = guess + 1;
                loop {
                    let probe = guess + step;
                    if probe >= n {
                        hi = n;
                        break;
                    }
                    match cmp(probe) {
                        Ordering::Less => lo = probe + 1,
                        Ordering::Equal => {
                            return Some(format::code_count(format::record_code(rec(probe))))
                        }
                        Ordering::Greater => {
                            hi = probe;
                            break;
                        }
                    }
                    step *= 2;
                }
            }
            Ordering::Greater => {
                let mut step = 1;
                hi = guess;
                loop {
                    if step > guess {
                        lo = 0;
                        break;
                    }
                    let probe = guess - step;
                    match cmp(probe) {
                        Ordering::Greater => hi = probe,
                        Ordering::Equal => {
                            return Some(format::code_count(format::record_code(rec(probe))))
                        }
                        Ordering::Less => {
                            lo = probe + 1;
                            break;
                        }
                    }
                    step *= 2;
                }
            }
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match cmp(mid) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Some(format::code_count(format::record_code(rec(mid)))),
            }
        }
        None
    }

    /// Whether full suffixes are stored (built without --no-range).
    pub fn has_range(&self) -> bool {
        self.header.range()
    }

    /// HIBP range answer for a 20-bit prefix (0..=0xFFFFF): appends
    /// "SUFFIX:COUNT\r\n" lines (35 uppercase hex, count as lookup gives it),
    /// sorted by suffix, and returns how many lines; Err when built with
    /// --no-range.
    pub fn write_range(&self, prefix: u32, out: &mut Vec<u8>) -> Result<usize, PwnedError> {
        if !self.has_range() {
            return Err(PwnedError::NoRange {
                path: self.path.clone(),
            });
        }
        if prefix as usize >= format::BUCKETS {
            return Err(PwnedError::Prefix { prefix });
        }
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let bucket = self.bucket(prefix as usize);
        out.reserve(bucket.len() / self.record * 45);
        let mut num = itoa::Buffer::new();
        for r in bucket.chunks_exact(self.record) {
            for &b in &r[..17] {
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 15) as usize]);
            }
            out.push(HEX[(r[17] >> 4) as usize]);
            out.push(b':');
            out.extend_from_slice(
                num.format(format::code_count(format::record_code(r)))
                    .as_bytes(),
            );
            out.extend_from_slice(b"\r\n");
        }
        Ok(bucket.len() / self.record)
    }

    /// How many hashes share a 20-bit prefix (0 outside 0..=0xFFFFF).
    pub fn bucket_len(&self, prefix: u32) -> u64 {
        let p = prefix as usize;
        if p >= format::BUCKETS {
            return 0;
        }
        self.table(p + 1) - self.table(p)
    }

    /// Bytes per stored hash: 19 with range, 9 without.
    pub fn bytes_per_record(&self) -> usize {
        self.record
    }

    /// Number of hashes.
    pub fn len(&self) -> u64 {
        self.header.count
    }

    pub fn is_empty(&self) -> bool {
        self.header.count == 0
    }

    /// One line for the startup log: path, hash count, with or without range,
    /// size in bytes.
    pub fn describe(&self) -> String {
        format!(
            "breach-corpus index {}: {} hashes, {}, {} bytes",
            self.path.display(),
            self.header.count,
            if self.has_range() {
                "with range"
            } else {
                "lookups only (no range)"
            },
            self.map.len()
        )
    }

    /// Hashes the whole body and compares it with the SHA-1 the builder
    /// stored: seconds per gigabyte, so an offline check, not one for startup.
    pub fn verify(&self) -> Result<(), PwnedError> {
        let mut s = Sha1::new();
        s.update(&self.map[format::BODY_OFFSET..]);
        if s.finalize()[..] != self.header.body_sha1 {
            return Err(PwnedError::Index {
                path: self.path.clone(),
                what: "body checksum mismatch (the records are corrupt)".into(),
            });
        }
        Ok(())
    }
}
