//! Rules as data, tested as data: every folder in `tests/fixtures/` holds
//! `events.jsonl` and `expected.jsonl` (and optionally `config.toml`); this test
//! replays each through a fresh engine on the shipped rules and model and checks
//! the expectations. Every rule in `rules/` must be exercised by some case.

use palisade::config::Config;
use palisade::detect::EMBEDDED_RULES;
use palisade::engine::Engine;
use palisade::event::{Decision, Event};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    event_id: String,
    action: Option<String>,
    #[serde(default)]
    reasons: Vec<String>,
    #[serde(default)]
    absent: Vec<String>,
    enforced: Option<bool>,
    audit_action: Option<String>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The case's config on top of the shipped rules and model; `None` (with a SKIP
/// line) when it needs a database that is not here.
fn case_config(dir: &Path) -> Option<Config> {
    let mut config = match std::fs::read_to_string(dir.join("config.toml")) {
        Ok(text) => {
            toml::from_str::<Config>(&text).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        }
        Err(_) => Config::default(),
    };
    config.rules.get_or_insert(root().join("rules"));
    config.models.get_or_insert(root().join("models"));
    for db in [
        &mut config.geoip.city,
        &mut config.geoip.asn,
        &mut config.geoip.anonymous,
    ]
    .into_iter()
    .flatten()
    {
        *db = root().join(&*db);
        if !db.exists() {
            eprintln!(
                "SKIP: fixture {}: {} not found",
                dir.display(),
                db.display()
            );
            return None;
        }
    }
    Some(config)
}

fn run_case(dir: &Path) -> Option<Vec<(Decision, Expected)>> {
    let config = case_config(dir)?;
    let mut engine =
        Engine::from_config(&config).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let events = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    let mut decisions = std::collections::HashMap::new();
    for (i, line) in events.lines().enumerate() {
        let e = Event::from_json(line.as_bytes())
            .unwrap_or_else(|err| panic!("{}:{}: {err}", dir.display(), i + 1));
        decisions.insert(e.event_id.clone(), engine.evaluate(&e));
    }
    let expected = std::fs::read_to_string(dir.join("expected.jsonl")).unwrap();
    let mut out = Vec::new();
    for (i, line) in expected.lines().enumerate() {
        let x: Expected = serde_json::from_str(line)
            .unwrap_or_else(|err| panic!("{}/expected.jsonl:{}: {err}", dir.display(), i + 1));
        let d = decisions
            .get(&x.event_id)
            .unwrap_or_else(|| panic!("{}: no event {}", dir.display(), x.event_id))
            .clone();
        out.push((d, x));
    }
    assert!(
        !out.is_empty(),
        "{}: expected.jsonl is empty",
        dir.display()
    );
    Some(out)
}

fn check(dir: &Path, d: &Decision, x: &Expected) -> Vec<String> {
    let mut failures = Vec::new();
    let codes: BTreeSet<&str> = d.reasons.iter().map(|r| r.code.as_ref()).collect();
    let here = format!(
        "{} event {}",
        dir.file_name().unwrap().to_string_lossy(),
        x.event_id
    );
    if let Some(a) = &x.action {
        if d.action.as_str() != a {
            failures.push(format!(
                "{here}: action {} expected {a}; reasons {codes:?}",
                d.action.as_str()
            ));
        }
    }
    for r in &x.reasons {
        if !codes.contains(r.as_str()) {
            failures.push(format!("{here}: reason {r} missing from {codes:?}"));
        }
    }
    for r in &x.absent {
        if codes.contains(r.as_str()) {
            failures.push(format!(
                "{here}: reason {r} present but should not be: {:?}",
                d.reasons
            ));
        }
    }
    if let Some(e) = x.enforced {
        if d.enforced != e {
            failures.push(format!("{here}: enforced {} expected {e}", d.enforced));
        }
    }
    if let Some(a) = &x.audit_action {
        if d.audit_action.map(|a| a.as_str()) != Some(a.as_str()) {
            failures.push(format!(
                "{here}: audit_action {:?} expected {a}",
                d.audit_action
            ));
        }
    }
    failures
}

fn rule_ids() -> BTreeSet<String> {
    std::fs::read_dir(root().join("rules"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn every_fixture_case_holds_and_every_rule_has_one() {
    let mut failures = Vec::new();
    let mut covered = BTreeSet::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("tests/fixtures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in &dirs {
        // A case names its rules in its expectations; a skipped case still
        // counts as the rule's case (it runs wherever the database is).
        let expected = std::fs::read_to_string(dir.join("expected.jsonl")).unwrap();
        for line in expected.lines() {
            let x: Expected = serde_json::from_str(line).unwrap();
            covered.extend(x.reasons);
        }
        let Some(results) = run_case(dir) else {
            continue;
        };
        for (d, x) in &results {
            failures.extend(check(dir, d, x));
        }
    }
    let uncovered: Vec<String> = rule_ids()
        .into_iter()
        .filter(|id| !covered.contains(id))
        .collect();
    assert!(
        uncovered.is_empty(),
        "rules without a fixture case expecting them: {uncovered:?}"
    );
    assert!(
        failures.is_empty(),
        "{} expectation(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_built_in_rules_are_exactly_the_rules_folder() {
    let embedded: BTreeSet<String> = EMBEDDED_RULES
        .iter()
        .map(|(name, _)| name.trim_end_matches(".toml").to_string())
        .collect();
    assert_eq!(
        embedded,
        rule_ids(),
        "update EMBEDDED_RULES in src/detect/load.rs"
    );
    for (name, text) in EMBEDDED_RULES {
        let on_disk = std::fs::read_to_string(root().join("rules").join(name)).unwrap();
        assert_eq!(&on_disk, text, "{name}");
    }
}

#[test]
fn a_fixture_expectation_can_fail() {
    // The checker itself: a wrong expectation must be reported.
    let dir = root().join("tests/fixtures/brute_force");
    let results = run_case(&dir).unwrap();
    let (d, _) = results.iter().find(|(_, x)| x.event_id == "bf10").unwrap();
    let wrong = Expected {
        event_id: "bf10".into(),
        action: Some("allow".into()),
        reasons: vec!["password_spray".into()],
        absent: vec!["brute_force".into()],
        enforced: Some(false),
        audit_action: None,
    };
    assert_eq!(check(&dir, d, &wrong).len(), 4);
}
