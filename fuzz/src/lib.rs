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

mod checkpoint;
mod event;
mod files;
mod journal;
mod pwned;
mod range;

pub use checkpoint::checkpoint_read;
pub use event::event_decode;
pub use files::{model_file, rules_file};
pub use journal::journal_read;
pub use pwned::pwned_index;
pub use range::range_prefix;

use palisade::config::Config;
use palisade::engine::EngineParts;
use std::path::{Path, PathBuf};

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
