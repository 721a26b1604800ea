//! Telling a torn tail from damage, and repairing damage without moving any
//! record. A crash can only cut the last record of the last segment short:
//! nothing readable follows it. Anything else that does not read (a flipped
//! byte, a truncated or deleted segment, a deleted folder) lies inside what
//! was acknowledged, and readable records may follow it; startup stops there
//! rather than cut them off. A repair moves the damaged segment aside (it is
//! never deleted) and puts in its place a copy whose unreadable spans are
//! padding records of the same length, so every readable record keeps its
//! position, and with it every checkpoint's.

use super::{
    io, segments, sync_dir, JournalError, HEADER, KIND_EVENT, KIND_FEEDBACK, KIND_PADDING,
    MAX_RECORD,
};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What a segment's bytes hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Found {
    /// Whole records to the end.
    Clean,
    /// Whole records up to `at`, then a partial one and nothing readable.
    Torn { at: u64 },
    /// A record at `at` does not read, and a readable one follows it.
    Damaged { at: u64 },
}

/// The length of the whole record at `at`, if one reads there: its length
/// is plausible, its checksum holds and its kind is known.
fn record_at(bytes: &[u8], at: usize) -> Option<usize> {
    let head = bytes.get(at..at + HEADER)?;
    let len = u32::from_le_bytes(head[..4].try_into().ok()?);
    let crc = u32::from_le_bytes(head[4..].try_into().ok()?);
    if len == 0 || len > MAX_RECORD {
        return None;
    }
    let body = bytes.get(at + HEADER..at + HEADER + len as usize)?;
    if !matches!(body[0], KIND_EVENT | KIND_FEEDBACK | KIND_PADDING) {
        return None;
    }
    (crc32fast::hash(body) == crc).then_some(HEADER + len as usize)
}

/// Where the next readable record starts, at or after `from`. The kind and
/// the first payload byte are checked before the checksum, so a scan over
/// damage costs little.
fn next_record(bytes: &[u8], from: usize) -> Option<usize> {
    (from..bytes.len().saturating_sub(HEADER)).find(|&at| {
        let kind = bytes[at + HEADER];
        let plausible = match kind {
            KIND_EVENT | KIND_FEEDBACK => bytes.get(at + HEADER + 1) == Some(&b'{'),
            KIND_PADDING => true,
            _ => false,
        };
        plausible && record_at(bytes, at).is_some()
    })
}

/// Reads a segment's bytes through.
pub(super) fn check(bytes: &[u8]) -> Found {
    let mut at = 0;
    while at < bytes.len() {
        match record_at(bytes, at) {
            Some(n) => at += n,
            None => {
                return match next_record(bytes, at + 1) {
                    Some(_) => Found::Damaged { at: at as u64 },
                    None => Found::Torn { at: at as u64 },
                }
            }
        }
    }
    Found::Clean
}

/// A padding record of exactly `n` bytes (at least `HEADER + 1`).
pub(super) fn padding(n: usize) -> Vec<u8> {
    debug_assert!(n > HEADER);
    let mut out = vec![0u8; n];
    out[HEADER] = KIND_PADDING;
    let crc = crc32fast::hash(&out[HEADER..]);
    out[..4].copy_from_slice(&((n - HEADER) as u32).to_le_bytes());
    out[4..HEADER].copy_from_slice(&crc.to_le_bytes());
    out
}

/// Padding records filling exactly `n` bytes (none for 0; `n` must be 0 or
/// more than `HEADER`), none longer than a record may be.
pub(super) fn padding_of(mut n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    let most = HEADER + MAX_RECORD as usize;
    while n > 0 {
        // Leave no remainder too short for a record of its own.
        let take = if n > most {
            (n - (HEADER + 1)).min(most)
        } else {
            n
        };
        out.extend_from_slice(&padding(take));
        n -= take;
    }
    out
}

/// What a repair did to one segment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Repaired {
    /// Unreadable spans blanked.
    pub spans: usize,
    /// Bytes blanked (the records in them are lost).
    pub bytes: u64,
    /// Records kept.
    pub records: usize,
}

/// The segment with every unreadable span blanked by padding of its length.
/// With `length`, the result is exactly that long (a segment followed by
/// another must reach the next one's first position): a missing end is
/// padded; otherwise a torn tail is cut. `Err` (how many bytes) when the
/// gap to fill is shorter than any record and no record before it can take
/// it in: those positions cannot be made readable.
pub(super) fn repaired(bytes: &[u8], length: Option<usize>) -> Result<(Vec<u8>, Repaired), usize> {
    let mut out = Vec::with_capacity(length.unwrap_or(bytes.len()));
    let mut done = Repaired::default();
    let mut at = 0;
    while at < bytes.len() {
        if let Some(n) = record_at(bytes, at) {
            out.extend_from_slice(&bytes[at..at + n]);
            done.records += 1;
            at += n;
            continue;
        }
        // A span shorter than a padding record ends at the next record
        // after one could fit.
        let Some(next) = next_record(bytes, at + HEADER + 1) else {
            break; // nothing readable after: a tail
        };
        out.extend_from_slice(&padding(next - at));
        done.spans += 1;
        done.bytes += (next - at) as u64;
        at = next;
    }
    if let Some(want) = length {
        let mut missing = want.saturating_sub(out.len());
        if (1..=HEADER).contains(&missing) {
            // Too short for padding: the last record goes into it.
            let mut last = 0;
            let mut p = 0;
            while p < out.len() {
                last = p;
                p += record_at(&out, p).unwrap_or(out.len() - p);
            }
            missing += out.len() - last;
            out.truncate(last);
            done.records = done.records.saturating_sub(1);
            // No record to take it in (found by fuzzing: an empty segment
            // 4 bytes before the next one panicked in `padding`).
            if (1..=HEADER).contains(&missing) {
                return Err(missing);
            }
        }
        if missing > 0 {
            done.spans += 1;
            done.bytes += missing as u64;
            out.extend_from_slice(&padding_of(missing));
        }
    }
    Ok((out, done))
}

/// Reads through the segments that hold positions from `floor` on, before
/// the journal opens. The last segment's torn tail is cut. Damage (a record
/// that does not read with readable ones after it, a segment that ends
/// before the next begins because it was truncated or the one after it
/// deleted, a journal that ends before `floor`) is an error unless
/// `repair`; with it, each damaged segment is moved aside and a repaired
/// copy, padded to where the next begins, takes its place. Returns where the journal ends (never below
/// `floor` once repaired) and what was done, in words.
pub(super) fn prepare(
    dir: &Path,
    floor: u64,
    repair: bool,
) -> Result<(u64, Vec<String>), JournalError> {
    let segs = segments(dir)?;
    let mut notes = Vec::new();
    let mut end: Option<u64> = None;
    for (i, seg) in segs.iter().enumerate() {
        let next = segs.get(i + 1).map(|s| s.base);
        if next.is_some_and(|n| n <= floor) {
            // Wholly before the checkpoint: not read again.
            end = next;
            continue;
        }
        let bytes = std::fs::read(&seg.path).map_err(io(&seg.path))?;
        let want = next.map(|n| (n - seg.base) as usize);
        let problem = match repair_found(check(&bytes), next.is_none()) {
            Ok(Some(at)) => {
                // A torn tail: never acknowledged.
                notes.push(format!(
                    "journal {}: a record cut short at position {} (a write cut off by a crash, never acknowledged); cut off there",
                    seg.path.display(),
                    seg.base + at
                ));
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&seg.path)
                    .map_err(io(&seg.path))?;
                f.set_len(at).map_err(io(&seg.path))?;
                f.sync_all().map_err(io(&seg.path))?;
                end = Some(seg.base + at);
                continue;
            }
            Ok(None) if want.is_some_and(|w| w != bytes.len()) => Some((
                seg.base + bytes.len() as u64,
                format!(
                    "positions {} to {} are missing: a truncated or deleted segment",
                    seg.base + bytes.len() as u64,
                    next.unwrap_or(0)
                ),
            )),
            Ok(None) => None,
            Err(at) => Some((
                seg.base + at,
                "a record that does not read, with readable records after it".to_string(),
            )),
        };
        end = Some(seg.base + bytes.len() as u64);
        let Some((position, what)) = problem else {
            continue;
        };
        damaged(&seg.path, position, &what, repair)?;
        // Worked out before the segment is moved aside, so a refusal
        // leaves the folder as it was.
        let (fixed, done) = repaired(&bytes, want).map_err(|gap| JournalError::Corrupt {
            path: seg.path.clone(),
            position: seg.base,
            message: format!(
                "{what}; it cannot be repaired: {gap} bytes up to the next segment, too few for \
                 a record, and no record before them in this segment to take them in"
            ),
        })?;
        let aside = set_aside(&seg.path)?;
        write_private(&seg.path, &fixed)?;
        sync_dir(dir);
        end = Some(seg.base + fixed.len() as u64);
        notes.push(format!(
            "journal {}: repaired damage at position {position} ({what}): {} bytes in {} spans blanked, {} records kept; the damaged segment is kept as {}",
            seg.path.display(),
            done.bytes,
            done.spans,
            done.records,
            aside.display()
        ));
    }
    let end = end.unwrap_or(0);
    if end < floor {
        let what = format!(
            "the journal ends at position {end}, before the newest checkpoint's {floor}: a truncated or deleted segment or folder"
        );
        damaged(dir, end, &what, repair)?;
        notes.push(format!(
            "journal {}: {what}; the events acknowledged after the checkpoint are lost, and the journal goes on from {floor}",
            dir.display()
        ));
    }
    Ok((end.max(floor), notes))
}

/// What a read-through found, for [`prepare`]: `Ok(Some(at))` a torn tail
/// to cut, `Ok(None)` whole records, `Err(at)` damage.
fn repair_found(found: Found, last: bool) -> Result<Option<u64>, u64> {
    match found {
        Found::Clean => Ok(None),
        Found::Torn { at } if last => Ok(Some(at)),
        Found::Torn { at } | Found::Damaged { at } => Err(at),
    }
}

/// The error for damage, unless a repair was asked for.
fn damaged(path: &Path, position: u64, what: &str, repair: bool) -> Result<(), JournalError> {
    if repair {
        return Ok(());
    }
    Err(JournalError::Damaged {
        path: path.to_path_buf(),
        position,
        what: what.to_string(),
    })
}

/// Renames a damaged segment to `<name>.damaged-<unix seconds>`.
fn set_aside(path: &Path) -> Result<PathBuf, JournalError> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".damaged-{secs}"));
    let aside = path.with_file_name(name);
    std::fs::rename(path, &aside).map_err(io(path))?;
    Ok(aside)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), JournalError> {
    let mut f = crate::state::create_private(path).map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut body = vec![kind];
        body.extend_from_slice(payload);
        let mut out = (body.len() as u32).to_le_bytes().to_vec();
        out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    fn segment(n: usize) -> (Vec<u8>, Vec<usize>) {
        let mut bytes = Vec::new();
        let mut starts = Vec::new();
        for i in 0..n {
            starts.push(bytes.len());
            bytes.extend(record(
                KIND_EVENT,
                format!(r#"{{"event_id":"e{i}"}}"#).as_bytes(),
            ));
        }
        (bytes, starts)
    }

    #[test]
    fn a_cut_tail_is_torn_and_a_flipped_byte_with_records_after_is_damage() {
        let (bytes, starts) = segment(40);
        assert_eq!(check(&bytes), Found::Clean);
        assert_eq!(
            check(&bytes[..bytes.len() - 5]),
            Found::Torn {
                at: starts[39] as u64
            }
        );
        let mut flipped = bytes.clone();
        flipped[starts[10] + 12] ^= 0x20;
        assert_eq!(
            check(&flipped),
            Found::Damaged {
                at: starts[10] as u64
            }
        );
    }

    #[test]
    fn a_repair_blanks_the_damage_and_keeps_every_other_record_where_it_was() {
        let (bytes, starts) = segment(40);
        let mut flipped = bytes.clone();
        flipped[starts[10] + 12] ^= 0x20;
        flipped[starts[30]] ^= 0xff; // a length
        let (fixed, done) = repaired(&flipped, None).unwrap();
        assert_eq!(fixed.len(), bytes.len());
        assert_eq!(check(&fixed), Found::Clean);
        assert_eq!((done.spans, done.records), (2, 38));
        for (i, &s) in starts.iter().enumerate() {
            if i != 10 && i != 30 {
                let n = record_at(&bytes, s).unwrap();
                assert_eq!(fixed[s..s + n], bytes[s..s + n], "record {i} in place");
            }
        }
    }

    #[test]
    fn a_segment_cut_short_before_another_is_padded_to_its_length() {
        let (bytes, starts) = segment(10);
        for cut in [starts[6] + 3, starts[6], 0] {
            let (fixed, _) = repaired(&bytes[..cut], Some(bytes.len())).unwrap();
            assert_eq!(fixed.len(), bytes.len(), "cut at {cut}");
            assert_eq!(check(&fixed), Found::Clean);
            // The whole records before the cut are kept as they were.
            let whole = starts
                .iter()
                .map(|&s| s + record_at(&bytes, s).unwrap())
                .filter(|&end| end <= cut)
                .max()
                .unwrap_or(0);
            assert_eq!(fixed[..whole], bytes[..whole], "cut at {cut}");
        }
        // Far longer than one record may be: several padding records.
        let big = padding_of(2 * (HEADER + MAX_RECORD as usize) + 3);
        assert_eq!(big.len(), 2 * (HEADER + MAX_RECORD as usize) + 3);
        assert_eq!(check(&big), Found::Clean);
    }
}
