//! `palisade evaluate`, driven as an operator would: simulated history in, the
//! table, JSON and charts out; a backtest with one rule removed; and a CSV with
//! bad rows, each reported by line and counted while the rest are evaluated.
//! Each test runs in its own temporary folder with no `PALISADE_*` variables.

use serde_json::Value;

mod support;

use support::cli::{label, ok, palisade, repo, simulate};

#[test]
fn simulate_then_evaluate_prints_the_table_and_writes_json_and_charts() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = simulate(tmp.path(), "1000", "3");
    let (stdout, _) = ok(palisade(tmp.path())
        .args(["--rules"])
        .arg(repo("rules"))
        .args(["evaluate", "--input"])
        .arg(&sim)
        .args(["--json", "out.json", "--charts", "charts"])
        .output()
        .unwrap());
    for l in [
        "legit (friction)",
        "brute_force",
        "credential_stuffing",
        "password_spray",
        "all_attacks",
        "ROC AUC",
        "TPR@1%",
        "RSR",
    ] {
        assert!(stdout.contains(l), "no {l:?} in the table:\n{stdout}");
    }
    let json: Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("out.json")).unwrap()).unwrap();
    assert!(json["counts"]["scored"].as_u64().unwrap() > 1000, "{json}");
    assert_eq!(json["counts"]["rejected"], 0);
    let labels = &json["labels"];
    for l in labels.as_array().unwrap() {
        let rate = l["flagged_rate"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&rate), "{l}");
        if let Some(auc) = l.get("roc_auc") {
            assert!((0.0..=1.0).contains(&auc.as_f64().unwrap()), "{l}");
        }
    }
    let friction = label(labels, "legit")["flagged_rate"].as_f64().unwrap();
    assert!(
        friction < 0.2,
        "legitimate users challenged or blocked {friction}"
    );
    let brute = label(labels, "brute_force");
    assert!(brute["flagged_rate"].as_f64().unwrap() > 0.3, "{brute}");
    for png in ["roc.png", "scores.png"] {
        let bytes = std::fs::read(tmp.path().join("charts").join(png)).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{png} is not a PNG"
        );
        assert!(bytes.len() > 10_000, "{png} is only {} bytes", bytes.len());
    }
}

#[test]
fn a_backtest_shows_what_removing_a_rule_would_have_done() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = simulate(tmp.path(), "1000", "3");
    let changed = tmp.path().join("changed-rules");
    std::fs::create_dir(&changed).unwrap();
    for entry in std::fs::read_dir(repo("rules")).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() != "password_spray.toml" {
            std::fs::copy(&path, changed.join(path.file_name().unwrap())).unwrap();
        }
    }
    let (stdout, _) = ok(palisade(tmp.path())
        .args(["--rules"])
        .arg(repo("rules"))
        .args(["evaluate", "--input"])
        .arg(&sim)
        .args(["--json", "out.json", "--compare-rules"])
        .arg(&changed)
        .output()
        .unwrap());
    assert!(stdout.contains("backtest"), "{stdout}");
    let json: Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("out.json")).unwrap()).unwrap();
    let diff = &json["compare"]["difference"];
    let spray = label(diff, "password_spray")["flagged_rate"]
        .as_f64()
        .unwrap();
    assert!(
        spray < -0.1,
        "removing password_spray changed its detection by {spray}\n{stdout}"
    );
    let brute = label(diff, "brute_force")["flagged_rate"].as_f64().unwrap();
    assert!(brute.abs() < 0.05, "brute force moved by {brute}\n{stdout}");
}

#[test]
fn bad_rows_in_a_csv_are_reported_by_line_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = "event_id,timestamp,kind,user,ip,outcome,label\n\
        a,2026-01-05T10:00:00Z,sign_in,alice,192.0.2.1,success,legit\n\
        b,2026-01-05T10:01:00Z,sign_in,bob,300.1.2.3,failure,brute_force\n\
        c,yesterday,sign_in,carol,192.0.2.3,success,legit\n\
        d,2026-01-05T10:03:00Z,sign_in,dave,192.0.2.4,failure,brute_force\n";
    std::fs::write(tmp.path().join("in.csv"), csv).unwrap();
    let (stdout, stderr) = ok(palisade(tmp.path())
        .args(["--rules"])
        .arg(repo("rules"))
        .args(["evaluate", "--input", "in.csv", "--json", "out.json"])
        .output()
        .unwrap());
    assert!(stderr.contains("line 3: ip \"300.1.2.3\""), "{stderr}");
    assert!(
        stderr.contains("line 4: timestamp \"yesterday\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("2 rows could not become events"),
        "{stderr}"
    );
    assert!(stdout.contains("2 bad rows rejected"), "{stdout}");
    let json: Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("out.json")).unwrap()).unwrap();
    assert_eq!(json["counts"]["rejected"], 2);
    assert_eq!(json["counts"]["scored"], 2);
    assert_eq!(label(&json["labels"], "legit")["events"], 1);
    assert_eq!(label(&json["labels"], "brute_force")["events"], 1);
}

#[test]
fn a_bad_line_in_contract_jsonl_is_reported_and_the_rest_evaluated() {
    let tmp = tempfile::tempdir().unwrap();
    let jsonl = r#"{"event_id":"1","timestamp":"2026-01-05T10:00:00Z","kind":"sign_in","user":"a","ip":"192.0.2.1","outcome":"success","label":"legit"}
not json
{"event_id":"3","timestamp":"2026-01-05T10:01:00Z","kind":"sign_in","user":"b","ip":"192.0.2.2","outcome":"failure","label":"brute_force"}
"#;
    std::fs::write(tmp.path().join("in.jsonl"), jsonl).unwrap();
    let (stdout, stderr) = ok(palisade(tmp.path())
        .args(["--rules"])
        .arg(repo("rules"))
        .args(["evaluate", "--input", "in.jsonl"])
        .output()
        .unwrap());
    assert!(stderr.contains("line 2:"), "{stderr}");
    assert!(stdout.contains("1 bad rows rejected"), "{stdout}");
}
