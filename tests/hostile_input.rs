//! Input partly in an attacker's hands (issue 16). Event time: a forged date
//! far ahead or far back changes no other decision on any door, and a late
//! event is decided as it would have been in order. User names: the Unicode
//! spellings of one name are one user.

mod support;

use palisade::config::Config;
use palisade::engine::{Engine, EngineParts};
use palisade::ingest::replay::replay;
use palisade::node::Core;
use palisade::serve::{auth::ApiKeys, Server};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use support::{call, event, KEY};

/// Replays JSON lines through a fresh engine on the shipped rules and model:
/// each accepted line's decision by event id, and the rejected lines.
fn run(lines: &[String]) -> (BTreeMap<String, serde_json::Value>, Vec<String>) {
    let replayed = support::replay(lines.join("\n").as_bytes(), 1_000_000);
    let decisions = replayed
        .decisions
        .into_iter()
        .map(|d| (d["event_id"].as_str().unwrap().to_string(), d))
        .collect();
    (decisions, replayed.rejects)
}

/// A simulated day, sign-in attempts included, and its decisions.
fn day() -> &'static (Vec<String>, BTreeMap<String, serde_json::Value>) {
    static DAY: OnceLock<(Vec<String>, BTreeMap<String, serde_json::Value>)> = OnceLock::new();
    DAY.get_or_init(|| {
        let mut out = Vec::new();
        let opts = palisade::analytics::simulate::SimulateOptions {
            users: 150,
            days: 1,
            seed: 5,
            ..Default::default()
        };
        palisade::analytics::simulate::simulate(&opts, &mut out).unwrap();
        // Ids made unique per line: an attempt and its outcome share one.
        let lines: Vec<String> = String::from_utf8(out)
            .unwrap()
            .lines()
            .enumerate()
            .map(|(i, l)| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["event_id"] = format!("line{i}").into();
                v.to_string()
            })
            .collect();
        let (decisions, rejects) = run(&lines);
        assert!(rejects.is_empty(), "{rejects:?}");
        assert_eq!(decisions.len(), lines.len());
        (lines, decisions)
    })
}

fn forged(id: &str, when: &str, outcome: &str) -> String {
    format!(
        r#"{{"event_id":"{id}","kind":"sign_in","user":"intruder@example.com","ip":"198.51.100.77","outcome":"{outcome}","timestamp":"{when}"}}"#
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Anywhere in the day, first line and last included, one event dated
    /// 2099 (a failure or an attempt) or 1970 changes no other decision, and
    /// is refused with a line that names the timestamp.
    #[test]
    fn one_event_decades_off_changes_no_other_decision(
        at in 0usize..=1_000_000,
        which in 0usize..3,
    ) {
        let (lines, baseline) = day();
        let at = at % (lines.len() + 1);
        let (when, outcome) = [
            ("2099-06-01T00:00:00Z", "failure"),
            ("2099-06-01T00:00:00Z", "attempt"),
            ("1970-01-02T00:00:00Z", "failure"),
        ][which];
        let mut with = lines.clone();
        with.insert(at, forged("forged", when, outcome));
        let (decisions, rejects) = run(&with);
        for (id, d) in baseline {
            prop_assert_eq!(Some(d), decisions.get(id), "event {}", id);
        }
        // A 1970 event first, before there is a clock, or a 2099 one last,
        // with nothing after it, cannot touch another decision and is taken.
        let taken = (at == 0 && which == 2) || (at == lines.len() && which < 2);
        if !taken {
            prop_assert_eq!(rejects.len(), 1, "{:?}", rejects);
            let r = &rejects[0];
            prop_assert!(r.starts_with(&format!("line {}: field `timestamp`: ", at + 1)), "{}", r);
            prop_assert!(r.contains("event_time.max_"), "{}", r);
        }
    }
}

#[test]
fn a_real_gap_in_history_is_accepted() {
    // A month's pause, then a sign-in every minute: every event is taken,
    // the first after the pause included.
    let mut lines = Vec::new();
    for (day, n) in [(1, 20), (31, 20)] {
        for i in 0..n {
            lines.push(format!(
                r#"{{"event_id":"d{day}-{i}","kind":"sign_in","user":"u{i}","ip":"203.0.113.{i}","outcome":"success","timestamp":"2026-03-{day:02}T10:{i:02}:00Z"}}"#
            ));
        }
    }
    let (decisions, rejects) = run(&lines);
    assert!(rejects.is_empty(), "{rejects:?}");
    assert_eq!(decisions.len(), 40);
}

fn failure(id: &str, user: &str, ip: &str, when: &str) -> String {
    format!(
        r#"{{"event_id":"{id}","kind":"sign_in","user":"{user}","ip":"{ip}","outcome":"failure","failure_reason":"bad_password","device_id":"d1","timestamp":"2026-03-02T{when}Z"}}"#
    )
}

/// The action and reason codes of each decision, in the order made.
fn in_turn(lines: &[String]) -> Vec<(String, Vec<String>)> {
    let mut core = Core::new(support::engine(), 1_000_000);
    let (mut out, mut rejects) = (Vec::new(), Vec::new());
    replay(
        &mut core,
        lines.join("\n").as_bytes(),
        &mut out,
        &mut rejects,
        None,
        None,
    )
    .unwrap();
    assert!(rejects.is_empty(), "{}", String::from_utf8_lossy(&rejects));
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| {
            let d: serde_json::Value = serde_json::from_str(l).unwrap();
            let codes = d["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["code"].as_str().unwrap().to_string())
                .collect();
            (d["action"].as_str().unwrap().to_string(), codes)
        })
        .collect()
}

/// Each late case of the issue: the k-th decision made has the action and
/// the reasons of the k-th made with the same events in order (a late
/// event is decided as the one that came at its turn).
#[test]
fn late_events_are_decided_as_in_order() {
    let cases: Vec<(&str, Vec<String>)> = vec![
        // Two failures 2 s apart, the later one first: no quick-login lock.
        (
            "2 s late",
            vec![
                failure("b", "ann", "203.0.113.5", "10:00:02"),
                failure("a", "ann", "203.0.113.5", "10:00:00"),
                failure("c", "ann", "203.0.113.5", "10:05:00"),
            ],
        ),
        // Failures a few minutes apart, one of them 9 minutes late.
        (
            "9 min late",
            vec![
                failure("a", "bob", "203.0.113.6", "10:00:00"),
                failure("c", "bob", "203.0.113.6", "10:12:00"),
                failure("b", "bob", "203.0.113.6", "10:03:00"),
                failure("d", "bob", "203.0.113.6", "10:14:00"),
                failure("e", "bob", "203.0.113.6", "10:30:00"),
            ],
        ),
    ];
    for (name, late) in cases {
        let mut in_order = late.clone();
        in_order.sort_by_key(|l| l[l.find("timestamp").unwrap()..].to_string());
        let (got, want) = (in_turn(&late), in_turn(&in_order));
        assert_eq!(got, want, "{name}");
        assert!(got.iter().all(|(a, _)| a != "block"), "{name}: {got:?}");
    }
}

/// Six failures, one of them dated 3 h before the rest: past the allowed
/// lateness, so refused as too late, and the other five are decided as in
/// order (all allowed).
#[test]
fn an_event_later_than_the_lateness_bound_is_refused() {
    let mut lines: Vec<String> = (0..5)
        .map(|i| {
            failure(
                &format!("f{i}"),
                "cy",
                "203.0.113.7",
                &format!("13:0{i}:00"),
            )
        })
        .collect();
    lines.insert(3, failure("old", "cy", "203.0.113.7", "10:00:00"));
    let (got, rejects) = run(&lines);
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    assert!(
        rejects[0].starts_with("line 4: field `timestamp`: 2026-03-02T10:00:00.000Z is 3h ")
            && rejects[0].ends_with("(event_time.max_lateness)"),
        "{}",
        rejects[0]
    );
    for i in 0..5 {
        assert_eq!(got[&format!("f{i}")]["action"], "allow", "f{i}");
    }
}

#[test]
fn replay_escapes_control_characters_in_what_it_echoes() {
    let lines = vec![
        "{\"event_id\":\"x\",\"kind\":\"sign_in\",\"user\":\"a\\nline 2: forged\\u001b[2J\",\"ip\":\"nope\",\"outcome\":\"failure\",\"timestamp\":\"2026-03-02T10:00:00Z\"}"
            .to_string(),
    ];
    let (_, rejects) = run(&lines);
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    assert!(
        !rejects[0].chars().any(char::is_control),
        "{:?}",
        rejects[0]
    );
}

/// A server with the shipped bounds, `max_age` included (the other tests
/// turn it off).
fn strict_server() -> Server {
    let config = Config {
        rules: Some("rules".into()),
        models: Some("models".into()),
        ..Config::default()
    };
    Server::start(
        Engine::new(EngineParts::from_config(&config).unwrap()),
        palisade::state::history::History::new(20, 1000),
        palisade::state::recent_ids::RecentIds::new(10_000),
        None,
        Default::default(),
        ApiKeys::new([KEY]),
    )
}

/// The live doors bound event time by the host's clock: 2099 and 1970 are a
/// 422 naming `timestamp` on both endpoints, counted by reason, and leave
/// every later decision and the enforcements in force as they were.
#[tokio::test]
async fn http_refuses_events_far_ahead_or_far_back() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let at = |ms: u64| palisade::event::Timestamp(ms).to_rfc3339();
    let s = strict_server();
    let bad = |id: &str, when: &str, outcome: &str| {
        event(id, "mallory", "198.51.100.9", outcome).replace("2026-11-26T10:00:00Z", when)
    };
    for (when, path, outcome) in [
        ("2099-06-01T00:00:00Z", "/v1/events", "failure"),
        ("2099-06-01T00:00:00Z", "/v1/decide", "attempt"),
        ("1970-01-02T00:00:00Z", "/v1/events", "failure"),
        ("1970-01-02T00:00:00Z", "/v1/decide", "attempt"),
    ] {
        let a = call(&s, "POST", path, &bad("x", when, outcome), true).await;
        assert_eq!(a.status, 422, "{when} {path}: {}", a.body);
        assert_eq!(
            a.error(),
            ("invalid_field".into(), Some("timestamp".into()))
        );
        assert!(a.body.contains(when.trim_end_matches('Z')), "{}", a.body);
    }
    // In a batch, the event's place is named and nothing is taken.
    let batch = format!(
        "[{},{}]",
        bad("ok", &at(now), "failure"),
        bad("late", "2099-06-01T00:00:00Z", "failure")
    );
    let a = call(&s, "POST", "/v1/events", &batch, true).await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(a.error().1.as_deref(), Some("[1].timestamp"));
    // Ten failures of one user from one address, now: the brute-force block
    // holds, as it would with no forged event before it.
    let mut last = None;
    for i in 0..10 {
        let e = event(&format!("bf{i}"), "victim", "203.0.113.50", "failure")
            .replace("2026-11-26T10:00:00Z", &at(now + i * 1000));
        let a = call(&s, "POST", "/v1/decide", &e, true).await;
        assert_eq!(a.status, 200, "{}", a.body);
        last = Some(a.json()["action"].clone());
    }
    assert_eq!(last.unwrap(), "block");
    // Behind the engine's clock: a new event 3 h late is refused, while the
    // same event sent again after it was taken (a client's retry after a
    // crash) is a duplicate, however late.
    let at3h = at(now - 3 * 3_600_000);
    let old =
        event("old", "hank", "203.0.113.60", "failure").replace("2026-11-26T10:00:00Z", &at3h);
    let fresh =
        event("old2", "hank", "203.0.113.60", "failure").replace("2026-11-26T10:00:00Z", &at3h);
    let s2 = strict_server();
    let a = call(&s2, "POST", "/v1/events", &old, true).await;
    assert_eq!(a.status, 202, "{}", a.body);
    let now_event =
        event("now", "hank", "203.0.113.60", "failure").replace("2026-11-26T10:00:00Z", &at(now));
    assert_eq!(
        call(&s2, "POST", "/v1/events", &now_event, true)
            .await
            .status,
        202
    );
    let again = call(&s2, "POST", "/v1/events", &format!("[{old}]"), true).await;
    assert_eq!(again.status, 202, "{}", again.body);
    assert_eq!(again.json()["duplicates"], 1);
    let late = call(&s2, "POST", "/v1/events", &format!("[{old},{fresh}]"), true).await;
    assert_eq!(late.status, 422, "{}", late.body);
    assert_eq!(late.error().1.as_deref(), Some("[1].timestamp"));
    assert!(
        late.body.contains("event_time.max_lateness"),
        "{}",
        late.body
    );

    let text = call(&s, "GET", "/metrics", "", true).await.body;
    assert!(
        text.contains("palisade_rejected_events_total{reason=\"timestamp_ahead\"} 3")
            && text.contains("palisade_rejected_events_total{reason=\"timestamp_late\"} 2"),
        "{text}"
    );
}

/// Twelve failures for one account from twelve addresses, a minute apart,
/// each in another Unicode spelling of its name: decided exactly as twelve
/// in one spelling, `slow_brute_force` included (it counts per user).
#[test]
fn the_unicode_spellings_of_one_name_are_one_user() {
    let spellings = [
        r"kevin.müller@example.com",
        r"kevin.mu\u0308ller@example.com",
        r"\u212aevin.müller@example.com",
        r"\uff4b\uff45\uff56\uff49\uff4e.müller@example.com",
        r"kev\u200bin.müller@example.com",
        r"Kevin.Müller@Example.com",
        r"kevin.mül\u00adler@example.com",
        r"KEVIN.MÜLLER@EXAMPLE.COM",
        r"kevin.mu\u0308ller@example.com",
        r"\u212aevin.müller@example.com",
        r"kev\u200bin.müller@example.com",
        r"kevin.müller@example.com",
    ];
    let lines = |names: &[&str]| -> Vec<String> {
        names
            .iter()
            .enumerate()
            .map(|(i, u)| {
                format!(
                    r#"{{"event_id":"f{i}","kind":"sign_in","user":"{u}","ip":"198.51.{i}.9","outcome":"failure","failure_reason":"bad_password","timestamp":"2026-03-02T10:{i:02}:00Z"}}"#
                )
            })
            .collect()
    };
    let one = in_turn(&lines(&[spellings[0]; 12]));
    assert!(
        one.iter()
            .any(|(_, codes)| codes.iter().any(|c| c == "slow_brute_force")),
        "one spelling: {one:?}"
    );
    assert_eq!(in_turn(&lines(&spellings)), one);
}

/// A name RFC 8265 disallows even after the mapping is refused on every
/// door, naming the field.
#[tokio::test]
async fn a_user_name_the_profile_disallows_is_a_422_on_user() {
    let s = support::server(Default::default());
    let bad = event("x", r"bell\u0007", "203.0.113.1", "failure");
    let a = call(&s, "POST", "/v1/events", &bad, true).await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(a.error(), ("invalid_field".into(), Some("user".into())));
    assert!(a.body.contains("RFC 8265"), "{}", a.body);
}
