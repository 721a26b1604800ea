//! The engine's own thread. The engine is one deterministic state machine, so
//! one thread owns it (with the recent-event history) and every request
//! reaches it through a bounded queue: no locks on the hot path, and when the
//! queue is full the caller hears so at once (503) instead of waiting without
//! bound. Enforcements the engine issues go out on a broadcast channel to the
//! `/v1/decisions/stream` readers.

use crate::engine::Engine;
use crate::event::{Decision, Event, FeedbackVerdict};
use crate::metrics::Metrics;
use crate::state::history::History;
use axum::body::Bytes;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{broadcast, oneshot};

/// What the engine thread can be asked.
pub enum Job {
    Decide(Box<Event>, oneshot::Sender<Decision>),
    Ingest(Vec<Event>, oneshot::Sender<Ingested>),
    Feedback(
        String,
        FeedbackVerdict,
        oneshot::Sender<Result<Vec<u8>, UnknownEvent>>,
    ),
    /// A page of a user's events as JSON: tenant, user, limit, before.
    UserEvents(UserQuery, oneshot::Sender<Vec<u8>>),
    /// The enforcements in force, one JSON line each, and the sequence number
    /// of the last one published.
    InForce(oneshot::Sender<(Vec<Bytes>, u64)>),
    /// Answers once every job queued before it is done (readiness), and
    /// refreshes the state-size gauges.
    Ping(oneshot::Sender<()>),
}

pub struct UserQuery {
    pub tenant: Option<String>,
    pub user: String,
    pub limit: usize,
    pub before: Option<u64>,
}

/// What `POST /v1/events` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ingested {
    pub decided: usize,
    /// Events whose id (with the same outcome) was already decided: a
    /// redelivery, not applied again.
    pub duplicates: usize,
}

/// Feedback named an event id no longer (or never) in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownEvent;

/// One enforcement published to stream readers.
#[derive(Debug, Clone)]
pub struct Published {
    pub seq: u64,
    /// The enforcement as one JSON line, newline included.
    pub line: Bytes,
}

/// Why a job was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The queue is full: the engine is behind.
    Overloaded,
    /// The engine thread has stopped.
    Stopped,
}

/// The senders' side of the queue. Cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    tx: SyncSender<Job>,
    metrics: Arc<Metrics>,
    feed: broadcast::Sender<Arc<Published>>,
}

impl EngineHandle {
    pub fn submit(&self, job: Job) -> Result<(), Refused> {
        match self.tx.try_send(job) {
            Ok(()) => {
                self.metrics.engine_queue.inc();
                Ok(())
            }
            Err(TrySendError::Full(_)) => Err(Refused::Overloaded),
            Err(TrySendError::Disconnected(_)) => Err(Refused::Stopped),
        }
    }

    /// Enforcements published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.feed.subscribe()
    }
}

/// Starts the engine thread. It runs until every handle is dropped, finishing
/// the jobs already queued, and gives the engine back when joined.
pub fn start(
    engine: Engine,
    history: History,
    capacity: usize,
    stream_buffer: usize,
    metrics: Arc<Metrics>,
) -> (EngineHandle, std::thread::JoinHandle<Engine>) {
    let (tx, rx) = mpsc::sync_channel::<Job>(capacity);
    let (feed, _) = broadcast::channel(stream_buffer);
    let mut w = Worker {
        engine,
        history,
        metrics: metrics.clone(),
        feed: feed.clone(),
        published: 0,
    };
    let thread = std::thread::Builder::new()
        .name("palisade-engine".into())
        .spawn(move || {
            while let Ok(job) = rx.recv() {
                w.metrics.engine_queue.dec();
                w.run(job);
            }
            w.engine
        })
        .expect("the engine thread starts");
    (EngineHandle { tx, metrics, feed }, thread)
}

struct Worker {
    engine: Engine,
    history: History,
    metrics: Arc<Metrics>,
    feed: broadcast::Sender<Arc<Published>>,
    /// Sequence number of the last enforcement published.
    published: u64,
}

impl Worker {
    fn run(&mut self, job: Job) {
        // A caller that timed out has gone; what was done stands, so replies
        // that find no one are ignored.
        match job {
            Job::Decide(event, reply) => {
                let (d, _) = self.decide(&event);
                let _ = reply.send(d);
            }
            Job::Ingest(events, reply) => {
                let mut duplicates = 0;
                for e in &events {
                    duplicates += usize::from(self.decide(e).1);
                }
                let _ = reply.send(Ingested {
                    decided: events.len() - duplicates,
                    duplicates,
                });
            }
            Job::Feedback(id, verdict, reply) => {
                let _ = reply.send(self.feedback(&id, verdict));
            }
            Job::UserEvents(q, reply) => {
                let page = self
                    .history
                    .page(q.tenant.as_deref(), &q.user, q.limit, q.before);
                let _ = reply.send(serde_json::to_vec(&page).unwrap_or_default());
            }
            Job::InForce(reply) => {
                let lines = self
                    .engine
                    .enforcements_in_force()
                    .iter()
                    .map(json_line)
                    .collect();
                let _ = reply.send((lines, self.published));
            }
            Job::Ping(reply) => {
                self.refresh_gauges();
                let _ = reply.send(());
            }
        }
    }

    /// The decision, and whether the event was a redelivery (same id and
    /// outcome as one already decided), answered from the history without
    /// touching state again.
    fn decide(&mut self, e: &Event) -> (Decision, bool) {
        if !e.event_id.is_empty() {
            if let Some(seen) = self.history.find(&e.event_id) {
                if seen.event.outcome == e.outcome {
                    return (seen.decision.clone(), true);
                }
            }
        }
        let started = Instant::now();
        let d = self.engine.evaluate(e);
        let m = &self.metrics;
        m.evaluation.observe(started.elapsed().as_secs_f64());
        m.events
            .with_label_values(&[e.kind.as_str(), e.outcome.as_str()])
            .inc();
        m.decisions
            .with_label_values(&[
                d.action.as_str(),
                d.risk_level.as_str(),
                if d.enforced { "true" } else { "false" },
            ])
            .inc();
        for r in &d.reasons {
            m.reasons.with_label_values(&[&*r.code]).inc();
        }
        self.history.record(e, &d);
        self.publish();
        (d, false)
    }

    fn feedback(&mut self, id: &str, verdict: FeedbackVerdict) -> Result<Vec<u8>, UnknownEvent> {
        let entry = self.history.find(id).ok_or(UnknownEvent)?;
        if entry.feedback == Some(verdict) {
            // Said before: applying it again would re-issue its enforcements.
            let repeat = serde_json::json!({
                "event_id": id,
                "verdict": verdict,
                "repeated": true,
            });
            return Ok(serde_json::to_vec(&repeat).unwrap_or_default());
        }
        let event = entry.event.clone();
        let effect = self.engine.feedback(&event, verdict);
        self.history.set_feedback(id, verdict);
        self.metrics
            .feedback
            .with_label_values(&[match verdict {
                FeedbackVerdict::Legitimate => "legitimate",
                FeedbackVerdict::Fraudulent => "fraudulent",
            }])
            .inc();
        // The effect lists its enforcements; they are published once, from
        // the engine's queue of issued ones.
        self.publish();
        Ok(serde_json::to_vec(&effect).unwrap_or_default())
    }

    fn publish(&mut self) {
        for e in self.engine.take_enforcements() {
            self.published += 1;
            self.metrics
                .enforcements
                .with_label_values(&[e.scope.as_str()])
                .inc();
            // No reader is not an error: late readers get what is in force.
            let _ = self.feed.send(Arc::new(Published {
                seq: self.published,
                line: json_line(&e),
            }));
        }
    }

    fn refresh_gauges(&self) {
        let s = self.engine.state_stats();
        let g = &self.metrics.state_entries;
        g.with_label_values(&["profiles"]).set(s.profiles as i64);
        let keys: usize = s.rule_keys.iter().map(|r| r.1).sum();
        g.with_label_values(&["rule_keys"]).set(keys as i64);
        g.with_label_values(&["history_events"])
            .set(self.history.len() as i64);
        g.with_label_values(&["enforcements"])
            .set(self.engine.enforcements_in_force().len() as i64);
    }
}

fn json_line<T: serde::Serialize>(v: &T) -> Bytes {
    let mut line = serde_json::to_vec(v).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}
