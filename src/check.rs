//! `palisade check`: load the configuration, rules, model and databases exactly
//! as a run would, and list every problem.

use crate::config::Config;
use crate::engine::EngineParts;
use crate::problem::Problem;

/// Every problem with `config` and what it points at; empty when all is well,
/// in which case the second value describes what would run.
pub fn check(config: &Config) -> (Vec<Problem>, Option<String>) {
    match EngineParts::from_config(config) {
        Ok(parts) => (Vec::new(), Some(parts.describe())),
        Err(e) => (e.0 .0, None),
    }
}
