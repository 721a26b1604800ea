//! The one validation `palisade check` and `palisade serve` share: load the
//! configuration, rules, model and databases exactly as a run would, find
//! the API keys as `serve` would (creating nothing), and list every problem.
//! `check` fails whenever `serve` would refuse to start on the same
//! configuration; what only a running server meets (an address in use, a
//! damaged journal) is `serve`'s to report.

use crate::config::Config;
use crate::engine::EngineParts;
use crate::problem::Problem;
use std::path::Path;

/// What `check` found.
pub struct Checked {
    /// Every problem; empty when all is well.
    pub problems: Vec<Problem>,
    /// The engine's parts, when they load.
    pub parts: Option<EngineParts>,
    /// What would run but silently depends on something optional (a rule
    /// counting only events with an optional field); not a reason to refuse.
    pub warnings: Vec<Problem>,
}

impl Checked {
    /// What would run, when it would.
    pub fn description(&self) -> Option<String> {
        self.problems
            .is_empty()
            .then(|| self.parts.as_ref().map(EngineParts::describe))
            .flatten()
    }
}

/// Every problem with `config` and what it points at.
pub fn check(config: &Config) -> Checked {
    let mut problems = Vec::new();
    let (parts, warnings) = match EngineParts::from_config(config) {
        Ok(parts) => {
            let warnings = parts.rules.warnings.clone();
            (Some(parts), warnings)
        }
        Err(e) => {
            problems.extend(e.0 .0);
            (None, Vec::new())
        }
    };
    // The config file's values were checked when it was read; flags and
    // environment variables may have changed them since.
    for (_, _, message) in config.problems() {
        problems.push(Problem::new(Path::new("config"), None, message));
    }
    let server = Path::new("server");
    let s = &config.server;
    let data_dir = config.data_dir();
    for message in crate::serve::auth::problems(&s.api_keys, s.api_keys_file.as_deref(), &data_dir)
    {
        problems.push(Problem::new(server, None, message));
    }
    if data_dir.exists() && !data_dir.is_dir() {
        problems.push(Problem::new(
            Path::new("config"),
            None,
            format!("data_dir {} is not a folder", data_dir.display()),
        ));
    }
    Checked {
        problems,
        parts,
        warnings,
    }
}
