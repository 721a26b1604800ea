//! The real `palisade` binary, driven as an operator would: `check` on broken and
//! intact rule folders and config files (every problem as `FILE:LINE: message`,
//! exit 64), `replay` on a mix of good and bad lines (one decision per good
//! line, in order; every bad line reported with its number; a correct summary),
//! `simulate | replay` determinism, and `replay --input/--output`. Each test runs
//! in its own temporary folder with no `PALISADE_*` variables set.

use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

mod support;

use support::cli::{palisade, repo};

/// Runs with `input` on stdin.
fn run(c: &mut Command, input: &[u8]) -> Output {
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("the palisade binary runs");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // Written from a thread so a full stdout pipe cannot deadlock us.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn copy_rules(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(repo("rules")).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

/// Replaces the first line of `file` that starts with `prefix` by `new`;
/// returns its 1-based number.
fn edit_line(file: &Path, prefix: &str, new: &str) -> usize {
    let src = std::fs::read_to_string(file).unwrap();
    let mut lines: Vec<String> = src.lines().map(String::from).collect();
    let i = lines
        .iter()
        .position(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("{} has no line starting {prefix:?}", file.display()));
    lines[i] = new.to_string();
    std::fs::write(file, lines.join("\n") + "\n").unwrap();
    i + 1
}

/// The output line reporting a problem at `file:line`, if there is one.
fn problem_at<'a>(out: &'a str, file: &Path, line: usize) -> Option<&'a str> {
    let prefix = format!("{}:{line}: ", file.display());
    out.lines().find(|l| l.starts_with(&prefix))
}

#[test]
fn check_reports_every_broken_rule_file_with_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = tmp.path().join("rules");
    copy_rules(&rules);

    let ok = run(
        palisade(tmp.path()).args(["check", "--rules"]).arg(&rules),
        b"",
    );
    let stdout = text(&ok.stdout);
    assert_eq!(ok.status.code(), Some(0), "{stdout}{}", text(&ok.stderr));
    // The shipped spray rule counts by the password's hash, an optional
    // field: check says so, and still passes.
    let spray = rules.join("password_spray.toml");
    let warning = problem_at(&stdout, &spray, 11).expect("a warning for password_spray");
    assert!(
        warning.contains("warning: rule password_spray: counts only events that carry the optional `password_sha1`"),
        "{warning}"
    );
    let last = stdout.lines().last().unwrap_or("");
    assert!(last.starts_with("ok: "), "{stdout}");
    assert!(last.contains("8 rules from"), "{stdout}");
    assert!(
        last.contains("(2 depend on optional fields: `palisade check` says which)"),
        "{stdout}"
    );

    let syntax = rules.join("brute_force.toml");
    let syntax_line = edit_line(&syntax, "capacity", "capacity = = 10");
    let value = rules.join("password_spray.toml");
    let value_line = edit_line(&value, "capacity", "capacity = 0");
    let unknown = rules.join("user_enumeration.toml");
    let unknown_line = edit_line(&unknown, "leak_interval", "leak_intervall = \"1m\"");

    let out = run(
        palisade(tmp.path()).args(["check", "--rules"]).arg(&rules),
        b"",
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(64), "{stdout}{}", text(&out.stderr));
    problem_at(&stdout, &syntax, syntax_line)
        .unwrap_or_else(|| panic!("no syntax error at line {syntax_line}:\n{stdout}"));
    let p = problem_at(&stdout, &value, value_line)
        .unwrap_or_else(|| panic!("no capacity error at line {value_line}:\n{stdout}"));
    assert!(p.contains("capacity") && p.contains("got 0"), "{p}");
    let p = problem_at(&stdout, &unknown, unknown_line)
        .unwrap_or_else(|| panic!("no unknown-key error at line {unknown_line}:\n{stdout}"));
    assert!(p.contains("leak_intervall"), "{p}");
    // Nothing about the intact files, and the count at the end.
    let reported = stdout.lines().filter(|l| l.contains(".toml:")).count();
    assert_eq!(reported, 3, "{stdout}");
    assert!(stdout.contains("3 problems found"), "{stdout}");
    assert!(!stdout.contains("ok:"), "{stdout}");
}

#[test]
fn a_config_with_an_unknown_key_is_rejected_at_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("palisade.toml");
    std::fs::write(
        &cfg,
        "mode = \"audit\"\n\n[geoip]\ncity = \"x.mmdb\"\ncity_db = \"y.mmdb\"\n",
    )
    .unwrap();
    let out = run(
        palisade(tmp.path()).arg("--config").arg(&cfg).arg("check"),
        b"",
    );
    let all = text(&out.stdout) + &text(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{all}");
    let p = problem_at(&all, &cfg, 5).unwrap_or_else(|| panic!("no problem at line 5:\n{all}"));
    assert!(p.contains("city_db"), "{p}");

    // A bad value is reported at its line too, and with it every other one.
    std::fs::write(
        &cfg,
        "hash_key = \"abc\"\n[limits]\nmax_profiles = 0\nmemory_budget = \"lots\"\n[ip_lists]\ndeny = [\"10.0.0.0/99\"]\n",
    )
    .unwrap();
    let out = run(
        palisade(tmp.path()).arg("--config").arg(&cfg).arg("check"),
        b"",
    );
    let all = text(&out.stdout) + &text(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{all}");
    for (line, word) in [
        (1, "hash_key"),
        (3, "max_profiles"),
        (4, "limits.memory_budget: \"lots\" is not a size"),
        (6, "10.0.0.0/99"),
    ] {
        let p = problem_at(&all, &cfg, line).unwrap_or_else(|| panic!("no line {line}:\n{all}"));
        assert!(p.contains(word), "{p}");
    }
}

#[test]
fn caps_that_could_exceed_the_memory_budget_are_refused_naming_the_largest() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("palisade.toml");
    let check = |limits: &str| {
        std::fs::write(&cfg, format!("[limits]\n{limits}")).unwrap();
        let out = run(
            palisade(tmp.path()).arg("--config").arg(&cfg).arg("check"),
            b"",
        );
        (out.status.code(), text(&out.stdout) + &text(&out.stderr))
    };
    let (code, all) = check("max_profiles = 4000000\nmemory_budget = \"512 MiB\"\n");
    assert_eq!(code, Some(64), "{all}");
    assert!(
        all.contains("limits.memory_budget is 512.0 MiB, but the caps let the state reach"),
        "{all}"
    );
    // The default caps are large; what dominates is named, largest first.
    assert!(all.contains("at worst (rule keys "), "{all}");

    let small = "max_profiles = 1000\nmax_keys_per_rule = 1000\nmax_enforcements = 1000\n\
                 max_fraud_marked_users = 1000\nmax_history_users = 1000\nmax_frequency_values = 1000\n\
                 recent_event_ids = 1000\nmax_source_keys = 1000\nmax_offenders = 1000\n\
                 memory_budget = \"256 MiB\"\n";
    let (code, all) = check(small);
    assert_eq!(code, Some(0), "{all}");
    assert!(all.contains("(budget 256.0 MiB)"), "{all}");
}

#[test]
fn a_config_with_every_section_is_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("palisade.toml");
    let body = format!(
        r#"rules = {rules}
models = {models}
model = "risk-v2"
data_dir = {data}
mode = "audit"
hash_key = "000102030405060708090a0b0c0d0e0f"

[geoip]

[ip_lists]
allow = ["10.0.0.0/8", "192.0.2.1"]
deny = ["198.51.100.248/29", "2001:db8::/32", "203.0.113.9"]

[feedback]
block = ["user_ip", "network"]
block_duration = "12h"
require_password_reset = false

[limits]
max_profiles = 1000
max_keys_per_rule = 1000
max_source_keys = 1000
max_offenders = 1000
max_user_agents = 100
max_frequency_values = 1000
max_enforcements = 1000
max_fraud_marked_users = 1000
history_per_user = 10
max_history_users = 1000
memory_budget = "1 GiB"
"#,
        rules = toml_str(&repo("rules")),
        models = toml_str(&repo("models")),
        data = toml_str(&tmp.path().join("data")),
    );
    std::fs::write(&cfg, body).unwrap();
    let out = run(
        palisade(tmp.path()).arg("--config").arg(&cfg).arg("check"),
        b"",
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.lines().last().unwrap_or("").starts_with("ok: "),
        "{stdout}"
    );
    assert!(stdout.contains("mode audit"), "{stdout}");
    assert!(
        stdout.contains("2 allow-listed and 3 deny-listed"),
        "{stdout}"
    );
}

fn toml_str(p: &Path) -> String {
    toml::Value::String(p.display().to_string()).to_string()
}

fn event(id: &str, extra: &str) -> String {
    format!(
        r#"{{"event_id":"{id}","timestamp":"2026-03-02T09:00:00Z","kind":"sign_in","user":"u-{id}@example.com","ip":"203.0.113.7","outcome":"success"{extra}}}"#
    )
}

/// A valid event padded (with an unknown field) to exactly `len` bytes.
fn event_of_len(id: &str, len: usize) -> String {
    let bare = event(id, r#","pad":"""#);
    let pad = "p".repeat(len - bare.len());
    let e = event(id, &format!(r#","pad":"{pad}""#));
    assert_eq!(e.len(), len);
    e
}

fn decisions(stdout: &[u8]) -> Vec<Value> {
    text(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn replay_decides_good_lines_and_reports_bad_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let max = palisade::event::MAX_EVENT_BYTES;
    let lines: Vec<String> = vec![
        event("g1", ""),                                              // 1
        r#"{"event_id":"x1","kind":"sign_in","#.to_string(),          // 2 malformed
        event("g2", r#","user_agent":"curl/8.0""#),                   // 3
        event("x2", "").replace("203.0.113.7", "999.1.1.1"),          // 4 bad ip
        String::new(),                                                // 5 blank
        event("x3", "").replace(r#""user":"u-x3@example.com","#, ""), // 6 no user
        event_of_len("x4", max + 1),                                  // 7 too long
        event_of_len("g3", max),                                      // 8 just fits
        "   \t".to_string(),                                          // 9 blank
        event("x5", r#","failure_reason":"bad_password""#),           // 10 success with a reason
        event("g4", r#","surprise":{"nested":[1,2]}"#),               // 11 unknown field
    ];
    let input = lines.join("\n");
    let out = run(
        palisade(tmp.path())
            .arg("replay")
            .arg("--rules")
            .arg(repo("rules"))
            .arg("--models")
            .arg(repo("models")),
        input.as_bytes(),
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");

    let ids: Vec<String> = decisions(&out.stdout)
        .iter()
        .map(|d| d["event_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["g1", "g2", "g3", "g4"], "{stderr}");

    let reports: Vec<&str> = stderr.lines().filter(|l| l.starts_with("line ")).collect();
    let numbers: Vec<&str> = reports
        .iter()
        .map(|l| l["line ".len()..].split(':').next().unwrap())
        .collect();
    assert_eq!(numbers, ["2", "4", "6", "7", "10"], "{stderr}");
    assert!(
        reports[1].contains("`ip`") && reports[1].contains("999.1.1.1"),
        "{}",
        reports[1]
    );
    assert!(
        reports[2].contains("`user`") && reports[2].contains("required"),
        "{}",
        reports[2]
    );
    assert!(reports[3].contains(&max.to_string()), "{}", reports[3]);
    assert!(reports[4].contains("`failure_reason`"), "{}", reports[4]);

    let summary = stderr
        .lines()
        .find(|l| l.starts_with("replayed "))
        .unwrap_or_else(|| panic!("no summary:\n{stderr}"));
    assert!(summary.starts_with("replayed 4 events "), "{summary}");
    assert!(summary.ends_with("; 5 rejected lines"), "{summary}");
    assert_eq!(
        stderr.lines().last(),
        Some(summary),
        "the summary closes stderr"
    );
}

fn simulate(cwd: &Path, seed: &str) -> Vec<u8> {
    let out = run(
        palisade(cwd).args(["simulate", "--users", "1000", "--days", "3", "--seed", seed]),
        b"",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    out.stdout
}

fn replay_stdin(cwd: &Path, input: &[u8]) -> Output {
    let out = run(
        palisade(cwd)
            .arg("replay")
            .arg("--rules")
            .arg(repo("rules"))
            .arg("--models")
            .arg(repo("models")),
        input,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    out
}

#[test]
fn simulate_then_replay_is_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    let events = simulate(tmp.path(), "7");
    assert_eq!(
        events,
        simulate(tmp.path(), "7"),
        "simulate is deterministic"
    );
    let n = text(&events).lines().count();
    assert!(n > 1000, "only {n} events");

    let first = replay_stdin(tmp.path(), &events);
    let second = replay_stdin(tmp.path(), &events);
    assert!(first.stdout == second.stdout, "two replays differ");
    let decided = decisions(&first.stdout);
    assert_eq!(decided.len(), n);
    let stderr = text(&first.stderr);
    assert!(
        stderr.contains(&format!("replayed {n} events ")) && stderr.contains("; 0 rejected lines"),
        "{stderr}"
    );
    // Attacks are in the run, so the comparison covers blocks and rule reasons.
    let blocked = decided.iter().filter(|d| d["action"] == "block").count();
    assert!(blocked > 0, "no blocks in {n} decisions");
    // Decision i answers event i.
    for (line, d) in text(&events).lines().zip(&decided) {
        let e: Value = serde_json::from_str(line).unwrap();
        assert_eq!(e["event_id"], d["event_id"]);
    }

    let other = simulate(tmp.path(), "8");
    assert_ne!(events, other, "another seed, other events");
    let other_out = replay_stdin(tmp.path(), &other);
    assert!(
        first.stdout != other_out.stdout,
        "another seed, same decisions"
    );
}

#[test]
fn replay_reads_and_writes_files() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("events.jsonl");
    let output = tmp.path().join("decisions.jsonl");
    let body = [
        event("f1", ""),
        event("f2", ""),
        "{".to_string(),
        event("f3", ""),
    ]
    .join("\n")
        + "\n";
    std::fs::write(&input, &body).unwrap();

    let mut c = palisade(tmp.path());
    c.arg("replay")
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(&output);
    let out = run(&mut c, b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "decisions went to stdout too");
    let written = std::fs::read(&output).unwrap();
    let ids: Vec<Value> = decisions(&written)
        .iter()
        .map(|d| d["event_id"].clone())
        .collect();
    assert_eq!(ids, ["f1", "f2", "f3"]);
    assert!(
        text(&out.stderr).contains("line 3: "),
        "{}",
        text(&out.stderr)
    );
    // The same decisions as from stdin to stdout.
    let piped = run(palisade(tmp.path()).arg("replay"), body.as_bytes());
    assert_eq!(written, piped.stdout);

    let missing = tmp.path().join("no-such-events.jsonl");
    let mut c = palisade(tmp.path());
    c.arg("replay").arg("--input").arg(&missing);
    let out = run(&mut c, b"");
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    assert!(out.stdout.is_empty());
}

/// A time the parser accepts (RFC 3339 runs to year 9999) but past what the
/// event clock's nanoseconds hold (2554-07-21): a decision or a reported
/// rejection, never a crash.
#[test]
fn replay_survives_a_far_future_timestamp() {
    let tmp = tempfile::tempdir().unwrap();
    let e = event("late", r#","failure_reason":"bad_password""#)
        .replace("2026-03-02T09:00:00Z", "2600-01-01T00:00:00Z")
        .replace("\"success\"", "\"failure\"");
    let out = run(palisade(tmp.path()).arg("replay"), e.as_bytes());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let answered = decisions(&out.stdout).len() + stderr.matches("line 1: ").count();
    assert_eq!(answered, 1, "{stderr}");
}

/// The sum of a metric's samples (Prometheus text) whose line contains `filter`.
fn sample_sum(text: &str, name: &str, filter: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(filter))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn replay_with_metrics_counts_what_serve_would_export() {
    let tmp = tempfile::tempdir().unwrap();
    let events = simulate(tmp.path(), "3");
    let metrics = tmp.path().join("replay.prom");
    let out = run(
        palisade(tmp.path())
            .arg("replay")
            .arg("--metrics")
            .arg(&metrics),
        &events,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let decided = decisions(&out.stdout);
    let prom = std::fs::read_to_string(&metrics).unwrap();
    let n = decided.len() as f64;
    assert_eq!(sample_sum(&prom, "palisade_decisions_total{", ""), n);
    assert_eq!(sample_sum(&prom, "palisade_events_total{", ""), n);
    let blocks = decided.iter().filter(|d| d["action"] == "block").count() as f64;
    assert_eq!(
        sample_sum(&prom, "palisade_decisions_total{", "action=\"block\""),
        blocks
    );
    assert_eq!(
        sample_sum(&prom, "palisade_engine_evaluation_seconds_count", ""),
        n
    );
    // The simulated attacks overflow rules, and the state is measured.
    assert!(
        sample_sum(&prom, "palisade_rule_overflows_total{", "") > 0.0,
        "{prom}"
    );
    assert!(sample_sum(&prom, "palisade_state_entries{", "structure=\"profiles\"") > 0.0);
    // Without the flag, no file and the same decisions.
    let plain = replay_stdin(tmp.path(), &events);
    assert_eq!(decisions(&plain.stdout).len(), decided.len());
}
