//! Attackers cannot exhaust memory: a password spray from 150,000 distinct
//! addresses at 150,000 distinct usernames, at a `palisade serve` whose caps
//! are 10,000 keys, stays under the configured memory budget, keeps the
//! legitimate users' profiles, and is still stopped at the end.
//! (`scripts/memory-bound` runs the long version: 10,000,000 against caps of
//! 1,000,000.)

mod support;

use palisade::analytics::simulate::{simulate, SimulateOptions};
use serde_json::Value;
use std::collections::BTreeMap;
use support::child::Serve;

const SPRAY: usize = 150_000;
const CAP: usize = 10_000;
const BUDGET_MIB: u64 = 160;

/// A failed (or attempted) sign-in of the spray: its own address, its own
/// unknown username, one of 100 common passwords.
fn spray(i: usize, outcome: &str, tag: &str) -> String {
    let ip = format!(
        "{}.{}.{}.{}",
        11 + (i >> 24) % 100,
        (i >> 16) & 255,
        (i >> 8) & 255,
        1 + i % 250
    );
    let reason = if outcome == "failure" {
        r#""failure_reason":"bad_password","#
    } else {
        ""
    };
    format!(
        r#"{{"event_id":"{tag}{i}","timestamp":"2026-02-01T00:{:02}:{:02}.{:03}Z","kind":"sign_in","user":"victim{i}@example.org","user_exists":false,"ip":"{ip}","outcome":"{outcome}",{reason}"user_agent":"python-requests/2.31","password_sha1":"{}"}}"#,
        i / 60_000 % 60,
        i / 1000 % 60,
        i % 1000,
        sha1_hex(&format!("Spring2026!{}", i % 100))
    )
}

fn sha1_hex(text: &str) -> String {
    use sha1::Digest;
    hex::encode_upper(sha1::Sha1::digest(text.as_bytes()))
}

/// Peak resident memory of a process, from the kernel.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn post(s: &Serve, events: &[String]) {
    for batch in events.chunks(2000) {
        let (status, body) = s
            .call("POST", "/v1/events", &format!("[{}]", batch.join(",")))
            .unwrap();
        assert_eq!(status, 202, "{body}");
    }
}

#[test]
fn a_spray_of_new_keys_stays_under_the_budget_and_is_still_stopped() {
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("SKIP memory_bound: needs /proc to read peak resident memory");
        return;
    }
    let config = format!(
        r#"
[limits]
max_profiles = {CAP}
max_keys_per_rule = {CAP}
max_source_keys = {CAP}
max_offenders = {CAP}
max_frequency_values = {CAP}
max_history_users = 1000
max_enforcements = {CAP}
max_fraud_marked_users = {CAP}
recent_event_ids = {CAP}
memory_budget = "{BUDGET_MIB} MiB"
"#
    );
    let mut s = Serve::start(&config, &[]);
    s.wait_ready();
    assert!(
        s.log().contains(&format!("(budget {BUDGET_MIB}.0 MiB)")),
        "the start names the budget: {}",
        s.log()
    );

    // The legitimate users' history, and each one's last success.
    let mut out = Vec::new();
    let opts = SimulateOptions {
        users: 400,
        days: 3,
        seed: 5,
        ..SimulateOptions::default()
    };
    simulate(&opts, &mut out).unwrap();
    let history: Vec<String> = String::from_utf8(out)
        .unwrap()
        .lines()
        .filter(|l| !l.contains(r#""outcome":"attempt""#))
        .map(String::from)
        .collect();
    let mut last: BTreeMap<String, Value> = BTreeMap::new();
    for line in &history {
        let e: Value = serde_json::from_str(line).unwrap();
        if e["outcome"] == "success" && e["label"] == "legit" {
            last.insert(e["user"].as_str().unwrap().to_string(), e);
        }
    }
    post(&s, &history);
    let profiles_before = s.metric("palisade_state_entries", "structure=\"profiles\"");
    assert!(profiles_before >= 300.0, "{profiles_before} profiles");

    // The spray: fifteen times the cap in new addresses and usernames.
    let sprayed: Vec<String> = (0..SPRAY).map(|i| spray(i, "failure", "spray")).collect();
    post(&s, &sprayed);
    let keys = s.metric("palisade_state_entries", "structure=\"rule_keys\"");
    let rules = palisade::detect::load_rules(None, &Default::default(), CAP)
        .unwrap()
        .detectors
        .len() as f64;
    let per_rule_ceiling = (CAP + CAP / 10) as f64;
    assert!(
        keys <= rules * per_rule_ceiling,
        "{keys} rule keys held, over {rules} rules x {per_rule_ceiling}"
    );
    let cap_evictions = s.metric(
        "palisade_state_evictions_total",
        "cause=\"cap\",structure=\"rule_keys\"",
    );
    assert!(
        cap_evictions >= (SPRAY - CAP) as f64,
        "the cap let keys go: {cap_evictions} evictions"
    );

    // The legitimate users sign in as before: their profiles survived.
    let mut allowed = 0;
    for (i, e) in last.values().enumerate() {
        let mut probe = e.clone();
        probe["event_id"] = format!("legit{i}").into();
        probe["timestamp"] = "2026-02-01T01:00:00Z".into();
        probe["outcome"] = "attempt".into();
        probe.as_object_mut().unwrap().remove("failure_reason");
        let (status, body) = s.call("POST", "/v1/decide", &probe.to_string()).unwrap();
        assert_eq!(status, 200, "{body}");
        let d: Value = serde_json::from_str(&body).unwrap();
        allowed += usize::from(d["action"] == "allow");
    }
    assert!(
        allowed * 100 >= last.len() * 95,
        "{allowed} of {} legitimate users allowed",
        last.len()
    );
    let profiles_after = s.metric("palisade_state_entries", "structure=\"profiles\"");
    assert!(
        profiles_after >= profiles_before,
        "{profiles_after} profiles"
    );

    // The spray goes on, and is still stopped.
    for i in SPRAY..SPRAY + 200 {
        let (status, body) = s
            .call("POST", "/v1/decide", &spray(i, "attempt", "late"))
            .unwrap();
        assert_eq!(status, 200, "{body}");
        let d: Value = serde_json::from_str(&body).unwrap();
        assert!(
            d["action"] == "challenge" || d["action"] == "block",
            "late spray attempt {i} let through: {body}"
        );
    }

    let peak_mib = peak_rss_kib(s.child.id()) / 1024;
    let history_bytes = s.metric("palisade_state_bytes", "structure=\"history_events\"");
    let history_events = s.metric("palisade_state_entries", "structure=\"history_events\"");
    eprintln!(
        "memory_bound: history {:.0} bytes an event",
        history_bytes / history_events
    );
    eprintln!("memory_bound: peak RSS {peak_mib} MiB, budget {BUDGET_MIB} MiB, {keys} rule keys, {cap_evictions} evicted at the cap");
    assert!(
        peak_mib < BUDGET_MIB,
        "peak RSS {peak_mib} MiB over the budget of {BUDGET_MIB} MiB"
    );
}
