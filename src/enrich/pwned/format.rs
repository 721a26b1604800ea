//! The index file's layout: header, prefix table, records, and the count code.
//! Shared by the reader (`index.rs`) and the writer (`build/`); nothing here
//! does IO.

use sha1::{Digest, Sha1};

/// First eight bytes of every index. PNG-style: a high byte, so a text-mode
/// copy or a UTF-8 file never matches, and a newline, so a newline-mangling
/// copy does not either.
pub const MAGIC: [u8; 8] = *b"\x89PWNIDX\n";
/// The format this build writes and reads. Bump on any change of layout.
pub const VERSION: u32 = 1;
/// Header flag: records hold the full 140-bit suffix (the index can serve /range).
pub const FLAG_RANGE: u32 = 1;
/// Bits of the SHA-1 that select a bucket: the HIBP range prefix (5 hex).
pub const PREFIX_BITS: u32 = 20;
pub const BUCKETS: usize = 1 << PREFIX_BITS;
pub const HEADER_LEN: usize = 64;
/// The prefix table: `BUCKETS + 1` little-endian u64, entry `p` the index of
/// bucket `p`'s first record, the last one the hash count.
pub const TABLE_LEN: usize = (BUCKETS + 1) * 8;
pub const BODY_OFFSET: usize = HEADER_LEN + TABLE_LEN;
/// Record sizes: key bits + 12 bits of count code fill whole bytes.
pub const RANGE_RECORD: usize = 19; // 140-bit suffix + 12-bit count code
pub const LOOKUP_RECORD: usize = 9; // 60-bit truncated suffix + 12-bit count code

/// Header field offsets.
const OFF_VERSION: usize = 8;
const OFF_FLAGS: usize = 12;
const OFF_COUNT: usize = 16;
const OFF_RECORD: usize = 24;
const OFF_PREFIX_BITS: usize = 28;
const OFF_BODY_SHA1: usize = 32;
const OFF_CHECKSUM: usize = 56;

/// The header's fields, as written and as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub version: u32,
    pub flags: u32,
    pub count: u64,
    pub record: u32,
    pub prefix_bits: u32,
    pub body_sha1: [u8; 20],
}

impl Header {
    pub fn range(&self) -> bool {
        self.flags & FLAG_RANGE != 0
    }

    /// The header's 64 bytes, checksum (over these and `table`) included.
    pub fn encode(&self, table: &[u8]) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..8].copy_from_slice(&MAGIC);
        h[OFF_VERSION..OFF_VERSION + 4].copy_from_slice(&self.version.to_le_bytes());
        h[OFF_FLAGS..OFF_FLAGS + 4].copy_from_slice(&self.flags.to_le_bytes());
        h[OFF_COUNT..OFF_COUNT + 8].copy_from_slice(&self.count.to_le_bytes());
        h[OFF_RECORD..OFF_RECORD + 4].copy_from_slice(&self.record.to_le_bytes());
        h[OFF_PREFIX_BITS..OFF_PREFIX_BITS + 4].copy_from_slice(&self.prefix_bits.to_le_bytes());
        h[OFF_BODY_SHA1..OFF_BODY_SHA1 + 20].copy_from_slice(&self.body_sha1);
        let sum = checksum(&h, table);
        h[OFF_CHECKSUM..].copy_from_slice(&sum.to_le_bytes());
        h
    }

    /// The fields of a header whose magic has been checked; no validation.
    pub fn decode(h: &[u8]) -> Header {
        let u32_at = |o: usize| u32::from_le_bytes(h[o..o + 4].try_into().expect("4 bytes"));
        let mut body_sha1 = [0u8; 20];
        body_sha1.copy_from_slice(&h[OFF_BODY_SHA1..OFF_BODY_SHA1 + 20]);
        Header {
            version: u32_at(OFF_VERSION),
            flags: u32_at(OFF_FLAGS),
            count: u64::from_le_bytes(h[OFF_COUNT..OFF_COUNT + 8].try_into().expect("8 bytes")),
            record: u32_at(OFF_RECORD),
            prefix_bits: u32_at(OFF_PREFIX_BITS),
            body_sha1,
        }
    }
}

/// The stored checksum of a header (its bytes before the checksum field) and
/// the prefix table: the first 8 bytes of their SHA-1.
pub fn checksum(header: &[u8], table: &[u8]) -> u64 {
    let mut s = Sha1::new();
    s.update(&header[..OFF_CHECKSUM]);
    s.update(table);
    let d = s.finalize();
    u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
}

pub fn stored_checksum(header: &[u8]) -> u64 {
    u64::from_le_bytes(
        header[OFF_CHECKSUM..HEADER_LEN]
            .try_into()
            .expect("8 bytes"),
    )
}

/// The bucket of a hash: its first 20 bits.
#[inline]
pub fn prefix_of(h: &[u8; 20]) -> usize {
    ((h[0] as usize) << 12) | ((h[1] as usize) << 4) | (h[2] as usize >> 4)
}

/// A hash's bits after the prefix, left-aligned: 17 whole bytes and a high
/// nibble in the 18th. A record's key is the first `record - 2` bytes and the
/// high nibble of the next one, so a record compares with the front of this.
#[inline]
pub fn suffix_of(h: &[u8; 20]) -> [u8; 18] {
    let mut s = [0u8; 18];
    for i in 0..17 {
        s[i] = (h[i + 2] << 4) | (h[i + 3] >> 4);
    }
    s[17] = h[19] << 4;
    s
}

/// Writes `key` (the front of a `suffix_of`) and a count code into a record of
/// `rec.len()` bytes: key bytes, then the key's last nibble over the code's top
/// nibble, then the code's low byte.
#[inline]
pub fn put_record(rec: &mut [u8], suffix: &[u8; 18], code: u16) {
    let k = rec.len() - 2;
    rec[..k].copy_from_slice(&suffix[..k]);
    rec[k] = (suffix[k] & 0xF0) | (code >> 8) as u8;
    rec[k + 1] = code as u8;
}

#[inline]
pub fn record_code(rec: &[u8]) -> u16 {
    let k = rec.len() - 2;
    (((rec[k] & 0x0F) as u16) << 8) | rec[k + 1] as u16
}

/// Counts in 12 bits, rounded down to a bucket's lower bound. Exact below 2048
/// (every count in the HIBP range example, and most of the corpus: the median
/// HIBP count is 1–2); above, 64 buckets per power of two (6 bits after the
/// leading one), so a stored count is at most 1/64 (1.6%) under the true one,
/// up to u32::MAX. That keeps the prevalence order of any two counts that
/// differ by more than 1.6%, which is all a risk score needs. Code 0 is never
/// written: every stored hash was seen at least once.
pub const EXACT_BELOW: u32 = 2048;
const MANTISSA_BITS: u32 = 6;

pub fn count_code(count: u32) -> u16 {
    let count = count.max(1);
    if count < EXACT_BELOW {
        return count as u16;
    }
    let k = 31 - count.leading_zeros(); // 11..=31
    let m = (count >> (k - MANTISSA_BITS)) & ((1 << MANTISSA_BITS) - 1);
    (EXACT_BELOW + ((k - 11) << MANTISSA_BITS) + m) as u16
}

pub fn code_count(code: u16) -> u32 {
    let c = code as u32;
    if c < EXACT_BELOW {
        return c.max(1);
    }
    let k = 11 + ((c - EXACT_BELOW) >> MANTISSA_BITS);
    let m = (c - EXACT_BELOW) & ((1 << MANTISSA_BITS) - 1);
    // Codes past the last used one (k > 31) only come from corrupt records.
    if k > 31 {
        return u32::MAX;
    }
    ((1 << MANTISSA_BITS) | m) << (k - MANTISSA_BITS)
}

/// A count as stored and read back: the lower bound of its bucket.
pub fn bucketed(count: u32) -> u32 {
    code_count(count_code(count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn count_buckets_are_monotone_and_round_down_by_under_two_percent() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut samples: Vec<u32> = (1..5000).collect();
        samples.extend((0..200_000).map(|_| rng.random_range(1..=u32::MAX)));
        samples.extend([u32::MAX, u32::MAX - 1, 1 << 31, (1 << 31) - 1]);
        samples.sort_unstable();
        let mut last = (0u32, 0u16);
        for &c in &samples {
            let code = count_code(c);
            let back = code_count(code);
            assert!(code < 4096, "{c} coded as {code}");
            assert!(back <= c, "{c} read back as {back}");
            assert!(back >= 1);
            assert!(
                (c - back) as f64 <= c as f64 / 64.0,
                "{c} read back as {back}"
            );
            assert!(code >= last.1 && back >= last.0, "not monotone at {c}");
            assert_eq!(bucketed(back), back, "a bucket's bound is its own bucket");
            if c < EXACT_BELOW {
                assert_eq!(back, c);
            }
            last = (back, code);
        }
    }

    #[test]
    fn a_record_keeps_its_key_and_code_apart() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
        for len in [RANGE_RECORD, LOOKUP_RECORD] {
            for _ in 0..1000 {
                let h: [u8; 20] = rng.random();
                let code = rng.random_range(1..4096u16);
                let s = suffix_of(&h);
                let mut rec = vec![0u8; len];
                put_record(&mut rec, &s, code);
                assert_eq!(record_code(&rec), code);
                assert_eq!(&rec[..len - 2], &s[..len - 2]);
                assert_eq!(rec[len - 2] & 0xF0, s[len - 2] & 0xF0);
            }
        }
    }

    #[test]
    fn the_header_round_trips_and_its_checksum_sees_the_table() {
        let h = Header {
            version: VERSION,
            flags: FLAG_RANGE,
            count: 12345,
            record: RANGE_RECORD as u32,
            prefix_bits: PREFIX_BITS,
            body_sha1: [7; 20],
        };
        let table = vec![3u8; 100];
        let bytes = h.encode(&table);
        assert_eq!(&bytes[..8], &MAGIC);
        assert_eq!(Header::decode(&bytes), h);
        assert_eq!(stored_checksum(&bytes), checksum(&bytes, &table));
        let mut other = table.clone();
        other[50] ^= 1;
        assert_ne!(stored_checksum(&bytes), checksum(&bytes, &other));
    }
}
