//! The real binary as an operator runs it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A path inside the repository.
pub fn repo(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(sub)
}

/// The binary, run in `cwd` (so no `./rules` or `./models` is picked up by
/// accident) with none of the environment's `PALISADE_*` settings.
pub fn palisade(cwd: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_palisade"));
    c.current_dir(cwd);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PALISADE_") {
            c.env_remove(k);
        }
    }
    c
}
