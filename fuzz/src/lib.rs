//! The fuzz targets' inputs and oracles, one public function per target in
//! `fuzz_targets/`. Each takes libFuzzer's bytes, feeds them to a parser of
//! untrusted or on-disk input, and panics only when the parser panics or an
//! oracle fails: errors are answers, not findings.
//!
//! The file formats guard themselves with checksums (journal records, the
//! checkpoint header and body, the breach-corpus index's header and table),
//! and random bytes almost never pass them, so the readers behind the checks
//! would go unfuzzed. Those targets read their first byte as a mode: odd
//! takes the rest as the file verbatim, even builds a file around the rest
//! with the checksums (and, for the index, the 8 MB prefix table) made right,
//! so the mutations land on what is behind them.
//!
//! The main suite's `tests/fuzz_regressions.rs` includes this file by path
//! and replays every committed corpus through it, so it uses nothing beyond
//! palisade's own dependencies and dev-dependencies.

use palisade::config::Config;
use palisade::engine::{Engine, EngineParts};
use palisade::event::Event;
use palisade::node::checkpoint::NodeCheckpoints;
use palisade::state::checkpoint::{read_history, Checkpoints, Corrupt};
use palisade::state::journal::{Entry, EntryRef, Journal};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The repository's root, whether this file is built in the fuzz crate
/// (`fuzz/`) or included by the main suite's tests: the shipped rules and
/// model are read from it.
fn repo() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    if here.join("rules").is_dir() {
        here.to_path_buf()
    } else {
        here.parent()
            .expect("the fuzz crate sits in the repository")
            .to_path_buf()
    }
}

/// A scratch folder, in memory where the system has one (the index target
/// writes 8 MB per input).
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(t) = tempfile::Builder::new()
            .prefix("palisade-fuzz")
            .tempdir_in(shm)
        {
            return t;
        }
    }
    tempfile::tempdir().expect("a temporary folder")
}

/// Whether the first byte asks for the file verbatim (odd) or built around
/// the rest (even); `None` for no input at all.
fn mode(data: &[u8]) -> Option<(bool, &[u8])> {
    let (&first, rest) = data.split_first()?;
    Some((first & 1 == 1, rest))
}

/// A little-endian reader over the input that yields zeros past its end, so
/// every input describes some file.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }

    fn rest(&mut self) -> &'a [u8] {
        self.take(self.0.len())
    }
}

// ---------------------------------------------------------------- events

/// A field no decoder knows with a number for its value: serde_json ignores
/// it, and the quick decoder steps aside for any number, so a document with
/// it inserted takes serde's path whatever the quick path would have done.
const SERDE_ONLY: &str = "\"fuzz_serde_only\":0";

/// The document with [`SERDE_ONLY`] inserted after its opening brace; `None`
/// when it has none.
fn serde_only(json: &[u8]) -> Option<Vec<u8>> {
    let open = json.iter().position(|b| !b.is_ascii_whitespace())?;
    if json[open] != b'{' {
        return None;
    }
    let after = &json[open + 1..];
    let empty = after.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'}');
    let mut out = json[..=open].to_vec();
    out.extend_from_slice(SERDE_ONLY.as_bytes());
    if !empty {
        out.push(b',');
    }
    out.extend_from_slice(after);
    Some(out)
}

/// Arbitrary bytes as one event (`src/event/parse.rs`). The quick decoder
/// (`src/event/fast.rs`) is private; what it decides shows in
/// `Event::from_json`, which takes it when it answers. So the same document
/// is decoded again with a field inserted that sends it down serde's path
/// (see [`SERDE_ONLY`]): an event the one path accepts the other must
/// accept, equal; one path must not refuse what the other takes. Also: an
/// event decoded into a used one equals one decoded afresh, and an accepted
/// event written as JSON (as the journal writes it) reads back equal.
pub fn event_decode(data: &[u8]) {
    let plain = Event::from_json(data);
    let mut reused = Event::from_json(GOOD_EVENT.as_bytes()).expect("the sample event decodes");
    let again = reused.decode_json_into(data);
    match (&plain, again) {
        (Ok(e), Ok(())) => assert_eq!(e, &reused, "decoding into a used event differs"),
        (Err(a), Err(b)) => assert_eq!(a, &b, "decoding into a used event fails differently"),
        (a, b) => panic!("decoding into a used event: {b:?}, afresh: {a:?}"),
    }
    // Below the size limit with room for the inserted field, so both sizes
    // are judged alike.
    if data.len() + SERDE_ONLY.len() < palisade::event::MAX_EVENT_BYTES {
        if let Some(doc) = serde_only(data) {
            let serde = Event::from_json(&doc);
            match (&plain, &serde) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "the quick path and serde disagree"),
                (Err(_), Err(_)) => {}
                (a, b) => panic!("the quick path and serde disagree: {a:?} against {b:?}"),
            }
        }
    }
    if let Ok(e) = plain {
        let json = serde_json::to_vec(&e).expect("an event serializes");
        let back = Event::from_json(&json);
        assert_eq!(
            back.as_ref().ok(),
            Some(&e),
            "an accepted event does not read back from its JSON {:?}: {back:?}",
            String::from_utf8_lossy(&json)
        );
    }
}

/// What [`event_decode`] decodes into before the input, so a reused event
/// has every optional field set.
const GOOD_EVENT: &str = r#"{"event_id":"seed","timestamp":"2026-11-26T10:00:00Z","kind":"sign_in","user":"alice@example.com","user_exists":true,"ip":"203.0.113.7","outcome":"failure","failure_reason":"bad_password","user_agent":"Mozilla/5.0","device_id":"d1","password_sha1":"5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8","mfa":"none","tenant":"t1","label":"l1"}"#;

// --------------------------------------------------------------- journal

/// A journal record as `src/state/journal` writes it: length, CRC-32 of the
/// rest, kind, payload.
fn journal_record(kind: u8, payload: &[u8], good_crc: bool) -> Vec<u8> {
    let mut body = vec![kind];
    body.extend_from_slice(payload);
    let crc = crc32fast::hash(&body) ^ u32::from(!good_crc);
    let mut out = (body.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&body);
    out
}

fn segment_name(base: u64) -> String {
    format!("journal-{base:020}.log")
}

/// Bytes as journal segments, opened and replayed
/// (`src/state/journal/{mod,repair}.rs`). Verbatim: the bytes are segment 0.
/// Built: a flags byte (repair; two segments; a floor; a gap before the
/// second segment), a floor (u16), a gap (u8), then records, each a head
/// byte (kind in the low 7 bits, a wrong checksum with the top bit), a
/// length (u16, at most 4 KiB) and that much payload (cut short at the end
/// of the input, as a torn tail). Errors are answers; once open, an event
/// appended and synced must replay back alone from where it was appended.
pub fn journal_read(data: &[u8]) {
    let Some((verbatim, rest)) = mode(data) else {
        return;
    };
    let dir = scratch();
    let journal = dir.path().join("journal");
    std::fs::create_dir_all(&journal).expect("the journal folder");
    let (repair, floor) = if verbatim {
        std::fs::write(journal.join(segment_name(0)), rest).expect("a segment");
        (rest.first().is_some_and(|b| b & 1 == 1), 0)
    } else {
        let mut b = Bytes(rest);
        let flags = b.u8();
        let floor = b.u16();
        let gap = b.u8();
        let mut records = Vec::new();
        while !b.0.is_empty() {
            let head = b.u8();
            let len = usize::from(b.u16() & 0x0fff);
            records.push(journal_record(head & 0x7f, b.take(len), head & 0x80 == 0));
        }
        let split = if flags & 2 != 0 {
            records.len() / 2
        } else {
            records.len()
        };
        let first: Vec<u8> = records[..split].concat();
        let second: Vec<u8> = records[split..].concat();
        std::fs::write(journal.join(segment_name(0)), &first).expect("a segment");
        if flags & 2 != 0 {
            let base = first.len() as u64 + if flags & 8 != 0 { u64::from(gap) } else { 0 };
            std::fs::write(journal.join(segment_name(base)), &second).expect("a segment");
        }
        let floor = if flags & 4 != 0 { u64::from(floor) } else { 0 };
        (flags & 1 == 1, floor)
    };
    let Ok((j, _notes)) = Journal::open_at(&journal, 1 << 16, floor, repair) else {
        return;
    };
    let mut n = 0usize;
    let _ = j.replay(floor, |_, _| {
        n += 1;
        Ok(())
    });
    let end = j.end();
    let event = Event::from_json(GOOD_EVENT.as_bytes()).expect("the sample event decodes");
    let mut scratch = Vec::new();
    let after = j
        .append(EntryRef::Event(&event), &mut scratch)
        .expect("an append to an opened journal");
    j.sync_blocking(after).expect("a sync");
    let mut back = Vec::new();
    let got = j.replay(end, |at, e| {
        back.push((at, e));
        Ok(())
    });
    assert_eq!(got.ok(), Some(after), "replaying what was just appended");
    assert_eq!(back, [(after, Entry::Event(event))], "the appended event");
}

// ------------------------------------------------------------ checkpoints

const CHECKPOINT_MAGIC: &[u8; 8] = b"PALISCKP";
const HISTORY_LIMITS: (usize, usize) = (20, 1000);
const RECENT_CAP: usize = 1000;

/// A checkpoint header as `src/state/checkpoint/header.rs` writes it.
struct CheckpointHeader<'a> {
    version: u32,
    position: u64,
    key_fingerprint: u64,
    hash_probe: u64,
    body_len: u64,
    body_crc: u32,
    rules_version: &'a str,
    model_version: &'a str,
}

impl CheckpointHeader<'_> {
    fn bytes(&self) -> Vec<u8> {
        let mut b = CHECKPOINT_MAGIC.to_vec();
        b.extend_from_slice(&self.version.to_le_bytes());
        b.extend_from_slice(&[0; 8]); // length and CRC, below
        b.extend_from_slice(&self.position.to_le_bytes());
        b.extend_from_slice(&self.key_fingerprint.to_le_bytes());
        b.extend_from_slice(&self.hash_probe.to_le_bytes());
        b.extend_from_slice(&self.body_len.to_le_bytes());
        b.extend_from_slice(&self.body_crc.to_le_bytes());
        for s in [self.rules_version, self.model_version] {
            b.extend_from_slice(&(s.len() as u16).to_le_bytes());
            b.extend_from_slice(s.as_bytes());
        }
        let len = b.len() as u32;
        b[12..16].copy_from_slice(&len.to_le_bytes());
        let crc = crc32fast::hash(&b);
        b[16..20].copy_from_slice(&crc.to_le_bytes());
        b
    }
}

/// The shipped rules and model, with the default hash key, as `serve`
/// builds them.
fn config() -> Config {
    Config {
        rules: Some(repo().join("rules")),
        models: Some(repo().join("models")),
        ..Config::default()
    }
}

fn parts() -> EngineParts {
    EngineParts::from_config(&config()).expect("the shipped rules and model load")
}

/// What a checkpoint header must say to be restored into [`parts`]'s engine.
struct EngineStamp {
    key_fingerprint: u64,
    hash_probe: u64,
    rules_version: String,
    model_version: String,
}

fn engine_stamp() -> &'static EngineStamp {
    static STAMP: OnceLock<EngineStamp> = OnceLock::new();
    STAMP.get_or_init(|| {
        let e = Engine::new(parts());
        EngineStamp {
            key_fingerprint: e.hash_key_fingerprint(),
            hash_probe: e.hash_probe(),
            rules_version: e.rules_version().to_string(),
            model_version: e.model_version().to_string(),
        }
    })
}

/// Bytes as the newest checkpoint in a folder, loaded
/// (`src/state/checkpoint`, `src/node/checkpoint.rs`). Verbatim: the bytes
/// are the file. Built: a flags byte, a version byte (1, 2, or 3 for a
/// future one), then the body, under a header with right lengths and
/// checksums and the running engine's hash key and probe, so the body's
/// decoders are reached. Flags: 1, restore into an engine (else read the
/// history sections alone, as `read_history`); 2, other rules; 4, another
/// model; 8, a wrong body checksum; 16, a byte past the body's end. Loading
/// may fail or skip the file; it must not panic, hang or run out of memory.
pub fn checkpoint_read(data: &[u8]) {
    let Some((verbatim, rest)) = mode(data) else {
        return;
    };
    let stamp = engine_stamp();
    let dir = scratch();
    let folder = dir.path().join("checkpoints");
    std::fs::create_dir_all(&folder).expect("the checkpoint folder");
    let file = folder.join(format!("checkpoint-{:020}.ckpt", 7));
    let flags = if verbatim {
        std::fs::write(&file, rest).expect("a checkpoint");
        rest.get(20).copied().unwrap_or(1) // the header's position: any byte
    } else {
        let mut b = Bytes(rest);
        let flags = b.u8();
        let version = 1 + u32::from(b.u8() % 3);
        let body = b.rest();
        let header = CheckpointHeader {
            version,
            position: 7,
            key_fingerprint: stamp.key_fingerprint,
            hash_probe: stamp.hash_probe,
            body_len: body.len() as u64,
            body_crc: crc32fast::hash(body) ^ u32::from(flags & 8 != 0),
            rules_version: if flags & 2 != 0 {
                "fuzz-rules"
            } else {
                &stamp.rules_version
            },
            model_version: if flags & 4 != 0 {
                "fuzz-model"
            } else {
                &stamp.model_version
            },
        };
        let mut bytes = header.bytes();
        bytes.extend_from_slice(body);
        if flags & 16 != 0 {
            bytes.push(0);
        }
        std::fs::write(&file, bytes).expect("a checkpoint");
        flags
    };
    let c = Checkpoints::new(folder, 2);
    if flags & 1 != 0 {
        let _ = c.load_newest(&parts, HISTORY_LIMITS, RECENT_CAP);
    } else {
        let _ = c.load_newest_with(&mut |_, _, src, _| {
            Ok(read_history(src, HISTORY_LIMITS, RECENT_CAP, [1, 2, 3, 4])
                .map(|_| ())
                .map_err(Corrupt))
        });
    }
}

// ------------------------------------------------------ the breach index

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

// ---------------------------------------------------------------- /range

/// The API's router on the shipped rules and model, without a breach
/// corpus, and a runtime to call it on.
fn range_server() -> &'static (tokio::runtime::Runtime, palisade::serve::Server) {
    static SERVER: OnceLock<(tokio::runtime::Runtime, palisade::serve::Server)> = OnceLock::new();
    SERVER.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let server = {
            let _in = rt.enter();
            palisade::serve::Server::start(
                Engine::new(parts()),
                palisade::state::history::History::new(20, 1000),
                palisade::state::recent_ids::RecentIds::new(1000),
                None,
                palisade::serve::ServerConfig::default(),
                palisade::serve::auth::ApiKeys::new(["fuzz-key-0123456789abcdef"]),
            )
        };
        (rt, server)
    })
}

/// Arbitrary text as the prefix of `GET /range/{prefix}` (`src/serve/range.rs`,
/// `parse_prefix`), sent percent-encoded through the real router, so the
/// route sees exactly the text. Exactly 5 hex digits, either case, must be
/// taken (and, with no corpus loaded, answered 404 `no_corpus`); anything
/// else refused 400 `invalid_prefix`, but the empty prefix, which no route
/// matches (404 `not_found`).
pub fn range_prefix(data: &[u8]) {
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut uri = String::from("/range/");
    for b in text.bytes() {
        uri.push_str(&format!("%{b:02X}"));
    }
    let (rt, server) = range_server();
    let (status, body) = rt.block_on(async {
        let req = Request::builder()
            .uri(&uri)
            .body(axum::body::Body::empty())
            .expect("a request");
        let r = palisade::serve::router(server.state.clone())
            .oneshot(req)
            .await
            .expect("the router answers");
        let status = r.status();
        let body = r.into_body().collect().await.expect("a body").to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    });
    let valid = text.len() == 5 && text.bytes().all(|b| b.is_ascii_hexdigit());
    let (want_status, want_code) = if valid {
        (StatusCode::NOT_FOUND, "no_corpus")
    } else if text.is_empty() {
        (StatusCode::NOT_FOUND, "not_found")
    } else {
        (StatusCode::BAD_REQUEST, "invalid_prefix")
    };
    assert_eq!(status, want_status, "/range/{text:?}: {body}");
    assert!(
        body.contains(&format!("\"{want_code}\"")),
        "/range/{text:?}: {body}"
    );
}

// ------------------------------------------------------- rules and models

/// Bytes as the one rule file of a rules folder (`src/detect/load.rs`).
/// Problems are answers; a panic is not, nor is a rule set that loads from
/// a file that is not UTF-8.
pub fn rules_file(data: &[u8]) {
    let dir = scratch();
    std::fs::write(dir.path().join("fuzz.toml"), data).expect("a rule file");
    let clock = palisade::state::limiter::EventClock::default();
    let loaded = palisade::detect::load_rules(Some(dir.path()), &clock, 10_000);
    if loaded.is_ok() {
        assert!(
            std::str::from_utf8(data).is_ok(),
            "rules loaded from bytes that are not UTF-8"
        );
    }
}

/// Bytes as the one model file of a models folder (`src/model/mod.rs`).
pub fn model_file(data: &[u8]) {
    let dir = scratch();
    std::fs::write(dir.path().join("fuzz.toml"), data).expect("a model file");
    let loaded = palisade::model::load_model(Some(dir.path()), None);
    if loaded.is_ok() {
        assert!(
            std::str::from_utf8(data).is_ok(),
            "a model loaded from bytes that are not UTF-8"
        );
    }
}
