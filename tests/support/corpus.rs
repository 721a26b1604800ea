//! Breach-corpus indexes built for tests.

use palisade::enrich::pwned::{build, BuildOptions, InputFormat};
use std::path::{Path, PathBuf};

/// An index with ranges, built in `dir` from `text` (a passwords list, or
/// `HASH:COUNT` lines): `{name}.txt` in, `{name}.idx` out.
pub fn index(dir: &Path, name: &str, text: &str) -> PathBuf {
    let input = dir.join(format!("{name}.txt"));
    std::fs::write(&input, text).unwrap();
    let output = dir.join(format!("{name}.idx"));
    build(&BuildOptions {
        input,
        output: output.clone(),
        range: true,
        max_malformed: 0,
        format: InputFormat::Auto,
        progress: false,
    })
    .unwrap_or_else(|e| panic!("build {name}: {e}"));
    output
}
