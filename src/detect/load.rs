//! Loading a rule set: every `*.toml` in the rules folder (or the rules built
//! into the binary), decoded, checked and compiled. A set with any problem is
//! rejected whole, with every problem listed.

use super::compile::{compile, Source};
use super::spec::RuleSpec;
use super::Detector;
use crate::problem::Problem;
use crate::state::limiter::EventClock;
use sha1::{Digest, Sha1};
use std::path::{Path, PathBuf};

/// The shipped rules, built into the binary: what runs when there is no rules
/// folder. `tests/rules.rs` checks this list against `rules/`.
pub const EMBEDDED_RULES: &[(&str, &str)] = &[
    (
        "asn_velocity.toml",
        include_str!("../../rules/asn_velocity.toml"),
    ),
    (
        "brute_force.toml",
        include_str!("../../rules/brute_force.toml"),
    ),
    (
        "ip_velocity_high.toml",
        include_str!("../../rules/ip_velocity_high.toml"),
    ),
    (
        "network_velocity.toml",
        include_str!("../../rules/network_velocity.toml"),
    ),
    (
        "password_spray.toml",
        include_str!("../../rules/password_spray.toml"),
    ),
    (
        "slow_brute_force.toml",
        include_str!("../../rules/slow_brute_force.toml"),
    ),
    (
        "user_enumeration.toml",
        include_str!("../../rules/user_enumeration.toml"),
    ),
    (
        "user_lockout.toml",
        include_str!("../../rules/user_lockout.toml"),
    ),
];

/// A compiled rule set and the version that names it in decisions.
pub struct RuleSet {
    pub detectors: Vec<Detector>,
    /// `rules-` and the first 12 hex digits of a SHA-1 over every file's name and
    /// content, so any edit changes it.
    pub version: String,
    /// Where the rules came from, for the startup line.
    pub origin: String,
    /// What rules silently depend on (optional fields), as `FILE:LINE:`
    /// problems whose message starts with `warning:`; the set still loads.
    pub warnings: Vec<Problem>,
}

/// Loads `dir`, or the embedded rules when `dir` is `None`.
pub fn load_rules(
    dir: Option<&Path>,
    clock: &EventClock,
    max_keys: usize,
) -> Result<RuleSet, Vec<Problem>> {
    let files: Vec<(PathBuf, String)> = match dir {
        None => EMBEDDED_RULES
            .iter()
            .map(|(name, text)| (Path::new("rules").join(name), text.to_string()))
            .collect(),
        Some(dir) => read_dir(dir)?,
    };
    let mut problems = Vec::new();
    let mut detectors = Vec::new();
    let mut warnings = Vec::new();
    let mut hasher = Sha1::new();
    for (path, text) in &files {
        hasher.update(
            path.file_name()
                .map(|n| n.as_encoded_bytes())
                .unwrap_or_default(),
        );
        hasher.update([0]);
        hasher.update(text.as_bytes());
        hasher.update([0]);
        let spec: RuleSpec = match toml::from_str(text) {
            Ok(s) => s,
            Err(e) => {
                problems.push(Problem::from_toml(path, text, &e));
                continue;
            }
        };
        match compile(&spec, &Source { file: path, text }, clock, max_keys) {
            Ok((d, mut w)) => {
                detectors.push(d);
                warnings.append(&mut w);
            }
            Err(mut p) => problems.append(&mut p),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let digest = hasher.finalize();
    Ok(RuleSet {
        detectors,
        warnings,
        version: format!("rules-{}", &hex::encode(digest)[..12]),
        origin: match dir {
            None => format!("{} built-in rules", files.len()),
            Some(d) => format!("{} rules from {}", files.len(), d.display()),
        },
    })
}

fn read_dir(dir: &Path) -> Result<Vec<(PathBuf, String)>, Vec<Problem>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        vec![Problem::new(
            dir,
            None,
            format!("cannot read the rules folder: {e}"),
        )]
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(vec![Problem::new(
            dir,
            None,
            "the rules folder holds no *.toml rule",
        )]);
    }
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for p in paths {
        match std::fs::read_to_string(&p) {
            Ok(t) => files.push((p, t)),
            Err(e) => problems.push(Problem::new(&p, None, format!("cannot read: {e}"))),
        }
    }
    if problems.is_empty() {
        Ok(files)
    } else {
        Err(problems)
    }
}
