//! Simulated traffic, and what two servers fed the same traffic are compared
//! by: the restart tests over HTTP and Kafka want a server that was killed
//! and restarted to be indistinguishable from one that never stopped.

use super::child::Serve;
use palisade::analytics::simulate::{simulate, SimulateOptions};

/// Simulated outcomes (what `/v1/events` takes), as JSON lines.
pub fn outcomes(users: u32, days: u32) -> Vec<String> {
    let mut out = Vec::new();
    let opts = SimulateOptions {
        users,
        days,
        seed: 11,
        ..SimulateOptions::default()
    };
    simulate(&opts, &mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .filter(|l| !l.contains(r#""outcome":"attempt""#))
        .map(String::from)
        .collect()
}

/// Later sign-in attempts to compare two servers by: known users from new
/// and old places, at the end of the simulated time.
pub fn probes(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"event_id":"probe{i}","kind":"sign_in","user":"user{}@example.com","user_exists":true,"ip":"{}.{}.7.{}","outcome":"attempt","timestamp":"2026-01-09T12:00:00Z"}}"#,
                i * 7 % 400,
                20 + i % 50,
                i % 200,
                1 + i % 250
            )
        })
        .collect()
}

/// The decisions for the probes, and the state-size gauges.
pub fn fingerprint(s: &Serve) -> (Vec<String>, Vec<String>) {
    let decisions = probes(60)
        .iter()
        .map(|p| {
            let (status, body) = s.call("POST", "/v1/decide", p).unwrap();
            assert_eq!(status, 200, "{body}");
            body
        })
        .collect();
    let (_, metrics) = s.get("/metrics").unwrap();
    let gauges = metrics
        .lines()
        .filter(|l| l.starts_with("palisade_state_entries{"))
        .map(String::from)
        .collect();
    (decisions, gauges)
}
