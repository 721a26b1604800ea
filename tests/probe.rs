//! `Engine::probe`, what a replica answers an attempt with before the
//! attempt reaches the cluster log: it must answer exactly what evaluating
//! the attempt would, and leave nothing behind (replicas that probed
//! different attempts must still hold the same state).

mod support;

use palisade::event::{Event, Outcome};
use support::simulated::outcomes;

/// The simulated stream, with a probe before every fifth event: the next
/// event asked as an attempt, from a new browser, a minute later (so the
/// probe's clock runs ahead of the engine's, across midnight for some).
fn probe_of(e: &Event, i: usize) -> Event {
    let mut p = e.clone();
    p.outcome = Outcome::Attempt;
    p.failure_reason = None;
    p.mfa = None;
    p.event_id = format!("probe-{i}");
    if i % 2 == 0 {
        p.user_agent = Some(format!(
            "Mozilla/5.0 (X11; Linux x86_64; rv:{}.0) Gecko/20100101 Firefox/{}.0 Probe{i}",
            100 + i % 30,
            100 + i % 30
        ));
    }
    if let Some(t) = &mut p.timestamp {
        t.0 += 60_000;
    }
    p
}

#[test]
fn a_probe_answers_as_evaluate_and_changes_nothing() {
    let mut events: Vec<Event> = outcomes(150, 4)
        .iter()
        .map(|l| Event::from_json(l.as_bytes()).unwrap())
        .collect();
    // And an attack at the end, whose probes would be blocked and ban the
    // address, were they applied.
    let last = events.last().unwrap().timestamp.unwrap().0;
    for i in 0..60u64 {
        let json = format!(
            r#"{{"event_id":"atk{i}","kind":"sign_in","user":"user{}@example.com","ip":"203.0.113.50","outcome":"failure","failure_reason":"bad_password","timestamp":"{}"}}"#,
            i % 40,
            chrono_like(last + 1_000 * (i + 1))
        );
        events.push(Event::from_json(json.as_bytes()).unwrap());
    }
    let mut probed = support::engine();
    let mut plain = support::engine();
    let mut compared = 0;
    let attack_from = events.len() - 60;
    for (i, e) in events.iter().enumerate() {
        if i % 5 == 0 || i >= attack_from {
            let p = probe_of(e, i);
            // What evaluating it would answer: asked of an engine in the
            // same state that is then thrown away.
            let mut twin = support::engine();
            let compare = i < 400 || i >= attack_from;
            if compare {
                for earlier in &events[..i] {
                    twin.evaluate(earlier);
                }
            }
            let answered = probed.probe(&p);
            if compare {
                assert_eq!(answered, twin.evaluate(&p), "probe {i} answers as evaluate");
                compared += 1;
            }
            assert_eq!(probed.clock_ms(), plain.clock_ms(), "the clock stays");
        }
        assert_eq!(
            probed.evaluate(e),
            plain.evaluate(e),
            "event {i} is decided as if no probe had been asked"
        );
    }
    assert!(compared > 100, "{compared} probes compared with evaluate");
    let blocked = (attack_from..events.len())
        .filter(|&i| {
            probed.probe(&probe_of(&events[i], i)).action == palisade::event::Action::Block
        })
        .count();
    assert!(
        blocked > 0,
        "the attack's probes are blocked, so their side effects were at stake"
    );
    assert_eq!(
        probed.enforcements_in_force(),
        plain.enforcements_in_force(),
        "no enforcement issued by a probe"
    );
}

/// An RFC 3339 time of `ms` since the epoch.
fn chrono_like(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
