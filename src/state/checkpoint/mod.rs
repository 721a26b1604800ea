//! Checkpoint files: the format, below the engine. A checkpoint holds the
//! engine's state, the history and the recent event ids as they stood after
//! the log up to a position, so a restart restores them and replays only the
//! log after that position (DESIGN.md, principle 3). This module writes and
//! reads the files (header, checksums, atomic replacement, which to keep)
//! and the history's and recent ids' sections; what the engine writes into a
//! body, and the checks against a running engine, are `node::checkpoint`'s.
//! What configuration gives (rules, model, lists, GeoIP, keys) is not in a
//! checkpoint: it is restored into an engine built from the running
//! configuration.
//!
//! A file is `checkpoint-<position:020>.ckpt`: a header, then a body of
//! postcard messages. Postcard, not bincode: its wire format is specified and
//! stable within 1.x, it is actively kept, it writes integers as varints
//! (most of a profile is small numbers), and it reads and writes through
//! `std::io` one message at a time, so neither direction holds the body in
//! memory. Header, little-endian; the first 20 bytes keep their place in every
//! format version:
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | magic `PALISCKP` |
//! | 8..12 | format version, u32 |
//! | 12..16 | header length in bytes, u32 |
//! | 16..20 | CRC-32 of the header with these 4 bytes zero |
//! | 20..28 | log position, u64 |
//! | 28..36 | hash key fingerprint (SHA-1 of a label and the key, 8 bytes) |
//! | 36..44 | hash probe (the keyed hash of a fixed account) |
//! | 44..52 | body length, u64 |
//! | 52..56 | CRC-32 of the body |
//! | 56.. | rules version, model version: each a u16 length and UTF-8 |
//!
//! The body is checked whole before any of it is read, so a torn or flipped
//! file is skipped, never half-restored. Format 2 adds the failure sources,
//! offenders and learnt typo rate (`engine::evidence`) after the fraud marks;
//! format 1 files are still read, and start those empty.

use crate::event::{
    Action, Decision, Event, FailureReason, FeedbackVerdict, Kind, Mfa, MfaStep, Outcome, Reason,
    ReasonCode, RiskLevel, Timestamp,
};
use crate::state::history::{Entry, History};
use crate::state::recent_ids::RecentIds;
use rustc_hash::FxHashMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod behind;
mod header;

use header::{header_bytes, read_header};
pub use header::{Corrupt, Header, Stamp};

pub const FORMAT_VERSION: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint folder {}: {source}", dir.display())]
    Folder { dir: PathBuf, source: io::Error },
    #[error("checkpoint {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("checkpoint {} is format version {version}; this Palisade reads up to {FORMAT_VERSION}", path.display())]
    FutureVersion { path: PathBuf, version: u32 },
    #[error("checkpoint {} was written with another hash key (fingerprint {found:016x}; the configured key's is {expected:016x}): its profiles and rule state are keyed by that key; configure it again, or move the checkpoints away to start with empty state", path.display())]
    HashKey {
        path: PathBuf,
        found: u64,
        expected: u64,
    },
    #[error("checkpoint {} was written by a Palisade build that hashes keys differently (same hash key, another hash function version or CPU features): none of its keys would be found; restore with the build that wrote it, or move the checkpoints away to start with empty state", path.display())]
    HashFunction { path: PathBuf },
    #[error("no checkpoint in {} reads back whole ({skipped} skipped, warnings above); move them away to start with empty state and replay the whole log", dir.display())]
    NoneValid { dir: PathBuf, skipped: usize },
}

/// A folder of checkpoints: `<data_dir>/checkpoints`.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    dir: PathBuf,
    keep: usize,
}

/// Writes postcard messages to the body.
pub struct Sink<'a> {
    w: &'a mut dyn Write,
}

impl Sink<'_> {
    pub fn put<T: Serialize + ?Sized>(&mut self, v: &T) -> io::Result<()> {
        postcard::to_io(v, &mut *self.w)
            .map(|_| ())
            .map_err(|e| match e {
                postcard::Error::SerdeSerCustom => io::Error::other("cannot serialize"),
                e => io::Error::other(e),
            })
    }
}

/// Reads postcard messages from a body whose checksum was verified.
pub struct Source<'a> {
    r: &'a mut dyn Read,
    /// Room for the longest string of one message.
    scratch: Vec<u8>,
}

impl Source<'_> {
    pub fn take<T: DeserializeOwned>(&mut self, what: &str) -> Result<T, String> {
        postcard::from_io((&mut *self.r, &mut self.scratch[..]))
            .map(|(v, _)| v)
            .map_err(|e| format!("reading {what}: {e}"))
    }
}

/// SHA-1 of a checkpoint file's body (the state, without the header),
/// in hex: replicas that folded the same log from the same start write the
/// same body at the same position, so their digests are equal.
pub fn body_digest(path: &Path) -> io::Result<String> {
    use sha1::{Digest, Sha1};
    // Small reads: each a short system call (see `behind`).
    let mut f = BufReader::with_capacity(behind::WRITE_BYTES, File::open(path)?);
    let mut head = [0u8; 16];
    f.read_exact(&mut head)?;
    let header_len = u32::from_le_bytes([head[12], head[13], head[14], head[15]]);
    f.seek(SeekFrom::Start(u64::from(header_len)))?;
    let mut h = Sha1::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Counts and checksums what passes through to the file.
struct Summing<W> {
    inner: W,
    crc: crc32fast::Hasher,
    len: u64,
}

impl<W: Write> Write for Summing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A history entry as a checkpoint holds it: the event and decision with
/// every field written (their serde forms for the contract skip empty ones).
#[derive(Serialize, Deserialize)]
struct EntryRec {
    seq: u64,
    has_password: bool,
    feedback: Option<FeedbackVerdict>,
    event_id: String,
    timestamp: Option<u64>,
    kind: Kind,
    user: String,
    user_exists: Option<bool>,
    ip: IpAddr,
    outcome: Outcome,
    failure_reason: Option<FailureReason>,
    user_agent: Option<String>,
    device_id: Option<String>,
    mfa: Option<Mfa>,
    tenant: Option<String>,
    label: Option<String>,
    decision_event_id: String,
    action: Action,
    risk_level: RiskLevel,
    risk_score: f64,
    reasons: Vec<(String, f64, String)>,
    compromised_password: bool,
    enforced: bool,
    audit_action: Option<Action>,
    mfa_step: Option<MfaStep>,
    rules_version: String,
    model_version: String,
}

impl EntryRec {
    fn of(x: &Entry) -> EntryRec {
        let (e, d) = (&x.event, &x.decision);
        EntryRec {
            seq: x.seq,
            has_password: x.has_password,
            feedback: x.feedback,
            event_id: e.event_id.clone(),
            timestamp: e.timestamp.map(Timestamp::millis),
            kind: e.kind,
            user: e.user.clone(),
            user_exists: e.user_exists,
            ip: e.ip,
            outcome: e.outcome,
            failure_reason: e.failure_reason,
            user_agent: e.user_agent.clone(),
            device_id: e.device_id.clone(),
            mfa: e.mfa,
            tenant: e.tenant.clone(),
            label: e.label.clone(),
            decision_event_id: d.event_id.clone(),
            action: d.action,
            risk_level: d.risk_level,
            risk_score: d.risk_score,
            reasons: d
                .reasons
                .iter()
                .map(|r| (r.code.to_string(), r.score, r.detail.clone()))
                .collect(),
            compromised_password: d.compromised_password,
            enforced: d.enforced,
            audit_action: d.audit_action,
            mfa_step: d.mfa,
            rules_version: d.rules_version.to_string(),
            model_version: d.model_version.to_string(),
        }
    }

    /// The entry, its shared strings (reason codes, versions) interned.
    fn entry(self, interned: &mut FxHashMap<String, Arc<str>>) -> Entry {
        let mut share = |s: String| -> Arc<str> {
            interned
                .entry(s)
                .or_insert_with_key(|s| Arc::from(s.as_str()))
                .clone()
        };
        Entry {
            seq: self.seq,
            has_password: self.has_password,
            feedback: self.feedback,
            event: Event {
                event_id: self.event_id,
                timestamp: self.timestamp.map(Timestamp),
                kind: self.kind,
                user: self.user,
                user_exists: self.user_exists,
                ip: self.ip,
                outcome: self.outcome,
                failure_reason: self.failure_reason,
                user_agent: self.user_agent,
                device_id: self.device_id,
                password_sha1: None,
                mfa: self.mfa,
                tenant: self.tenant,
                label: self.label,
            },
            decision: Decision {
                event_id: self.decision_event_id,
                action: self.action,
                risk_level: self.risk_level,
                risk_score: self.risk_score,
                reasons: self
                    .reasons
                    .into_iter()
                    .map(|(code, score, detail)| Reason {
                        code: ReasonCode::Rule(share(code)),
                        score,
                        detail,
                    })
                    .collect(),
                compromised_password: self.compromised_password,
                enforced: self.enforced,
                audit_action: self.audit_action,
                mfa: self.mfa_step,
                rules_version: share(self.rules_version),
                model_version: share(self.model_version),
            },
        }
    }
}

/// `checkpoint-<position:020>.ckpt`'s position.
fn position_of(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("checkpoint-")?.strip_suffix(".ckpt")?;
    (digits.len() == 20 && digits.bytes().all(|c| c.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// Prints a warning and keeps it for the caller.
pub fn warn(warnings: &mut Vec<String>, line: String) {
    eprintln!("palisade: warning: {line}");
    warnings.push(line);
}

/// A checkpoint written whole under its `.tmp` name, not yet published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    pub tmp: PathBuf,
    pub path: PathBuf,
    /// Its size once written.
    pub bytes: u64,
}

impl Checkpoints {
    /// Checkpoints in `dir`, keeping the newest `keep` (at least one).
    pub fn new(dir: PathBuf, keep: usize) -> Checkpoints {
        Checkpoints {
            dir,
            keep: keep.max(1),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn folder_error(&self, source: io::Error) -> CheckpointError {
        CheckpointError::Folder {
            dir: self.dir.clone(),
            source,
        }
    }

    /// The checkpoint files, newest (highest position) first.
    pub fn list(&self) -> Result<Vec<(u64, PathBuf)>, CheckpointError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.folder_error(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| self.folder_error(e))?;
            let name = entry.file_name();
            if let Some(p) = name.to_str().and_then(position_of) {
                out.push((p, entry.path()));
            }
        }
        out.sort_unstable_by(|a, b| b.cmp(a));
        Ok(out)
    }

    /// Writes a checkpoint of the state after applying the log up to
    /// `position`, atomically: [`Checkpoints::stage`] then
    /// [`Checkpoints::publish`]. Returns the path and the size in bytes.
    pub fn write_with(
        &self,
        stamp: Stamp,
        position: u64,
        body: &mut dyn FnMut(&mut Sink<'_>) -> io::Result<()>,
    ) -> Result<(PathBuf, u64), CheckpointError> {
        let staged = self.stage(stamp, position, body)?;
        self.publish(staged)
    }

    /// The first half of a checkpoint: writes it whole to
    /// `checkpoint-<position:020>.tmp` and syncs it. No reader takes a `.tmp`
    /// file; [`Checkpoints::publish`] makes it the newest checkpoint.
    pub fn stage(
        &self,
        stamp: Stamp,
        position: u64,
        body: &mut dyn FnMut(&mut Sink<'_>) -> io::Result<()>,
    ) -> Result<Staged, CheckpointError> {
        super::private_dir(&self.dir).map_err(|e| self.folder_error(e))?;
        let staged = self.staged(position);
        let tmp = &staged.tmp;
        let mut header = Header {
            version: FORMAT_VERSION,
            len: 0,
            position,
            stamp,
            body_len: 0,
            body_crc: 0,
        };
        let written = (|| -> io::Result<u64> {
            let mut file = super::create_private(tmp)?;
            let blank = header_bytes(&header);
            file.write_all(&blank)?;
            let mut summing = Summing {
                inner: BufWriter::with_capacity(
                    behind::WRITE_BYTES,
                    behind::Behind::new(&mut file, blank.len() as u64),
                ),
                crc: crc32fast::Hasher::new(),
                len: 0,
            };
            body(&mut Sink { w: &mut summing })?;
            summing.flush()?;
            header.body_len = summing.len;
            header.body_crc = summing.crc.clone().finalize();
            drop(summing);
            file.seek(SeekFrom::Start(0))?;
            let full = header_bytes(&header);
            debug_assert_eq!(full.len(), blank.len());
            file.write_all(&full)?;
            file.sync_all()?;
            Ok(full.len() as u64 + header.body_len)
        })();
        match written {
            Ok(bytes) => Ok(Staged { bytes, ..staged }),
            Err(e) => {
                let _ = fs::remove_file(tmp);
                Err(CheckpointError::Io {
                    path: tmp.clone(),
                    source: e,
                })
            }
        }
    }

    /// Where [`Checkpoints::stage`] writes the checkpoint at `position`
    /// (nothing is written here).
    pub fn staged(&self, position: u64) -> Staged {
        let name = format!("checkpoint-{position:020}");
        Staged {
            tmp: self.dir.join(format!("{name}.tmp")),
            path: self.dir.join(format!("{name}.ckpt")),
            bytes: 0,
        }
    }

    /// The second half: renames a staged checkpoint to its `.ckpt` name,
    /// syncs the folder, then deletes all but the newest `keep` (and
    /// leftover `.tmp` files). Returns the path and the size in bytes.
    pub fn publish(&self, staged: Staged) -> Result<(PathBuf, u64), CheckpointError> {
        let Staged { tmp, path, bytes } = staged;
        fs::rename(&tmp, &path).map_err(|source| CheckpointError::Io {
            path: path.clone(),
            source,
        })?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| self.folder_error(e))?;
        self.prune(&tmp);
        Ok((path, bytes))
    }

    /// Deletes all but the newest `keep` checkpoints and any `.tmp` left by
    /// an interrupted write. A file that will not go is warned about: the
    /// checkpoint just written stands.
    fn prune(&self, ours: &Path) {
        let mut warnings = Vec::new();
        match self.list() {
            Ok(all) => {
                for (_, p) in all.into_iter().skip(self.keep) {
                    if let Err(e) = fs::remove_file(&p) {
                        warn(
                            &mut warnings,
                            format!("cannot delete old checkpoint {}: {e}", p.display()),
                        );
                    }
                }
            }
            Err(e) => warn(&mut warnings, e.to_string()),
        }
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for p in entries.flatten().map(|e| e.path()) {
                let stale = p.extension().is_some_and(|x| x == "tmp")
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("checkpoint-"));
                if stale && p != ours {
                    let _ = fs::remove_file(&p);
                }
            }
        }
    }

    /// The newest checkpoint that reads back whole, as `open` reads its
    /// body (verified against its checksum first). A corrupt or partial one
    /// (bad checksum, truncated, wrong magic, or a body `open` finds
    /// corrupt) is skipped with a warning naming it and why, and the one
    /// before is tried. A future format version, an error of `open` (another
    /// hash key), or a folder whose every checkpoint is corrupt stop the
    /// search. `Ok(None)` when there is no checkpoint at all.
    pub fn load_newest_with<T>(
        &self,
        open: &mut Opener<'_, T>,
    ) -> Result<Option<Loaded<T>>, CheckpointError> {
        let all = self.list()?;
        if all.is_empty() {
            return Ok(None);
        }
        let mut warnings = Vec::new();
        let mut skipped = 0;
        for (_, path) in &all {
            match self.load_with(path, open, &mut warnings)? {
                Ok((value, position)) => {
                    return Ok(Some(Loaded {
                        value,
                        position,
                        path: path.clone(),
                        warnings,
                    }))
                }
                Err(Corrupt(why)) => {
                    skipped += 1;
                    warn(
                        &mut warnings,
                        format!(
                            "skipping checkpoint {}: {why}; trying the one before",
                            path.display()
                        ),
                    );
                }
            }
        }
        Err(CheckpointError::NoneValid {
            dir: self.dir.clone(),
            skipped,
        })
    }

    fn load_with<T>(
        &self,
        path: &Path,
        open: &mut Opener<'_, T>,
        warnings: &mut Vec<String>,
    ) -> Result<Result<(T, u64), Corrupt>, CheckpointError> {
        let io = |source| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = File::open(path).map_err(io)?;
        let h = match read_header(&mut file, path)? {
            Ok(h) => h,
            Err(c) => return Ok(Err(c)),
        };
        let size = file.metadata().map_err(io)?.len();
        if size != h.len as u64 + h.body_len {
            return Ok(Err(Corrupt(format!(
                "{size} bytes, but its header says {}",
                h.len as u64 + h.body_len
            ))));
        }
        // First pass: the whole body must match its checksum before any of
        // it is believed.
        let mut crc = crc32fast::Hasher::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut r = (&mut file).take(h.body_len);
        loop {
            let n = r.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            crc.update(&buf[..n]);
        }
        if crc.finalize() != h.body_crc {
            return Ok(Err(Corrupt("body checksum mismatch".into())));
        }
        file.seek(SeekFrom::Start(h.len as u64)).map_err(io)?;
        let mut reader = BufReader::with_capacity(1 << 20, &mut file).take(h.body_len);
        let mut src = Source {
            r: &mut reader,
            scratch: vec![0; 1 << 16],
        };
        let value = match open(path, &h, &mut src, warnings)? {
            Ok(v) => v,
            Err(c) => return Ok(Err(c)),
        };
        if reader.limit() != 0 {
            return Ok(Err(Corrupt(format!(
                "{} bytes left over after its last section",
                reader.limit()
            ))));
        }
        Ok(Ok((value, h.position)))
    }
}

/// Reads a checkpoint's body, given its file and header: the value, or why
/// the body is corrupt; an error stops the search for a checkpoint.
pub type Opener<'a, T> = dyn FnMut(
        &Path,
        &Header,
        &mut Source<'_>,
        &mut Vec<String>,
    ) -> Result<Result<T, Corrupt>, CheckpointError>
    + 'a;

/// A checkpoint read back: what its body gave, where it was.
pub struct Loaded<T> {
    pub value: T,
    /// The log position it was taken at: replay from here.
    pub position: u64,
    pub path: PathBuf,
    /// Every warning printed while loading (skipped files, and the
    /// opener's), one line each.
    pub warnings: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct HistoryHead {
    next_seq: u64,
    entries: u64,
}

/// Writes the history and the recent event ids: the body's sections after
/// the engine's state.
pub fn write_history(out: &mut Sink<'_>, history: &History, recent: &RecentIds) -> io::Result<()> {
    let entries = history.entries_by_seq();
    out.put(&HistoryHead {
        next_seq: history.next_seq(),
        entries: entries.len() as u64,
    })?;
    for e in entries {
        out.put(&EntryRec::of(e))?;
    }
    out.put(recent.hashes())?;
    Ok(())
}

/// Reads what [`write_history`] wrote, into a history and a memory of ids
/// with these limits (`per_user`, `max_users`) and cap, its hashes keyed by
/// `id_seeds` (the ones they were written with).
pub fn read_history(
    src: &mut Source<'_>,
    (per_user, max_users): (usize, usize),
    recent_cap: usize,
    id_seeds: [u64; 4],
) -> Result<(History, RecentIds), String> {
    let mut history = History::keyed(per_user, max_users, id_seeds);
    read_entries(src, &mut history)?;
    let mut recent = RecentIds::keyed(recent_cap, id_seeds);
    let hashes: VecDeque<u64> = src.take("recent event ids")?;
    recent.restore_hashes(hashes);
    Ok((history, recent))
}

fn read_entries(src: &mut Source<'_>, history: &mut History) -> Result<(), String> {
    let head: HistoryHead = src.take("history head")?;
    let mut interned = FxHashMap::default();
    let mut failed = None;
    let mut last_seq = 0;
    let entries = (0..head.entries).map_while(|_| match src.take::<EntryRec>("history entry") {
        Ok(rec) if rec.seq > last_seq => {
            last_seq = rec.seq;
            Some(rec.entry(&mut interned))
        }
        Ok(rec) => {
            failed = Some(format!("history entry {} out of order", rec.seq));
            None
        }
        Err(e) => {
            failed = Some(e);
            None
        }
    });
    history.restore(entries, head.next_seq);
    failed.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests;
