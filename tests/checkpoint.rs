//! Checkpoints end to end: an engine restored from a checkpoint decides the
//! rest of the traffic exactly as the engine that wrote it; a damaged newest
//! checkpoint is skipped for the one before; what must not be restored (a
//! future format, another hash key) is refused.

use palisade::analytics::simulate::{simulate, SimulateOptions};
use palisade::config::Config;
use palisade::engine::{Engine, EngineParts, FeedbackVerdict};
use palisade::event::{Action, Event, Outcome};
use palisade::node::checkpoint::{NodeCheckpoints, Restored};
use palisade::state::checkpoint::{CheckpointError, Checkpoints};
use palisade::state::history::History;
use palisade::state::recent_ids::RecentIds;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const HISTORY: (usize, usize) = (20, 50_000);
const RECENT: usize = 1_000_000;

fn config() -> Config {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    Config {
        rules: Some(root.join("rules")),
        models: Some(root.join("models")),
        ..Config::default()
    }
}

fn parts() -> EngineParts {
    EngineParts::from_config(&config()).expect("the shipped rules and model load")
}

/// 2,000 users over 3 days, seed 1, no GeoIP: the same events every run.
fn traffic() -> &'static [Event] {
    static EVENTS: OnceLock<Vec<Event>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        let opts = SimulateOptions {
            users: 2_000,
            days: 3,
            seed: 1,
            networks: None,
            ..SimulateOptions::default()
        };
        let mut out = Vec::new();
        simulate(&opts, &mut out).expect("simulate");
        out.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| Event::from_json(l).expect("simulated events decode"))
            .collect()
    })
}

/// An engine with the history and recent ids beside it, fed as the serve
/// worker feeds them.
struct Node {
    engine: Engine,
    history: History,
    recent: RecentIds,
}

impl Node {
    fn new() -> Node {
        let engine = Engine::new(parts());
        // Keyed as a node keys it, so the restored one finds the same ids.
        let recent = engine.recent_ids(RECENT);
        Node {
            engine,
            history: History::new(HISTORY.0, HISTORY.1),
            recent,
        }
    }

    fn from(r: Restored) -> Node {
        Node {
            engine: r.engine,
            history: r.history,
            recent: r.recent,
        }
    }

    /// Each decision as its JSON bytes.
    fn feed(&mut self, events: &[Event]) -> Vec<Vec<u8>> {
        events
            .iter()
            .map(|e| {
                self.recent.insert(&e.event_id, e.outcome);
                let d = self.engine.evaluate(e);
                self.history.record(e, &d);
                self.engine.take_enforcements();
                let mut out = Vec::new();
                d.write_json(&mut out);
                out
            })
            .collect()
    }

    fn write(&self, c: &Checkpoints, position: u64) -> PathBuf {
        c.write(&self.engine, &self.history, &self.recent, position)
            .expect("checkpoint written")
            .0
    }
}

fn load(c: &Checkpoints) -> Result<Option<Restored>, CheckpointError> {
    c.load_newest(&parts, HISTORY, RECENT)
}

fn folder() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("checkpoints");
    (tmp, dir)
}

#[test]
fn a_restored_engine_decides_the_rest_exactly_as_the_one_that_wrote_it() {
    let events = traffic();
    let (first, second) = events.split_at(events.len() / 2);
    let mut a = Node::new();
    let before = a.feed(first);
    let blocks = before
        .iter()
        .filter(|d| String::from_utf8_lossy(d).contains("\"action\":\"block\""))
        .count();
    assert!(blocks > 0, "the first half must include blocks");
    // Feedback as an operator would give it: takeovers reported fraudulent
    // (fraud marks, blocks on keys, password resets), some legitimate
    // sign-ins confirmed.
    let mut reported = 0;
    for (i, e) in first.iter().enumerate() {
        let verdict = match e.label.as_deref() {
            Some("account_takeover" | "impossible_travel")
                if e.outcome != Outcome::Attempt && reported < 30 =>
            {
                reported += 1;
                FeedbackVerdict::Fraudulent
            }
            Some("legit") if i % 97 == 0 => FeedbackVerdict::Legitimate,
            _ => continue,
        };
        a.engine.feedback(e, verdict);
        a.history.set_feedback(&e.event_id, verdict);
    }
    a.engine.take_enforcements();
    let stats = a.engine.state_stats();
    assert!(
        stats.fraud_marked_users > 0 && stats.reported_blocks > 0,
        "feedback state to carry over: {stats:?}"
    );
    assert!(
        stats.enforcements > 0 && stats.rule_keys.iter().any(|r| r.1 > 0),
        "enforcements and rule state to carry over: {stats:?}"
    );
    assert!(
        stats.failure_sources.0 > 0 && stats.offenders.0 > 0,
        "failing sources and banned addresses to carry over: {stats:?}"
    );

    let (_tmp, dir) = folder();
    let c = Checkpoints::new(dir, 2);
    let path = a.write(&c, 12_345);
    let r = load(&c).unwrap().expect("a checkpoint");
    assert_eq!((r.position, &r.path), (12_345, &path));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let mut b = Node::from(r);
    assert_eq!(b.engine.state_stats().profiles, stats.profiles);
    assert_eq!(
        b.engine.enforcements_in_force(),
        a.engine.enforcements_in_force()
    );
    assert_eq!(
        (b.history.len(), b.history.users()),
        (a.history.len(), a.history.users())
    );
    assert_eq!(b.recent.len(), a.recent.len());
    let e = &first[first.len() - 1];
    assert!(
        b.recent.contains(&e.event_id, e.outcome),
        "recent ids restored"
    );
    let page = |n: &Node| {
        n.history
            .page(e.tenant.as_deref(), &e.user, 50, None)
            .events
            .iter()
            .map(|x| {
                let mut j = Vec::new();
                x.decision.write_json(&mut j);
                (x.seq, x.event.clone(), x.has_password, x.feedback, j)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(page(&b), page(&a), "the history restored");

    let from_a = a.feed(second);
    let from_b = b.feed(second);
    let differing = from_a.iter().zip(&from_b).filter(|(x, y)| x != y).count();
    if let Some((x, y)) = from_a.iter().zip(&from_b).find(|(x, y)| x != y) {
        eprintln!(
            "first difference:\n{}\n{}",
            String::from_utf8_lossy(x),
            String::from_utf8_lossy(y)
        );
    }
    assert_eq!(differing, 0, "of {} decisions", from_a.len());
    // Entries, not bytes: bytes count table capacity, and a table read
    // back need not have grown and shrunk as the original did.
    let entries = |s: palisade::engine::StateStats| {
        let keys: Vec<_> = s.rule_keys.into_iter().map(|(id, n, _)| (id, n)).collect();
        let sources = (s.failure_sources.0, s.offenders.0);
        (
            s.profiles,
            keys,
            s.enforcements,
            s.reported_blocks,
            s.fraud_marked_users,
            sources,
        )
    };
    assert_eq!(
        entries(b.engine.state_stats()),
        entries(a.engine.state_stats())
    );
    assert_eq!(b.history.next_seq(), a.history.next_seq());

    // The check can fail: an engine that starts empty decides differently.
    let mut fresh = Node::new();
    let from_fresh = fresh.feed(second);
    assert!(from_fresh != from_a, "state must matter to the second half");
    assert!(
        from_a.iter().any(|d| String::from_utf8_lossy(d)
            .contains(&format!("\"action\":\"{}\"", Action::Block.as_str()))),
        "the second half includes blocks too"
    );
}

/// The body's first byte: just past the header.
fn body_start(path: &Path) -> usize {
    let b = std::fs::read(path).unwrap();
    u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize
}

#[test]
fn a_damaged_newest_checkpoint_is_skipped_for_the_one_before() {
    let events = traffic();
    let (_tmp, dir) = folder();
    let c = Checkpoints::new(dir, 5);
    let mut a = Node::new();
    a.feed(&events[..1000]);
    a.write(&c, 1);
    a.feed(&events[1000..2000]);
    let newest = a.write(&c, 2);

    // Truncated.
    let bytes = std::fs::read(&newest).unwrap();
    std::fs::write(&newest, &bytes[..bytes.len() - 7]).unwrap();
    let r = load(&c).unwrap().unwrap();
    assert_eq!(r.position, 1);
    let name = newest.display().to_string();
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains(&name) && w.contains("bytes")),
        "{:?}",
        r.warnings
    );

    // One byte of the body flipped.
    let mut flipped = bytes.clone();
    let at = body_start(&newest) + (bytes.len() - body_start(&newest)) / 2;
    flipped[at] ^= 0x20;
    std::fs::write(&newest, &flipped).unwrap();
    let r = load(&c).unwrap().unwrap();
    assert_eq!(r.position, 1);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains(&name) && w.contains("checksum")),
        "{:?}",
        r.warnings
    );

    // Not a checkpoint at all.
    std::fs::write(&newest, b"{\"event_id\": \"not a checkpoint at all\"}\n").unwrap();
    let r = load(&c).unwrap().unwrap();
    assert_eq!(r.position, 1);
    assert!(r
        .warnings
        .iter()
        .any(|w| w.contains(&name) && w.contains("magic")));

    // Restored as intact, the newest is used again.
    std::fs::write(&newest, &bytes).unwrap();
    assert_eq!(load(&c).unwrap().unwrap().position, 2);

    // Every one damaged: an error, not a silent empty start.
    std::fs::write(&newest, b"").unwrap();
    let oldest = c.list().unwrap()[1].1.clone();
    std::fs::write(&oldest, b"PALISCKP").unwrap();
    let err = load(&c).err().expect("no checkpoint reads back");
    assert!(
        matches!(err, CheckpointError::NoneValid { skipped: 2, .. }),
        "{err}"
    );
}

#[test]
fn a_future_format_version_is_refused_not_skipped() {
    let (_tmp, dir) = folder();
    let c = Checkpoints::new(dir, 2);
    let mut a = Node::new();
    a.feed(&traffic()[..500]);
    a.write(&c, 1);
    let newest = a.write(&c, 2);
    let mut b = std::fs::read(&newest).unwrap();
    b[8..12].copy_from_slice(&7u32.to_le_bytes());
    let len = body_start(&newest);
    b[16..20].fill(0);
    let crc = crc32fast::hash(&b[..len]);
    b[16..20].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&newest, &b).unwrap();
    let err = load(&c).err().expect("refused");
    assert_eq!(
        err.to_string(),
        format!(
            "checkpoint {} is format version 7; this Palisade reads up to 2",
            newest.display()
        )
    );
}

#[test]
fn a_checkpoint_of_another_hash_key_is_refused() {
    let (_tmp, dir) = folder();
    let c = Checkpoints::new(dir, 2);
    let mut a = Node::new();
    a.feed(&traffic()[..500]);
    let path = a.write(&c, 1);
    let other = || EngineParts {
        hash_key: [1, 2, 3, 4],
        ..parts()
    };
    let err = c
        .load_newest(&other, HISTORY, RECENT)
        .err()
        .expect("refused");
    assert!(matches!(err, CheckpointError::HashKey { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&path.display().to_string()) && text.contains("another hash key"),
        "{text}"
    );
}

#[test]
fn changed_rules_keep_profiles_and_drop_rule_state_with_a_warning() {
    let (_tmp, dir) = folder();
    let c = Checkpoints::new(dir, 2);
    let mut a = Node::new();
    a.feed(&traffic()[..traffic().len() / 2]);
    a.write(&c, 1);
    let edited = || {
        let mut p = parts();
        p.rules.version = "rules-edited".into();
        p
    };
    let r = c.load_newest(&edited, HISTORY, RECENT).unwrap().unwrap();
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("rules version") && w.contains("rules-edited")),
        "{:?}",
        r.warnings
    );
    let (sa, sb) = (a.engine.state_stats(), r.engine.state_stats());
    assert_eq!(sb.profiles, sa.profiles);
    assert_eq!(sb.enforcements, sa.enforcements);
    assert!(sb.rule_keys.iter().all(|k| k.1 == 0), "{:?}", sb.rule_keys);
    assert!(sa.rule_keys.iter().any(|k| k.1 > 0));
}

#[test]
fn no_checkpoint_is_none_and_keep_deletes_the_oldest() {
    let (_tmp, dir) = folder();
    let c = Checkpoints::new(dir.clone(), 2);
    assert!(load(&c).unwrap().is_none(), "no folder yet");
    std::fs::create_dir_all(&dir).unwrap();
    assert!(load(&c).unwrap().is_none(), "an empty folder");
    let mut a = Node::new();
    a.feed(&traffic()[..200]);
    for p in [5, 10, 15, 20] {
        a.write(&c, p);
    }
    std::fs::write(dir.join("checkpoint-00000000000000000003.tmp"), b"torn").unwrap();
    a.write(&c, 25);
    let positions: Vec<u64> = c.list().unwrap().into_iter().map(|(p, _)| p).collect();
    assert_eq!(positions, [25, 20]);
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "leftover .tmp files go too: {names:?}");
    assert_eq!(load(&c).unwrap().unwrap().position, 25);
    // What names users, addresses and devices is the owner's only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        for (_, path) in c.list().unwrap() {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
}

/// A checkpoint of format 1 (before the failure sources), written by
/// `palisade baseline` of the release before them on 40 simulated users
/// (`simulate --users 40 --days 3 --seed 7`): it still loads, profiles and
/// all, and the lockout's old counts are read past and left out.
#[test]
fn a_format_1_checkpoint_still_loads() {
    let (_tmp, dir) = folder();
    std::fs::create_dir_all(&dir).unwrap();
    let name = "checkpoint-00000000000000000000.ckpt";
    let saved = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/checkpoint-format-1");
    std::fs::copy(saved.join(name), dir.join(name)).unwrap();
    let bytes = std::fs::read(dir.join(name)).unwrap();
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 1);
    let c = Checkpoints::new(dir, 2);
    let r = load(&c).unwrap().expect("the format 1 checkpoint loads");
    assert_eq!(r.engine.state_stats().profiles, 37);
    assert!(
        r.warnings.iter().any(|w| w.contains("rules version")),
        "{:?}",
        r.warnings
    );
    let s = r.engine.state_stats();
    assert_eq!((s.failure_sources.0, s.offenders.0), (0, 0));
}
