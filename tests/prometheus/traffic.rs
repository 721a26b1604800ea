//! Traffic for the dashboards to show: simulated sign-ins (legitimate users,
//! brute force, credential stuffing, password spray) posted in batches, with
//! sign-in attempts and sign-ups (some with breached passwords) to decide,
//! feedback, a bad event now and then, checkpoints, bursts that overload a
//! server, and, with Kafka, events, malformed messages and redeliveries on
//! the events topic.
//!
//! It runs on a thread of its own at a steady pace until told to stop, so
//! every rate the panels take over the last `RATE_INTERVAL` has moved.

use super::support::child::Serve;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use sha1::{Digest, Sha1};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// One round of traffic every `PACE`.
const PACE: Duration = Duration::from_millis(250);
/// Simulated events per round and server.
const BATCH: usize = 100;
/// Requests at once in a burst at the overloaded server.
const BURST: usize = 8;
/// Messages on the events topic per round.
const KAFKA_BATCH: usize = 20;

/// Passwords in the breach corpus the enforce and audit servers check against.
pub const BREACHED: &[&str] = &["password", "123456", "letmein", "qwerty", "dragon"];

pub fn sha1_hex(password: &str) -> String {
    hex::encode_upper(Sha1::digest(password.as_bytes()))
}

/// The events topic, a producer for it, and what to publish.
pub struct KafkaFeed {
    pub producer: BaseProducer,
    pub topic: String,
    /// (key, message), in the order to publish.
    pub messages: Vec<(String, Vec<u8>)>,
}

/// What the traffic did: rounds run, and every answer that was not the one
/// expected.
#[derive(Default)]
pub struct Report {
    pub rounds: usize,
    pub events: usize,
    pub problems: Vec<String>,
    /// Requests of the bursts refused with 503.
    pub refused: usize,
}

/// Runs rounds against `servers` (and `kafka`) until `stop` is set, and
/// every few rounds a burst of requests at once at `overload`.
pub fn run(
    servers: &[&Serve],
    overload: &Serve,
    events: &[String],
    mut kafka: Option<KafkaFeed>,
    stop: &AtomicBool,
) -> Report {
    let mut report = Report::default();
    let mut batches = events.chunks(BATCH).cycle().enumerate();
    let mut published = 0;
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let round = report.rounds;
        let (n, batch) = batches.next().unwrap();
        // A second pass through the events renames them, so they are
        // decided again rather than taken as redeliveries.
        let pass = n * BATCH / events.len().max(1);
        let batch: Vec<String> = batch
            .iter()
            .map(|e| e.replacen("\"event_id\":\"", &format!("\"event_id\":\"p{pass}-"), 1))
            .collect();
        let last: serde_json::Value = serde_json::from_str(batch.last().unwrap()).unwrap();
        let at = last["timestamp"].as_str().unwrap().to_string();
        let user = last["user"].as_str().unwrap().to_string();
        for s in servers {
            let mut expect =
                |what: &str, method: &str, path: &str, body: &str, want: &[u16]| match s
                    .call(method, path, body)
                {
                    Some((status, _)) if want.contains(&status) => {}
                    answer => report.problems.push(format!(
                        "round {round}, {what} to the server on port {}: {answer:?}, want {want:?}",
                        s.port
                    )),
                };
            expect(
                "a batch of simulated events",
                "POST",
                "/v1/events",
                &format!("[{}]", batch.join(",")),
                &[202],
            );
            // A known user signing in with a breached password, and a
            // sign-up with another: decided, flagged, blocked.
            let breached = sha1_hex(BREACHED[round % BREACHED.len()]);
            let attempt = format!(
                r#"{{"event_id":"attempt{round}","kind":"sign_in","user":"{user}","user_exists":true,"ip":"198.51.100.{}","outcome":"attempt","timestamp":"{at}","password_sha1":"{breached}"}}"#,
                round % 250 + 1
            );
            expect("a sign-in attempt", "POST", "/v1/decide", &attempt, &[200]);
            let sign_up = format!(
                r#"{{"event_id":"signup{round}","kind":"sign_up","user":"new{round}@example.com","ip":"203.0.113.{}","outcome":"attempt","timestamp":"{at}","password_sha1":"{breached}"}}"#,
                round % 250 + 1
            );
            expect("a sign-up", "POST", "/v1/decide", &sign_up, &[200]);
            // Feedback on the attempt, either way in turn. At once: the
            // next batch may hold enough events of the same user (a brute
            // force on it) to push the attempt out of the user's history.
            let verdict = ["legitimate", "fraudulent"][round % 2];
            let body = format!(r#"{{"event_id":"attempt{round}","verdict":"{verdict}"}}"#);
            expect("feedback", "POST", "/v1/feedback", &body, &[200]);
            if round % 4 == 0 {
                let bad = format!(
                    r#"[{{"event_id":"bad{round}","kind":"sign_in","user":"x","ip":"300.1.2.3","outcome":"success","timestamp":"{at}"}}]"#
                );
                expect(
                    "an event with a bad address",
                    "POST",
                    "/v1/events",
                    &bad,
                    &[400, 422],
                );
            }
            if round % 10 == 5 {
                expect("a checkpoint", "POST", "/v1/checkpoint", "", &[200]);
            }
        }
        if round % 3 == 0 {
            burst(overload, &batch, round, &mut report);
        }
        report.events += batch.len();
        if let Some(k) = kafka.as_mut() {
            if let Err(e) = publish(k, round, &mut published) {
                report.problems.push(format!("round {round}, Kafka: {e}"));
            }
        }
        report.rounds += 1;
        std::thread::sleep(PACE.saturating_sub(started.elapsed()));
    }
    report
}

/// Requests at once at a server with room for one: some are refused
/// (503, counted as overloaded), the rest accepted.
fn burst(overload: &Serve, batch: &[String], round: usize, report: &mut Report) {
    let body = format!("[{}]", batch.join(","));
    let answers: Vec<_> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..BURST)
            .map(|_| s.spawn(|| overload.call("POST", "/v1/events", &body)))
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    for answer in answers {
        match answer {
            Some((503, _)) => report.refused += 1,
            Some((202, _)) => {}
            other => report.problems.push(format!(
                "round {round}, a burst at the overloaded server: {other:?}, want 202 or 503"
            )),
        }
    }
}

/// The next messages of the feed, and every fifth round a message that is
/// not JSON (a dead letter) and the last message again (a duplicate).
fn publish(k: &mut KafkaFeed, round: usize, published: &mut usize) -> Result<(), String> {
    let send = |key: &str, value: &[u8]| {
        k.producer
            .send(BaseRecord::to(&k.topic).key(key).payload(value))
            .map_err(|(e, _)| format!("cannot publish: {e}"))
    };
    for _ in 0..KAFKA_BATCH {
        let Some((key, value)) = k.messages.get(*published) else {
            break;
        };
        send(key, value)?;
        *published += 1;
    }
    if round % 5 == 0 {
        send("nobody", format!("{{\"event_id\": oops{round}").as_bytes())?;
        if let Some((key, value)) = k.messages.get(published.saturating_sub(1)) {
            send(key, value)?;
        }
    }
    k.producer
        .flush(Duration::from_secs(10))
        .map_err(|e| format!("cannot flush: {e}"))
}
