//! The analytics commands called as library functions, in this process (no
//! binary between): simulated traffic in, the evaluation's figures and a
//! baseline's checkpoint out, and a refused configuration as a
//! [`Failure::Refused`] with exit code 64.
#![cfg(feature = "analytics")]

use palisade::analytics::baseline::{self, BaselineArgs};
use palisade::analytics::evaluate::{self, EvaluateArgs};
use palisade::analytics::history::HistoryArgs;
use palisade::analytics::simulate::{simulate, SimulateOptions};
use palisade::config::Config;
use palisade::failure::Failure;
use std::path::Path;

fn history(input: &Path) -> HistoryArgs {
    HistoryArgs {
        input: input.to_path_buf(),
        format: None,
        mapping: None,
    }
}

fn evaluate_args(input: &Path, json: &Path) -> EvaluateArgs {
    EvaluateArgs {
        history: history(input),
        json: Some(json.to_path_buf()),
        charts: None,
        compare_rules: None,
        sources: None,
        per_day: false,
    }
}

/// Three days of 1,000 users' traffic (attack campaigns scale with the
/// population), with its events per label.
fn simulated(
    dir: &Path,
) -> (
    std::path::PathBuf,
    palisade::analytics::simulate::SimulateStats,
) {
    let path = dir.join("events.jsonl");
    let opts = SimulateOptions {
        users: 1000,
        days: 3,
        seed: 7,
        ..SimulateOptions::default()
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let stats = simulate(&opts, &mut out).unwrap();
    drop(out);
    (path, stats)
}

#[test]
fn evaluate_in_process_reports_every_simulated_label() {
    let dir = tempfile::tempdir().unwrap();
    let (input, stats) = simulated(dir.path());
    let by_label = stats.by_label;
    let json = dir.path().join("figures.json");
    evaluate::run(&evaluate_args(&input, &json), &Config::default()).expect("evaluate runs");
    let figures: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(
        figures["counts"]["events"].as_u64(),
        Some(stats.events),
        "every simulated event read once"
    );
    let labels: Vec<&str> = figures["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["label"].as_str().unwrap())
        // The attack labels together.
        .filter(|l| *l != "all_attacks")
        .collect();
    assert!(labels.contains(&"legit"), "labels: {labels:?}");
    assert!(labels.len() >= 3, "legit and attacks, got {labels:?}");
    for label in &labels {
        assert!(
            by_label.contains_key(*label),
            "{label} was never simulated ({by_label:?})"
        );
    }
}

#[test]
fn a_refused_configuration_is_a_failure_with_exit_code_64() {
    let dir = tempfile::tempdir().unwrap();
    let (input, _) = simulated(dir.path());
    let config = Config {
        rules: Some(dir.path().join("no-such-rules")),
        ..Config::default()
    };
    let json = dir.path().join("figures.json");
    match evaluate::run(&evaluate_args(&input, &json), &config) {
        Err(f @ Failure::Refused(_)) => {
            assert_eq!(f.exit_code(), 64);
            assert!(
                f.to_string().contains("no-such-rules"),
                "names the folder: {f}"
            );
        }
        Err(f) => panic!("refused expected, got {f}"),
        Ok(()) => panic!("a missing rules folder was accepted"),
    }
    assert!(!json.exists(), "nothing written for a refused run");
    // An input that cannot be read is a failure of another kind (exit 1).
    let missing = dir.path().join("missing.jsonl");
    let f = evaluate::run(&evaluate_args(&missing, &json), &Config::default()).unwrap_err();
    assert!(matches!(f, Failure::Failed(_)), "{f}");
    assert_eq!(f.exit_code(), 1);
}

#[test]
fn baseline_in_process_writes_a_checkpoint_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let (input, _) = simulated(dir.path());
    let out = dir.path().join("checkpoints");
    let args = |force| BaselineArgs {
        history: history(&input),
        skip_labels: vec!["credential_stuffing".into()],
        output: Some(out.clone()),
        force,
    };
    baseline::run(&args(false), &Config::default()).expect("baseline runs");
    let written: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert_eq!(written.len(), 1, "one checkpoint: {written:?}");
    assert!(
        std::fs::metadata(written[0].as_ref().unwrap().path())
            .unwrap()
            .len()
            > 1000
    );
    let again = baseline::run(&args(false), &Config::default()).unwrap_err();
    assert!(again.to_string().contains("already holds"), "{again}");
    baseline::run(&args(true), &Config::default()).expect("--force writes beside it");
}
