//! The real binary as an operator runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

/// The run's stdout and stderr, after asserting it succeeded.
pub fn ok(out: Output) -> (String, String) {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    (stdout, stderr)
}

/// The run's stderr, after asserting it failed.
pub fn failed(out: Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "expected a failure; stderr:\n{stderr}"
    );
    stderr
}

/// `palisade simulate` into `sim-USERS-DAYS.jsonl` in `dir`.
pub fn simulate(dir: &Path, users: &str, days: &str) -> PathBuf {
    let path = dir.join(format!("sim-{users}-{days}.jsonl"));
    ok(palisade(dir)
        .args(["simulate", "--users", users, "--days", days, "--output"])
        .arg(&path)
        .output()
        .unwrap());
    path
}

/// One label's figures in a report's JSON `labels` array.
pub fn label<'a>(labels: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    labels
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["label"] == name)
        .unwrap_or_else(|| panic!("no label {name} in {labels}"))
}
