//! Compromised credentials: a breach-corpus index (Have I Been Pwned's
//! Pwned Passwords, or any password list) answering "was this SHA-1 seen, and
//! how often" in well under a microsecond, and serving HIBP's `/range` answers.
//!
//! # The file
//!
//! One file, mapped with mmap, little-endian:
//!
//! | bytes | what |
//! |---|---|
//! | 0..8 | magic `\x89PWNIDX\n` |
//! | 8..12 | format version (1) |
//! | 12..16 | flags: bit 0 set when full suffixes are stored (`/range` can be served) |
//! | 16..24 | hash count *n* |
//! | 24..28 | record size in bytes (19 with range, 9 without) |
//! | 28..32 | prefix bits (20) |
//! | 32..52 | SHA-1 of the body (records) |
//! | 56..64 | first 8 bytes of the SHA-1 of bytes 0..56 and the prefix table |
//! | 64..64+8·(2²⁰+1) | prefix table: for each 20-bit prefix, the index of its first record; the last entry is *n* |
//! | then | *n* records, sorted by hash |
//!
//! **Why this shape.** A SHA-1's first 20 bits are HIBP's range prefix (5 hex),
//! so bucket *p* is exactly the `/range/p` answer, stored contiguously and in
//! order: a range response is one sequential read. The table costs 8 MiB, 0.08
//! bytes per hash at 100M hashes, and saves storing those 20 bits in every
//! record. SHA-1s are uniform, so a hash's position inside its bucket is
//! predicted by its next 64 bits (interpolation); lookup starts there and
//! gallops out, touching one or two cache lines of the bucket besides the table
//! entry, with O(log n) worst case for skewed input. No hash table: it would
//! need spare slots (more bytes per hash) and could not serve sorted ranges.
//!
//! **Records.** With range (19 bytes): the 140 bits after the prefix (the 35
//! hex of a range line; 17.5 bytes) then a 12-bit count code, 19.0 bytes per
//! hash plus the table. Without range (`--no-range`, 9 bytes): the next 60
//! bits then the count code, 9.08 bytes per hash at 100M hashes with the
//! table (10 would not fit the table under 10 bytes per hash). That index
//! answers lookups only; two hashes agreeing in their first 80 bits (20 + 60)
//! are one record, so a lookup of a hash never seen answers "seen" with
//! probability about n/2⁸⁰ (3.3·10⁻¹⁶ at n = 400M, 1.7·10⁻¹⁵ at the full ~2
//! billion of HIBP): false positives are possible in principle and not
//! expected in practice; false negatives are impossible.
//!
//! **Counts** are coded in 12 bits, exact below 2048, then 64 logarithmic
//! buckets per power of two (see [`format::count_code`]): a stored count is
//! the lower bound of its bucket, at most 1.6% under the true count, and at
//! least 1. Counts of duplicate hashes in the input add up (saturating at
//! u32::MAX).
//!
//! **Checks at open.** The header and prefix table (8 MiB, ~10 ms to hash) are
//! checksummed at every open; the file's size must be exactly what the count
//! says (so a truncated copy is refused); the table must rise to the count. The
//! body (19 GB for all of HIBP) is *not* hashed at open: that would take a
//! minute at every start. Its SHA-1 is in the header for an offline check
//! ([`PwnedIndex::verify`]). A flipped bit in the body can misanswer for that
//! one hash or its neighbours, never read out of bounds: every access is
//! within the bucket the checked table gives.

mod build;
pub mod format;
mod index;

pub use build::{build, BuildOptions, BuildSummary, InputFormat};
pub use index::PwnedIndex;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum PwnedError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An index file that cannot be used: truncated, foreign, corrupt, newer.
    #[error("breach-corpus index {}: {what}", path.display())]
    Index { path: PathBuf, what: String },
    #[error("breach-corpus index {} was built with --no-range: it answers lookups, not range queries", path.display())]
    NoRange { path: PathBuf },
    #[error("range prefix {prefix:#X} is out of range (0 to 0xFFFFF)")]
    Prefix { prefix: u32 },
    /// Input that cannot be read as the format asked for.
    #[error("{}: {what}", path.display())]
    Input { path: PathBuf, what: String },
    #[error("{}: no hashes found (an index of nothing is refused)", path.display())]
    Empty { path: PathBuf },
    #[error("{}: more than {max} malformed lines (the --max-malformed ceiling), stopped at line {line}", path.display())]
    TooManyMalformed { path: PathBuf, line: u64, max: u64 },
}

impl PwnedError {
    /// Bad input or a bad index file (exit code 64), as opposed to failing IO.
    pub fn is_input_error(&self) -> bool {
        !matches!(self, PwnedError::Io { .. })
    }
}

#[cfg(test)]
mod tests;
