//! The engine's own thread. The engine is one deterministic state machine, so
//! one thread owns it and every request reaches it through a bounded queue:
//! no locks on the hot path, and when the queue is full the caller hears so
//! at once (503) instead of waiting without bound.

use crate::engine::Engine;
use crate::event::{Decision, Event};
use crate::metrics::Metrics;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;

/// What the engine thread can be asked.
pub enum Job {
    Decide(Box<Event>, oneshot::Sender<Decision>),
    Ingest(Vec<Event>, oneshot::Sender<Vec<Decision>>),
    /// Answers once every job queued before it is done: readiness.
    Ping(oneshot::Sender<()>),
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
}

/// Starts the engine thread. It runs until every handle is dropped, finishing
/// the jobs already queued, and gives the engine back when joined.
pub fn start(
    engine: Engine,
    capacity: usize,
    metrics: Arc<Metrics>,
) -> (EngineHandle, std::thread::JoinHandle<Engine>) {
    let (tx, rx) = mpsc::sync_channel::<Job>(capacity);
    let m = metrics.clone();
    let thread = std::thread::Builder::new()
        .name("palisade-engine".into())
        .spawn(move || {
            let mut w = Worker { engine, metrics: m };
            while let Ok(job) = rx.recv() {
                w.metrics.engine_queue.dec();
                w.run(job);
            }
            w.engine
        })
        .expect("the engine thread starts");
    (EngineHandle { tx, metrics }, thread)
}

struct Worker {
    engine: Engine,
    metrics: Arc<Metrics>,
}

impl Worker {
    fn run(&mut self, job: Job) {
        match job {
            Job::Decide(event, reply) => {
                let d = self.decide(&event);
                // The caller may have timed out and gone; the decision stands.
                let _ = reply.send(d);
            }
            Job::Ingest(events, reply) => {
                let decisions = events.iter().map(|e| self.decide(e)).collect();
                let _ = reply.send(decisions);
            }
            Job::Ping(reply) => {
                let _ = reply.send(());
            }
        }
    }

    fn decide(&mut self, e: &Event) -> Decision {
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
        d
    }
}
