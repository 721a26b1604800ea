//! `pwned_index`: a breach-corpus index opened, looked up and ranged.

use super::{mode, scratch, Bytes};

mod pwned_format {
    //! The index layout of `src/enrich/pwned/format.rs` (public there too;
    //! restated so a change of it shows here as a failing seed).
    pub const MAGIC: [u8; 8] = *b"\x89PWNIDX\n";
    pub const HEADER_LEN: usize = 64;
    pub const BUCKETS: usize = 1 << 20;
    pub const TABLE_LEN: usize = (BUCKETS + 1) * 8;
    pub const RANGE_RECORD: usize = 19;
    pub const LOOKUP_RECORD: usize = 9;
}

/// The SHA-1 whose bucket is `prefix` and whose bits after it are `key`'s
/// (a record's key: its bytes but the last, whose high nibble it keeps);
/// bits a short key lacks are zero. The inverse of `format::suffix_of`.
fn hash_of(prefix: usize, key: &[u8]) -> [u8; 20] {
    let mut s = [0u8; 18];
    s[..key.len()].copy_from_slice(key);
    let mut h = [0u8; 20];
    h[0] = (prefix >> 12) as u8;
    h[1] = (prefix >> 4) as u8;
    h[2] = ((prefix as u8 & 0x0f) << 4) | (s[0] >> 4);
    for i in 0..16 {
        h[i + 3] = (s[i] << 4) | (s[i + 1] >> 4);
    }
    h[19] = (s[16] << 4) | (s[17] >> 4);
    h
}

/// Bytes as a breach-corpus index (`src/enrich/pwned/{index,format}.rs`):
/// opened, and when it opens, looked up and ranged. Verbatim: the bytes are
/// the file (shorter than the 8 MB prefix table, so only the checks before
/// it run). Built: a flags byte; 16 bytes of raw header words (version,
/// flags, record size, prefix bits) and 8 of hash count, used only when
/// flags ask; a bucket count byte, then per bucket 3 bytes of prefix and a
/// record count byte; then the records' bytes (zero-padded or cut to fit).
/// The header's checksum and body SHA-1 are made right unless flags say.
/// Flags: 1, with range (19-byte records, else 9); 2, a wrong header
/// checksum; 4, the raw hash count; 8, a table that does not rise; 16,
/// records left as given (else sorted and without repeats in each bucket,
/// as the builder writes them); 32, a wrong body SHA-1; 64, the raw header
/// words. Oracle for a sorted index that opens: every record's hash looks
/// up to the record's count, each bucket's range has its record count of
/// lines, and `verify` agrees with the body SHA-1 flag.
pub fn pwned_index(data: &[u8]) {
    use palisade::enrich::pwned::PwnedIndex;
    use pwned_format::*;
    use sha1::Digest;
    let Some((verbatim, rest)) = mode(data) else {
        return;
    };
    let dir = scratch();
    let path = dir.path().join("corpus.idx");
    if verbatim {
        std::fs::write(&path, rest).expect("an index");
        if let Ok(index) = PwnedIndex::open(&path) {
            let _ = index.lookup(&[0; 20]);
            let _ = index.verify();
        }
        return;
    }
    let mut b = Bytes(rest);
    let flags = b.u8();
    let raw_words = b.take(16).to_vec();
    let raw_count = b.take(8).to_vec();
    let range = flags & 1 != 0;
    let record = if range { RANGE_RECORD } else { LOOKUP_RECORD };
    let mut buckets: Vec<(usize, usize)> = (0..b.u8())
        .map(|_| {
            let p = u32::from_le_bytes([b.u8(), b.u8(), b.u8(), 0]) as usize & (BUCKETS - 1);
            (p, usize::from(b.u8()))
        })
        .collect();
    buckets.sort_unstable();
    buckets.dedup_by_key(|(p, _)| *p);
    let mut body = b.rest().to_vec();
    let total: usize = buckets.iter().map(|(_, n)| n).sum();
    body.resize(total * record, 0);
    let sorted = flags & 16 == 0;
    // Each bucket's records, as the file holds them.
    let mut at = 0;
    let mut counts: Vec<(usize, u64)> = Vec::with_capacity(buckets.len());
    let mut records: Vec<(usize, Vec<u8>)> = Vec::new();
    for &(p, n) in &buckets {
        let mut recs: Vec<&[u8]> = body[at * record..(at + n) * record]
            .chunks_exact(record)
            .collect();
        at += n;
        if sorted {
            // The key is the record but the count code's 12 bits.
            let key = |r: &[u8]| {
                let mut k = r.to_vec();
                k[record - 2] &= 0xf0;
                k[record - 1] = 0;
                k
            };
            recs.sort_by_key(|r| key(r));
            recs.dedup_by_key(|r| key(r));
        }
        counts.push((p, recs.len() as u64));
        records.extend(recs.into_iter().map(|r| (p, r.to_vec())));
    }
    // The prefix table: entry p the index of bucket p's first record, the
    // last the hash count; filled a run at a time, as it is zero before the
    // first bucket and constant between buckets.
    let mut table = vec![0u8; TABLE_LEN];
    let fill = |table: &mut [u8], from: usize, to: usize, v: u64| {
        if v != 0 {
            for c in table[from * 8..to * 8].chunks_exact_mut(8) {
                c.copy_from_slice(&v.to_le_bytes());
            }
        }
    };
    let mut sum = 0u64;
    let mut next = 0;
    for &(p, n) in &counts {
        fill(&mut table, next, p, sum);
        let entry = if flags & 8 != 0 && n > 0 {
            sum + n + 1
        } else {
            sum
        };
        table[p * 8..p * 8 + 8].copy_from_slice(&entry.to_le_bytes());
        sum += n;
        next = p + 1;
    }
    fill(&mut table, next, BUCKETS + 1, sum);
    let records_bytes: Vec<u8> = records.iter().flat_map(|(_, r)| r.clone()).collect();
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(&MAGIC);
    if flags & 64 != 0 {
        header[8..16].copy_from_slice(&pad(&raw_words, 16)[..8]);
    } else {
        header[8..12].copy_from_slice(&1u32.to_le_bytes());
        header[12..16].copy_from_slice(&u32::from(range).to_le_bytes());
    }
    let count = if flags & 4 != 0 {
        u64::from_le_bytes(pad(&raw_count, 8).try_into().expect("8 bytes"))
    } else {
        sum
    };
    header[16..24].copy_from_slice(&count.to_le_bytes());
    if flags & 64 != 0 {
        header[24..32].copy_from_slice(&pad(&raw_words, 16)[8..]);
    } else {
        header[24..28].copy_from_slice(&(record as u32).to_le_bytes());
        header[28..32].copy_from_slice(&20u32.to_le_bytes());
    }
    let body_sha1 = sha1::Sha1::digest(&records_bytes);
    header[32..52].copy_from_slice(&body_sha1);
    if flags & 32 != 0 {
        header[32] ^= 1;
    }
    let mut s = sha1::Sha1::new();
    s.update(&header[..56]);
    s.update(&table);
    let sum8 = u64::from_le_bytes(s.finalize()[..8].try_into().expect("8 bytes"));
    header[56..].copy_from_slice(&(sum8 ^ u64::from(flags & 2 != 0)).to_le_bytes());
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&path).expect("an index");
        for part in [&header[..], &table, &records_bytes] {
            f.write_all(part).expect("an index");
        }
    }
    drop(table);
    let Ok(index) = PwnedIndex::open(&path) else {
        return;
    };
    let mut out = Vec::new();
    for &(p, n) in &counts {
        out.clear();
        let lines = index.write_range(p as u32, &mut out);
        if let Ok(lines) = lines {
            assert_eq!(lines as u64, n, "range {p:05X}: lines");
            assert_eq!(
                out.len(),
                lines * (35 + 1 + 2) + digits(&out),
                "range {p:05X}"
            );
        }
        assert_eq!(index.bucket_len(p as u32), n, "bucket {p:05X}");
    }
    for prefix in [0, BUCKETS as u32 - 1, BUCKETS as u32, u32::MAX] {
        out.clear();
        let _ = index.write_range(prefix, &mut out);
    }
    for (p, r) in records.iter().take(256) {
        let h = hash_of(*p, &r[..record - 1]);
        let found = index.lookup(&h);
        if sorted {
            let code = (u16::from(r[record - 2] & 0x0f) << 8) | u16::from(r[record - 1]);
            assert_eq!(
                found,
                Some(code_count(code)),
                "the record {r:02x?} in {p:05X}"
            );
        }
    }
    let _ = index.lookup(&[0; 20]);
    let _ = index.lookup(&[0xff; 20]);
    assert_eq!(index.verify().is_ok(), flags & 32 == 0, "verify");
}

/// The bytes of `v` padded with zeros (or cut) to `n`.
fn pad(v: &[u8], n: usize) -> Vec<u8> {
    let mut v = v.to_vec();
    v.resize(n, 0);
    v
}

/// The count digits in a range answer: its length less the fixed part of
/// each line.
fn digits(out: &[u8]) -> usize {
    out.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| l.iter().skip(36).take_while(|b| b.is_ascii_digit()).count())
        .sum()
}

/// `format::code_count`, restated: what a stored count code reads back as.
fn code_count(code: u16) -> u32 {
    let c = u32::from(code);
    if c < 2048 {
        return c.max(1);
    }
    let k = 11 + ((c - 2048) >> 6);
    let m = (c - 2048) & 63;
    if k > 31 {
        return u32::MAX;
    }
    ((1 << 6) | m) << (k - 6)
}
