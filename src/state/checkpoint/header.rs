//! A checkpoint file's header: written last, over a blank of its length,
//! and checked whole (magic, version, CRC) before the body is believed.

use super::*;

pub(super) const MAGIC: &[u8; 8] = b"PALISCKP";

/// The fixed part of the header, before the two version strings.
pub(super) const FIXED: usize = 56;

pub(super) const MAX_HEADER: usize = 1 << 16;

/// What a checkpoint's header says of the engine that wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// Fingerprint of the hash key (never the key).
    pub key_fingerprint: u64,
    /// The keyed hash of a fixed account: another hash function shows.
    pub hash_probe: u64,
    pub rules_version: String,
    pub model_version: String,
}

/// A checkpoint file's header, read and checked.
pub struct Header {
    /// The format version the body was written in.
    pub version: u32,
    pub(super) len: usize,
    /// The log position it was taken at.
    pub position: u64,
    pub stamp: Stamp,
    pub(super) body_len: u64,
    pub(super) body_crc: u32,
}

pub(super) fn header_bytes(h: &Header) -> Vec<u8> {
    let st = &h.stamp;
    let mut b = Vec::with_capacity(FIXED + st.rules_version.len() + st.model_version.len() + 4);
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&h.version.to_le_bytes());
    b.extend_from_slice(&[0; 8]); // length and CRC, below
    b.extend_from_slice(&h.position.to_le_bytes());
    b.extend_from_slice(&st.key_fingerprint.to_le_bytes());
    b.extend_from_slice(&st.hash_probe.to_le_bytes());
    b.extend_from_slice(&h.body_len.to_le_bytes());
    b.extend_from_slice(&h.body_crc.to_le_bytes());
    for s in [&st.rules_version, &st.model_version] {
        let s = &s.as_bytes()[..s.len().min(4096)];
        b.extend_from_slice(&(s.len() as u16).to_le_bytes());
        b.extend_from_slice(s);
    }
    let len = b.len() as u32;
    b[12..16].copy_from_slice(&len.to_le_bytes());
    let crc = crc32fast::hash(&b);
    b[16..20].copy_from_slice(&crc.to_le_bytes());
    b
}

/// Why a file is not a whole checkpoint: it is skipped.
pub struct Corrupt(pub String);

/// Reads and checks a header; `Ok(Err(..))` for a corrupt one.
pub(super) fn read_header(
    f: &mut impl Read,
    path: &Path,
) -> Result<Result<Header, Corrupt>, CheckpointError> {
    let io = |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bad = |why: String| Ok(Err(Corrupt(why)));
    let mut fixed = [0u8; 20];
    if let Err(e) = f.read_exact(&mut fixed) {
        return match e.kind() {
            io::ErrorKind::UnexpectedEof => bad("shorter than a header".into()),
            _ => Err(io(e)),
        };
    }
    if &fixed[..8] != MAGIC {
        return bad("wrong magic bytes: not a Palisade checkpoint".into());
    }
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |b: &[u8], i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    let version = u32_at(&fixed, 8);
    let len = u32_at(&fixed, 12) as usize;
    if !(20..=MAX_HEADER).contains(&len) {
        return bad(format!("header length {len} is impossible"));
    }
    let mut b = fixed.to_vec();
    b.resize(len, 0);
    if let Err(e) = f.read_exact(&mut b[20..]) {
        return match e.kind() {
            io::ErrorKind::UnexpectedEof => bad("truncated in its header".into()),
            _ => Err(io(e)),
        };
    }
    let crc = u32_at(&b, 16);
    b[16..20].fill(0);
    if crc32fast::hash(&b) != crc {
        return bad("header checksum mismatch".into());
    }
    if version > FORMAT_VERSION {
        return Err(CheckpointError::FutureVersion {
            path: path.to_path_buf(),
            version,
        });
    }
    if version == 0 || len < FIXED + 4 {
        return bad(format!("format version {version} with a {len}-byte header"));
    }
    let mut at = FIXED;
    let mut text = || -> Option<String> {
        let n = u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?) as usize;
        let s = std::str::from_utf8(b.get(at + 2..at + 2 + n)?).ok()?;
        at += 2 + n;
        Some(s.to_string())
    };
    let (Some(rules_version), Some(model_version)) = (text(), text()) else {
        return bad("header versions do not fit the header".into());
    };
    Ok(Ok(Header {
        version,
        len,
        position: u64_at(&b, 20),
        stamp: Stamp {
            key_fingerprint: u64_at(&b, 28),
            hash_probe: u64_at(&b, 36),
            rules_version,
            model_version,
        },
        body_len: u64_at(&b, 44),
        body_crc: u32_at(&b, 52),
    }))
}
