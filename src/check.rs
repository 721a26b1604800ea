//! `palisade check`: load the configuration, rules, model and databases exactly
//! as a run would, and list every problem.

use crate::config::Config;
use crate::engine::EngineParts;
use crate::problem::Problem;

/// What `check` found.
pub struct Checked {
    /// Every problem; empty when all is well.
    pub problems: Vec<Problem>,
    /// What would run, when it would.
    pub description: Option<String>,
    /// What would run but silently depends on something optional (a rule
    /// counting only events with an optional field); not a reason to refuse.
    pub warnings: Vec<Problem>,
}

/// Every problem with `config` and what it points at.
pub fn check(config: &Config) -> Checked {
    match EngineParts::from_config(config) {
        Ok(parts) => Checked {
            problems: Vec::new(),
            description: Some(parts.describe()),
            warnings: parts.rules.warnings.clone(),
        },
        Err(e) => Checked {
            problems: e.0 .0,
            description: None,
            warnings: Vec::new(),
        },
    }
}
