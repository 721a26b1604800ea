//! The journal: the local, append-only log of everything the engine applied,
//! in the order it applied it. State is a fold over it (principle 3), so a
//! restart that replays it (from a checkpoint's position) rebuilds exactly
//! the state the engine had.
//!
//! Records are appended by the engine's worker, in order, into a buffer; a
//! caller that must not answer before its events are durable waits for
//! [`Journal::sync`], and one `fdatasync` covers every record written so far
//! (group commit), so concurrent batches share it. The file is split into
//! segments named by their first position (`journal-<position>.log`), so
//! what checkpoints have made unnecessary can be deleted whole.
//!
//! A record is `length: u32 LE | crc32 of the rest: u32 LE | kind: u8 |
//! payload`. A record cut short by a crash (the tail of the last segment,
//! with nothing readable after it) fails its length or checksum: it is cut
//! off at open, with a warning. It was never acknowledged: only synced
//! records are. Anything else that does not read is damage inside what was
//! acknowledged, and stops the start until a repair (see [`repair`]).
//!
//! The journal holds what events hold, `password_sha1` included (as a Kafka
//! events topic would); its files are created readable by their owner only.

mod repair;

use crate::event::{Event, FeedbackVerdict};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub use crate::config::journal::JournalConfig;

/// One applied change.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// An event the engine evaluated (and, for an outcome, learned from).
    Event(Event),
    /// A verdict applied to an earlier event.
    Feedback {
        event_id: String,
        verdict: FeedbackVerdict,
    },
}

/// Bytes that hold no entry: a repair's blank over damage.
const KIND_PADDING: u8 = 0;
const KIND_EVENT: u8 = 1;
const KIND_FEEDBACK: u8 = 2;
const HEADER: usize = 8;
/// Largest record accepted when reading: far above any event (64 KiB).
const MAX_RECORD: u32 = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("journal {path} at position {position}: {message}")]
    Corrupt {
        path: PathBuf,
        position: u64,
        message: String,
    },
    /// Acknowledged records that do not read, where a crash cannot have
    /// left them: a repair must be asked for.
    #[error(
        "journal {path}: damaged at position {position} ({what}), inside what was acknowledged; \
         stopping rather than losing the records after it. Keep a copy of the data folder, then \
         start again with --repair-journal: the damaged segment is moved aside (never deleted) and \
         a copy with the damage blanked out takes its place, keeping every readable record"
    )]
    Damaged {
        path: PathBuf,
        position: u64,
        what: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

struct Segment {
    base: u64,
    path: PathBuf,
}

struct Writer {
    out: BufWriter<File>,
    /// The open segment's first position and path.
    base: u64,
    path: PathBuf,
    /// Position after the last record appended.
    end: u64,
    /// Position up to which records are handed to the OS (not yet synced).
    written: u64,
}

pub struct Journal {
    dir: PathBuf,
    segment_bytes: u64,
    writer: Mutex<Writer>,
    /// Position up to which records are on disk (fdatasync'ed).
    synced: tokio::sync::watch::Sender<u64>,
    /// One sync at a time; waiters behind it usually find their records
    /// covered when they get it.
    syncing: tokio::sync::Mutex<()>,
    broken: std::sync::atomic::AtomicBool,
}

fn segment_name(base: u64) -> String {
    format!("journal-{base:020}.log")
}

fn segments(dir: &Path) -> Result<Vec<Segment>, JournalError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name();
        let Some(base) = name
            .to_str()
            .and_then(|n| n.strip_prefix("journal-"))
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        out.push(Segment {
            base,
            path: entry.path(),
        });
    }
    out.sort_by_key(|s| s.base);
    Ok(out)
}

fn create(path: &Path) -> Result<File, JournalError> {
    let mut o = OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path).map_err(io(path))
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Reads the records of one segment from `offset` on, calling `f` with each
/// record's position after it; returns the offset after the last whole one.
fn read_segment(
    seg: &Segment,
    mut offset: u64,
    f: &mut dyn FnMut(u64, Entry) -> Result<(), JournalError>,
) -> Result<(u64, Option<String>), JournalError> {
    let mut file = File::open(&seg.path).map_err(io(&seg.path))?;
    file.seek(SeekFrom::Start(offset)).map_err(io(&seg.path))?;
    let mut r = std::io::BufReader::with_capacity(1 << 20, file);
    let mut head = [0u8; HEADER];
    let mut body = Vec::new();
    loop {
        match r.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok((offset, None)),
            Err(e) => return Err(io(&seg.path)(e)),
        }
        let len = u32::from_le_bytes(head[..4].try_into().unwrap());
        let crc = u32::from_le_bytes(head[4..].try_into().unwrap());
        if len == 0 || len > MAX_RECORD {
            return Ok((offset, Some(format!("a record of {len} bytes"))));
        }
        body.resize(len as usize, 0);
        if r.read_exact(&mut body).is_err() {
            return Ok((offset, Some("a record cut short".to_string())));
        }
        if crc32fast::hash(&body) != crc {
            return Ok((offset, Some("a record with a wrong checksum".to_string())));
        }
        let position = seg.base + offset + (HEADER as u64) + u64::from(len);
        let entry = decode(&body).map_err(|message| JournalError::Corrupt {
            path: seg.path.clone(),
            position: seg.base + offset,
            message,
        })?;
        if let Some(entry) = entry {
            f(position, entry)?;
        }
        offset += HEADER as u64 + u64::from(len);
    }
}

/// The entry a record holds; `None` for padding.
fn decode(body: &[u8]) -> Result<Option<Entry>, String> {
    let (&kind, payload) = body.split_first().ok_or("an empty record")?;
    match kind {
        KIND_PADDING => Ok(None),
        KIND_EVENT => Event::from_json(payload)
            .map(|e| Some(Entry::Event(e)))
            .map_err(|e| format!("an event that does not read back: {e}")),
        KIND_FEEDBACK => {
            #[derive(serde::Deserialize)]
            struct F {
                event_id: String,
                verdict: FeedbackVerdict,
            }
            serde_json::from_slice::<F>(payload)
                .map(|f| {
                    Some(Entry::Feedback {
                        event_id: f.event_id,
                        verdict: f.verdict,
                    })
                })
                .map_err(|e| format!("feedback that does not read back: {e}"))
        }
        k => Err(format!("a record of unknown kind {k}")),
    }
}

/// An entry to append, borrowed.
#[derive(Clone, Copy)]
pub enum EntryRef<'a> {
    Event(&'a Event),
    Feedback {
        event_id: &'a str,
        verdict: FeedbackVerdict,
    },
}

impl<'a> From<&'a Entry> for EntryRef<'a> {
    fn from(e: &'a Entry) -> EntryRef<'a> {
        match e {
            Entry::Event(e) => EntryRef::Event(e),
            Entry::Feedback { event_id, verdict } => EntryRef::Feedback {
                event_id,
                verdict: *verdict,
            },
        }
    }
}

fn encode(entry: EntryRef<'_>, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&[0; HEADER]);
    match entry {
        EntryRef::Event(e) => {
            out.push(KIND_EVENT);
            serde_json::to_writer(&mut *out, e).expect("an event serializes");
        }
        EntryRef::Feedback { event_id, verdict } => {
            out.push(KIND_FEEDBACK);
            let f = serde_json::json!({"event_id": event_id, "verdict": verdict});
            serde_json::to_writer(&mut *out, &f).expect("feedback serializes");
        }
    }
    let len = (out.len() - HEADER) as u32;
    let crc = crc32fast::hash(&out[HEADER..]);
    out[..4].copy_from_slice(&len.to_le_bytes());
    out[4..HEADER].copy_from_slice(&crc.to_le_bytes());
}

impl Journal {
    /// Opens the journal in `dir` (creating it), cutting off a torn record
    /// at the end of the last segment with a warning on stderr.
    pub fn open(dir: &Path, segment_bytes: u64) -> Result<Journal, JournalError> {
        let (j, notes) = Journal::open_at(dir, segment_bytes, 0, false)?;
        for n in notes {
            eprintln!("palisade: {n}");
        }
        Ok(j)
    }

    /// Opens the journal for a state restored to position `floor` (the
    /// newest checkpoint's; 0 without one): the segments from there on are
    /// read through first. A torn tail is cut; damage stops the open unless
    /// `repair` (see [`repair`]); a journal that ends before `floor` goes on
    /// from `floor`, never below it, once repair is asked for. Returns what
    /// was cut or repaired, in words, for the start-up lines.
    pub fn open_at(
        dir: &Path,
        segment_bytes: u64,
        floor: u64,
        repair: bool,
    ) -> Result<(Journal, Vec<String>), JournalError> {
        super::private_dir(dir).map_err(io(dir))?;
        let (end, notes) = repair::prepare(dir, floor, repair)?;
        let segs = segments(dir)?;
        let last_end = segs.last().map(|l| {
            let len = std::fs::metadata(&l.path).map_or(0, |m| m.len());
            (l, l.base + len)
        });
        // The last segment goes on, unless the journal resumes past it.
        let (base, path) = match last_end {
            Some((l, e)) if e == end => (l.base, l.path.clone()),
            _ => (end, dir.join(segment_name(end))),
        };
        let file = create(&path)?;
        sync_dir(dir);
        let (synced, _) = tokio::sync::watch::channel(end);
        let journal = Journal {
            dir: dir.to_path_buf(),
            segment_bytes: segment_bytes.max(1 << 16),
            writer: Mutex::new(Writer {
                out: BufWriter::with_capacity(1 << 20, file),
                base,
                path,
                end,
                written: end,
            }),
            synced,
            syncing: tokio::sync::Mutex::new(()),
            broken: std::sync::atomic::AtomicBool::new(false),
        };
        Ok((journal, notes))
    }

    /// Every entry from `from` (a position a checkpoint recorded, or 0) to
    /// the end, in order, with the position after each.
    pub fn replay(
        &self,
        from: u64,
        mut f: impl FnMut(u64, Entry) -> Result<(), JournalError>,
    ) -> Result<u64, JournalError> {
        let segs = segments(&self.dir)?;
        let mut end = from;
        for (i, seg) in segs.iter().enumerate() {
            let next = segs.get(i + 1).map_or(u64::MAX, |s| s.base);
            if next <= from {
                continue;
            }
            if seg.base > end {
                return Err(JournalError::Corrupt {
                    path: seg.path.clone(),
                    position: end,
                    message: format!(
                        "positions {end} to {} are missing (a deleted segment?)",
                        seg.base
                    ),
                });
            }
            let (valid, _) = read_segment(seg, end.saturating_sub(seg.base), &mut f)?;
            end = seg.base + valid;
        }
        Ok(end)
    }

    /// Appends one entry; the position after it. Not durable until
    /// [`sync`](Self::sync) covers it.
    /// After a failed append the journal is broken: every later append and
    /// sync fails, so nothing is acknowledged that is not on disk.
    pub fn append(&self, entry: EntryRef<'_>, scratch: &mut Vec<u8>) -> Result<u64, JournalError> {
        encode(entry, scratch);
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        self.check_broken(&w.path)?;
        if w.end - w.base >= self.segment_bytes {
            self.roll(&mut w).inspect_err(|_| self.break_it())?;
        }
        let path = w.path.clone();
        w.out
            .write_all(scratch)
            .map_err(io(&path))
            .inspect_err(|_| self.break_it())?;
        w.end += scratch.len() as u64;
        Ok(w.end)
    }

    fn break_it(&self) {
        self.broken
            .store(true, std::sync::atomic::Ordering::Release);
    }

    fn check_broken(&self, path: &Path) -> Result<(), JournalError> {
        if self.broken.load(std::sync::atomic::Ordering::Acquire) {
            return Err(JournalError::Corrupt {
                path: path.to_path_buf(),
                position: self.synced(),
                message: "an earlier write failed; nothing more is taken until a restart".into(),
            });
        }
        Ok(())
    }

    /// Whether a write has failed (the API then answers 503).
    pub fn is_broken(&self) -> bool {
        self.broken.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Starts a new segment; the old one is flushed and synced first.
    fn roll(&self, w: &mut Writer) -> Result<(), JournalError> {
        let path = w.path.clone();
        w.out.flush().map_err(io(&path))?;
        w.out.get_ref().sync_data().map_err(io(&path))?;
        w.written = w.end;
        let _ = self.synced.send_if_modified(|s| {
            let moved = *s < w.end;
            *s = (*s).max(w.end);
            moved
        });
        w.base = w.end;
        w.path = self.dir.join(segment_name(w.base));
        w.out = BufWriter::with_capacity(1 << 20, create(&w.path)?);
        sync_dir(&self.dir);
        Ok(())
    }

    /// Position after the last record appended.
    pub fn end(&self) -> u64 {
        self.writer.lock().unwrap_or_else(|p| p.into_inner()).end
    }

    /// Position up to which records are durable.
    pub fn synced(&self) -> u64 {
        *self.synced.borrow()
    }

    /// Returns once every record up to `position` is on disk. One
    /// `fdatasync` covers everything appended before it starts.
    pub async fn sync(&self, position: u64) -> Result<(), JournalError> {
        if self.synced() >= position {
            return Ok(());
        }
        let _turn = self.syncing.lock().await;
        if self.synced() >= position {
            return Ok(());
        }
        let (file, end, path) = {
            let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            let path = w.path.clone();
            self.check_broken(&path)?;
            w.out.flush().map_err(io(&path))?;
            w.written = w.end;
            let file = w.out.get_ref().try_clone().map_err(io(&path))?;
            (file, w.end, path)
        };
        tokio::task::spawn_blocking(move || file.sync_data())
            .await
            .map_err(|e| io(&path)(std::io::Error::other(e)))?
            .map_err(io(&path))
            .inspect_err(|_| self.break_it())?;
        self.synced.send_modify(|s| *s = (*s).max(end));
        Ok(())
    }

    /// The same, from a thread outside the runtime (the Kafka consumer).
    pub fn sync_blocking(&self, position: u64) -> Result<(), JournalError> {
        if self.synced() >= position {
            return Ok(());
        }
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let path = w.path.clone();
        self.check_broken(&path)?;
        w.out.flush().map_err(io(&path))?;
        w.out
            .get_ref()
            .sync_data()
            .map_err(io(&path))
            .inspect_err(|_| self.break_it())?;
        w.written = w.end;
        let end = w.end;
        drop(w);
        self.synced.send_modify(|s| *s = (*s).max(end));
        Ok(())
    }

    /// Deletes the segments wholly before `position` (what the oldest kept
    /// checkpoint already holds); returns how many.
    pub fn delete_before(&self, position: u64) -> Result<usize, JournalError> {
        let segs = segments(&self.dir)?;
        let mut deleted = 0;
        for pair in segs.windows(2) {
            if pair[1].base <= position {
                std::fs::remove_file(&pair[0].path).map_err(io(&pair[0].path))?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Bytes of all segments, for the metrics.
    pub fn disk_bytes(&self) -> u64 {
        segments(&self.dir)
            .map(|s| {
                s.iter()
                    .filter_map(|s| std::fs::metadata(&s.path).ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests;
