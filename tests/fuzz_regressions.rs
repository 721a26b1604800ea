//! The fuzz targets' corpora and findings, replayed in the ordinary suite:
//! every input in `fuzz/corpus/<target>/` and `tests/data/fuzz/<target>/`
//! goes through the same oracle as the target (`fuzz/src/lib.rs`, included
//! here by path), so a change that breaks what was fuzzed fails `cargo test`
//! without cargo-fuzz or a nightly toolchain. An input that once crashed a
//! target is kept under `tests/data/fuzz/<target>/`, and a named test below
//! pins the bug it found. `scripts/fuzz` does the fuzzing.

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)] // only the oracles are called from here
mod oracles;

use std::path::{Path, PathBuf};

/// The inputs of one target: its committed corpus (at most `most` of it,
/// spread evenly over the names), then all its findings.
fn inputs(target: &str, most: usize) -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for (dir, most) in [
        (root.join("fuzz/corpus").join(target), most),
        (root.join("tests/data/fuzz").join(target), usize::MAX),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        let step = paths.len().div_ceil(most.max(1)).max(1);
        for p in paths.into_iter().step_by(step) {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            out.push((p, bytes));
        }
    }
    out
}

/// Each input through `oracle`, naming the one that fails.
fn replay(target: &str, oracle: fn(&[u8])) {
    replay_some(target, oracle, usize::MAX);
}

fn replay_some(target: &str, oracle: fn(&[u8]), most: usize) {
    let all = inputs(target, most);
    assert!(
        !all.is_empty(),
        "fuzz/corpus/{target} is empty: the corpus is kept in the repository"
    );
    for (path, bytes) in all {
        let result = std::panic::catch_unwind(|| oracle(&bytes));
        assert!(
            result.is_ok(),
            "{target}: {} fails its oracle",
            path.display()
        );
    }
}

#[test]
fn the_event_decoder_corpus_replays() {
    replay("event_decode", oracles::event_decode);
}

#[test]
fn the_journal_corpus_replays() {
    replay("journal_read", oracles::journal_read);
}

#[test]
fn the_checkpoint_corpus_replays() {
    replay("checkpoint_read", oracles::checkpoint_read);
}

/// Each input is an 8 MB index written, hashed and opened: about a quarter
/// of a second in a debug build, so a spread of 16 is replayed here
/// (`scripts/fuzz` replays them all).
#[test]
fn the_breach_index_corpus_replays() {
    replay_some("pwned_index", oracles::pwned_index, 16);
}

#[test]
fn the_range_prefix_corpus_replays() {
    replay("range_prefix", oracles::range_prefix);
}

#[test]
fn the_rules_corpus_replays() {
    replay("rules_file", oracles::rules_file);
}

#[test]
fn the_model_corpus_replays() {
    replay("model_file", oracles::model_file);
}

/// Found by `journal_read` (kept as
/// `tests/data/fuzz/journal_read/crash-ba312509…`): with `--repair-journal`,
/// a segment whose successor begins 1 to 8 bytes after it starts (too few
/// for any record, so nothing can fill it) panicked in the repair's padding
/// (`assertion failed: n > HEADER`; an index out of bounds without debug
/// assertions) instead of refusing to start.
#[test]
fn a_repair_refuses_a_gap_too_short_for_a_record_without_panicking() {
    use palisade::state::journal::Journal;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("journal-00000000000000000000.log"), b"").unwrap();
    // A whole padding record in the next segment, 4 bytes on.
    let body = [0u8];
    let mut record = 1u32.to_le_bytes().to_vec();
    record.extend(crc32fast::hash(&body).to_le_bytes());
    record.extend(body);
    std::fs::write(dir.path().join("journal-00000000000000000004.log"), record).unwrap();
    for repair in [false, true] {
        let opened = std::panic::catch_unwind(|| {
            Journal::open_at(dir.path(), 1 << 16, 0, repair).map(|_| ())
        });
        let opened = opened.unwrap_or_else(|_| panic!("the open panicked (repair {repair})"));
        assert!(opened.is_err(), "positions 0 to 4 cannot be repaired");
    }
}

/// Found by `rules_file` (kept as
/// `tests/data/fuzz/rules_file/crash-4df34951…`): a bucket whose full drain
/// (capacity - 1 leaks of `leak_interval`) passes the 584 years of the
/// limiter's u64 nanoseconds panicked in governor while the rules were
/// compiled (`Duration is longer than 584 years`), so `check`, `serve` and
/// a reload died instead of naming the rule's problem.
#[test]
fn a_bucket_too_slow_to_drain_is_a_problem_not_a_panic() {
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/brute_force.toml"),
    )
    .unwrap();
    for (capacity, leak) in [("10", "1111111110m"), ("4000000000", "1d")] {
        let text = shipped
            .replace("capacity = 10 ", &format!("capacity = {capacity} "))
            .replace(
                "leak_interval = \"30m\"",
                &format!("leak_interval = \"{leak}\""),
            );
        assert!(text.contains(leak), "the shipped rule has a leak_interval");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("brute_force.toml"), &text).unwrap();
        let clock = palisade::state::limiter::EventClock::default();
        let loaded = std::panic::catch_unwind(|| {
            palisade::detect::load_rules(Some(dir.path()), &clock, 10_000).map(|_| ())
        });
        let problems = loaded
            .unwrap_or_else(|_| panic!("compiling the rule panicked ({capacity}, {leak})"))
            .expect_err("the rule is refused");
        assert!(
            problems
                .iter()
                .any(|p| p.to_string().contains("leak_interval")),
            "{problems:?}"
        );
    }
}
