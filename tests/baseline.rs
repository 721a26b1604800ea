//! `palisade baseline`, driven as an operator would: history in, a checkpoint
//! out that `palisade serve` starts from, so users the history knows are not
//! new on the first day; the same history as a CSV through polars gives the
//! same profiles; bad lines are reported and counted; out-of-order input is
//! sorted; a folder with checkpoints is not overwritten without `--force`.
#![cfg(feature = "analytics")]

use std::path::Path;
use std::process::Output;

mod support;

use support::child::Serve;
use support::cli::palisade;

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36";

fn run(out: Output) -> (bool, String, String) {
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One sign-in event as JSON.
fn event(id: usize, day: u32, user: &str, device: &str, outcome: &str, label: &str) -> String {
    format!(
        r#"{{"event_id":"h-{id}","timestamp":"2026-03-{day:02}T09:{:02}:00Z","kind":"sign_in","user":"{user}","ip":"203.0.113.{}","outcome":"{outcome}","user_agent":"{CHROME}","device_id":"{device}","label":"{label}"}}"#,
        id % 60,
        id % 200 + 1
    )
}

/// Alice signs in on her laptop every day for 20 days; an attacker fails
/// against her twice and gets in once from his own device (labelled).
fn history() -> Vec<String> {
    let mut lines = Vec::new();
    for day in 1..=20 {
        lines.push(event(
            lines.len(),
            day,
            "alice",
            "laptop-a",
            "success",
            "legit",
        ));
        if day % 10 == 0 {
            lines.push(event(
                lines.len(),
                day,
                "alice",
                "evil-1",
                "failure",
                "account_takeover",
            ));
            lines.push(event(
                lines.len(),
                day,
                "alice",
                "evil-1",
                "success",
                "account_takeover",
            ));
        }
    }
    lines
}

fn write(dir: &Path, name: &str, lines: &[String]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// The decision for a sign-in of `user` on `device` the day after the history.
fn decide(s: &Serve, user: &str, device: &str) -> serde_json::Value {
    let body = format!(
        r#"{{"event_id":"q-{user}-{device}","timestamp":"2026-03-21T09:00:00Z","kind":"sign_in","user":"{user}","ip":"203.0.113.7","outcome":"attempt","user_agent":"{CHROME}","device_id":"{device}"}}"#
    );
    let (status, text) = s.call("POST", "/v1/decide", &body).unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

fn codes(d: &serde_json::Value) -> Vec<String> {
    d["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn serve_starts_from_a_baseline_and_knows_its_users() {
    let tmp = tempfile::tempdir().unwrap();
    let input = write(tmp.path(), "history.jsonl", &history());
    let (ok, stdout, stderr) = run(palisade(tmp.path())
        .arg("--data-dir")
        .arg(tmp.path().join("data"))
        .args(["baseline", "--skip-label", "account_takeover", "--input"])
        .arg(&input)
        .output()
        .unwrap());
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("24 events read"), "{stdout}");
    assert!(
        stdout.contains("20 successful sign-ins learned, 2 skipped by label, 2 other events"),
        "{stdout}"
    );
    assert!(stdout.contains("1 user profiles"), "{stdout}");

    let mut s = Serve::start_in(tmp.path(), "", &[]);
    s.wait_ready();
    assert!(
        s.log()
            .contains("checkpoint-00000000000000000000.ckpt loaded"),
        "{}",
        s.log()
    );
    let familiar = decide(&s, "alice", "laptop-a");
    let attackers = decide(&s, "alice", "evil-1");
    assert!(
        !codes(&familiar).contains(&"new_device".to_string()),
        "{familiar}"
    );
    assert!(
        codes(&attackers).contains(&"new_device".to_string()),
        "the skipped takeover's device is not a habit: {attackers}"
    );
    let score = |d: &serde_json::Value| d["risk_score"].as_f64().unwrap();
    assert!(
        score(&familiar) < score(&attackers),
        "alice on her laptop {familiar} vs on the attacker's device {attackers}"
    );
    s.kill();
}

#[test]
fn a_csv_through_polars_gives_the_same_profiles_and_bad_rows_are_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let mut lines = history();
    lines.insert(3, r#"{"event_id":"bad","kind":"sign_in"}"#.to_string());
    let jsonl = write(tmp.path(), "history.jsonl", &lines);
    let mut csv =
        String::from("event_id,timestamp,kind,user,ip,outcome,user_agent,device_id,label\n");
    for line in &lines {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        let f = |k: &str| e[k].as_str().unwrap_or_default().to_string();
        csv += &format!(
            "{},{},{},{},{},{},\"{}\",{},{}\n",
            f("event_id"),
            f("timestamp"),
            f("kind"),
            f("user"),
            f("ip"),
            f("outcome"),
            f("user_agent"),
            f("device_id"),
            f("label")
        );
    }
    let csv_path = tmp.path().join("history.csv");
    std::fs::write(&csv_path, csv).unwrap();

    let mut summaries = Vec::new();
    for (input, out) in [(&jsonl, "from-jsonl"), (&csv_path, "from-csv")] {
        let (ok, stdout, stderr) = run(palisade(tmp.path())
            .args(["baseline", "--output", out, "--input"])
            .arg(input)
            .output()
            .unwrap());
        assert!(ok, "{stdout}\n{stderr}");
        assert!(stdout.contains("24 events read"), "{stdout}");
        assert!(stdout.contains("; 1 rejected"), "{stdout}");
        // The JSONL line or the CSV line (after the header) of the bad row.
        let place = if out == "from-jsonl" {
            "line 4:"
        } else {
            "line 5:"
        };
        assert!(stderr.contains(place), "{stderr}");
        summaries.push(stdout.lines().nth(1).unwrap().to_string());
        let ckpt = tmp
            .path()
            .join(out)
            .join("checkpoint-00000000000000000000.ckpt");
        assert!(std::fs::metadata(&ckpt).unwrap().len() > 0);
    }
    assert_eq!(summaries[0], summaries[1]);
    let a = std::fs::read(
        tmp.path()
            .join("from-jsonl/checkpoint-00000000000000000000.ckpt"),
    )
    .unwrap();
    let b = std::fs::read(
        tmp.path()
            .join("from-csv/checkpoint-00000000000000000000.ckpt"),
    )
    .unwrap();
    assert_eq!(
        a, b,
        "the same history as JSONL and as CSV makes the same checkpoint"
    );
}

#[test]
fn unsorted_history_is_sorted_and_checkpoints_are_not_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let sorted = history();
    let mut shuffled = sorted.clone();
    shuffled.reverse();
    let a = write(tmp.path(), "sorted.jsonl", &sorted);
    let b = write(tmp.path(), "shuffled.jsonl", &shuffled);
    let (ok, _, stderr) = run(palisade(tmp.path())
        .args(["baseline", "--output", "a", "--input"])
        .arg(&a)
        .output()
        .unwrap());
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = run(palisade(tmp.path())
        .args(["baseline", "--output", "b", "--input"])
        .arg(&b)
        .output()
        .unwrap());
    assert!(ok, "{stderr}");
    assert!(stderr.contains("not in time order"), "{stderr}");
    let ckpt = |d: &str| {
        std::fs::read(
            tmp.path()
                .join(d)
                .join("checkpoint-00000000000000000000.ckpt"),
        )
        .unwrap()
    };
    assert_eq!(ckpt("a"), ckpt("b"), "sorted first, the same profiles");

    let (ok, _, stderr) = run(palisade(tmp.path())
        .args(["baseline", "--output", "a", "--input"])
        .arg(&a)
        .output()
        .unwrap());
    assert!(!ok);
    assert!(stderr.contains("already holds 1 checkpoint"), "{stderr}");
    let (ok, _, stderr) = run(palisade(tmp.path())
        .args(["baseline", "--force", "--output", "a", "--input"])
        .arg(&a)
        .output()
        .unwrap());
    assert!(ok, "{stderr}");
}
