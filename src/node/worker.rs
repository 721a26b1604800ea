//! Where requests reach the engine. The engine is one deterministic state
//! machine, so it (with the recent-event history) sits behind one async mutex
//! and each job runs on the request's own task: no hand-over to another
//! thread, whose wake-up cost more than the decision on a virtual machine.
//! At most `capacity` requests may be in flight (running or waiting for the
//! engine); beyond that the caller hears so at once (503), and a request that
//! cannot get the engine within its timeout gives up, so latency stays
//! bounded. Enforcements the engine issues go out on a broadcast channel to
//! the `/v1/decisions/stream` readers.

use super::checkpoint::NodeCheckpoints;
use super::snapshot::{Snapshot, Writing};
use super::Core;
use crate::engine::enforce::Enforcement;
use crate::engine::Engine;
use crate::event::bounds::{TimeBounds, TimeRefusal};
use crate::event::{Decision, Event, FeedbackVerdict};
use crate::metrics::{DecisionCounters, Metrics, StateObserver};
use crate::state::checkpoint::Checkpoints;
use crate::state::history::History;
use crate::state::journal::{Entry, EntryRef, Journal};
use crate::state::recent_ids::RecentIds;
use axum::body::Bytes;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, oneshot, Mutex};

/// What the engine can be asked.
pub enum Job {
    /// A decision, or the event's refusal as too late (see `late`).
    Decide(Box<Event>, oneshot::Sender<Result<Decision, TimeRefusal>>),
    /// What was taken, or the first new event too late (its index) and
    /// nothing taken.
    Ingest(
        Vec<Event>,
        oneshot::Sender<Result<Ingested, (usize, TimeRefusal)>>,
    ),
    /// Events from Kafka: each one's decision (for a redelivery the earlier
    /// one, while the history holds it) and the enforcements it issued, in
    /// order.
    Consume(Vec<Event>, oneshot::Sender<Vec<Consumed>>),
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
    /// Answers once the engine is free (readiness), and refreshes the
    /// state-size gauges.
    Ping(oneshot::Sender<()>),
    /// Writes a checkpoint of the state at the journal's end (a replica:
    /// at its log position).
    /// The checkpoint is finished by [`Snapshot::finish`], off the engine
    /// (see [`EngineHandle::checkpoint`]).
    Checkpoint(oneshot::Sender<Result<Snapshot, String>>),
    /// A replica's `/v1/decide` on an attempt: the decision on the state as
    /// it stands, changing nothing (see [`crate::engine::Engine::probe`]);
    /// the attempt is applied when it comes back from the cluster log.
    Probe(Box<Event>, oneshot::Sender<Result<Decision, TimeRefusal>>),
    /// Records of the cluster log, in order: each one's effect.
    Fold(Vec<LogRecord>, oneshot::Sender<Vec<Folded>>),
    /// The events back, with the first one too late for the engine's clock
    /// (its index), if any: checked before a batch is applied in slices, or
    /// (a replica) written to the log.
    CheckLate(Vec<Event>, oneshot::Sender<Checked>),
    /// A slice of a batch [`Job::CheckLate`] passed, at most
    /// [`INGEST_SLICE`] events: applied whole (an event the clock has
    /// passed meanwhile is applied at the clock's time, as any late one).
    Apply(Vec<Event>, oneshot::Sender<Ingested>),
}

/// Events of a `POST /v1/events` batch applied in one turn of the engine
/// (a large batch is decoded beforehand on a thread at nice 19): a decide waits
/// behind at most this many, about 0.3–0.6 ms of work in a release build at
/// 5–9 µs an event on a million profiles with GeoIP, not behind a whole
/// batch of up to `server.max_batch_events`.
pub const INGEST_SLICE: usize = 64;

/// [`Job::CheckLate`]'s answer: the events, and the first too late (its
/// index), if any.
pub type Checked = (Vec<Event>, Option<(usize, TimeRefusal)>);

/// One record of the cluster log, decoded (see `ingest::kafka::cluster`).
#[derive(Debug)]
pub struct LogRecord {
    /// Its offset in the log: the replica's position is the next one.
    pub offset: u64,
    pub body: LogBody,
    /// Written by this replica: its decisions count in this replica's
    /// metrics (each event counts on the replica it entered by, so the sum
    /// over replicas counts it once).
    pub counted_here: bool,
}

#[derive(Debug)]
pub enum LogBody {
    Event(Event),
    Feedback {
        event_id: String,
        verdict: FeedbackVerdict,
    },
    /// Not a record a replica wrote: folded as nothing, on every replica.
    Malformed,
    /// The cluster's own (the publisher's lease): nothing for the engine.
    Control,
}

/// What folding one log record did.
#[derive(Debug, Default)]
pub struct Folded {
    /// The event's decision; for a repeat, the earlier one while the
    /// history holds it.
    pub decision: Option<Decision>,
    pub enforcements: Vec<Enforcement>,
    /// An event id (with its outcome) decided before: no state changed.
    pub duplicate: bool,
    /// Further behind the engine's clock than `event_time.max_lateness`
    /// allows: not applied.
    pub late: Option<TimeRefusal>,
    /// A feedback record's answer.
    pub feedback: Option<Result<Vec<u8>, UnknownEvent>>,
}

/// What makes the state durable: the journal (a single instance) or the
/// cluster log (a replica, at `log_position`), and the checkpoints.
pub struct Durability {
    pub journal: Option<Arc<Journal>>,
    pub checkpoints: Checkpoints,
    /// A replica's next log offset to fold, from its checkpoint.
    pub log_position: Option<u64>,
}

/// What a checkpoint wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Checkpointed {
    pub path: String,
    pub position: u64,
    pub bytes: u64,
    /// From the request to the checkpoint in place.
    pub seconds: f64,
    /// What the engine waited for it (a fork; all of `seconds` when it was
    /// written in place).
    pub paused_seconds: f64,
    /// Journal segments deleted because the kept checkpoints cover them.
    pub journal_segments_deleted: usize,
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

/// What deciding one event from Kafka gave.
#[derive(Debug)]
pub struct Consumed {
    /// The event's decision. For a redelivery, the one made the first time,
    /// so a decision whose record was lost to a crash is produced after the
    /// restart; `None` when the history has since forgotten it.
    pub decision: Option<Decision>,
    /// The event id (with its outcome) was decided before: no state changed.
    pub redelivered: bool,
    /// Issued by this event now; always empty for a redelivery, whose
    /// enforcements were issued the first time and are in force.
    pub enforcements: Vec<Enforcement>,
    /// Not applied: further behind the engine's clock than
    /// `event_time.max_lateness` allows.
    pub late: Option<TimeRefusal>,
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

/// Why a job was not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Too many requests in flight: the engine is behind.
    Overloaded,
    /// The engine stayed busy past the request's timeout.
    TimedOut,
    /// The engine has been taken back: the server is stopping.
    Stopped,
}

/// The handle every request holds. Cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    worker: Arc<Mutex<Option<Worker>>>,
    in_flight: Arc<AtomicUsize>,
    capacity: usize,
    metrics: Arc<Metrics>,
    feed: broadcast::Sender<Arc<Published>>,
    journal: Option<Arc<Journal>>,
    bounds: TimeBounds,
    /// One checkpoint at a time: a second request waits for the first.
    checkpointing: Arc<Mutex<()>>,
}

/// Why [`EngineHandle::checkpoint`] wrote nothing.
#[derive(Debug)]
pub enum CheckpointFailure {
    /// The engine did not take the job (busy or stopped): try again.
    Unavailable(String),
    /// It took it and failed: why.
    Failed(String),
}

impl std::fmt::Display for CheckpointFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckpointFailure::Unavailable(why) | CheckpointFailure::Failed(why) => {
                f.write_str(why)
            }
        }
    }
}

fn count_refusal(m: &Metrics, r: &TimeRefusal) {
    m.rejected_events.with_label_values(&[r.label()]).inc();
}

/// Counts a request in flight until dropped.
struct InFlight<'a>(&'a AtomicUsize, &'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
        self.1.engine_queue.dec();
    }
}

impl EngineHandle {
    /// Whether a live door takes an event at this time (see
    /// [`crate::event::bounds`]): not too far ahead of this host's clock,
    /// nor behind it by more than the bounds allow. (How far it is behind
    /// the engine's clock is the worker's to check: a redelivery is answered
    /// however late.) A refusal is counted by its reason.
    pub fn check_time(&self, e: &Event) -> Result<(), TimeRefusal> {
        let Some(t) = e.timestamp else { return Ok(()) };
        let host_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.bounds
            .check_host(t.millis(), host_ms)
            .inspect_err(|r| count_refusal(&self.metrics, r))
    }

    /// Runs the job on the engine, waiting for it at most `timeout`. The job
    /// answers through its own channel.
    pub async fn run(&self, job: Job, timeout: Duration) -> Result<(), Refused> {
        self.run_returning(job, timeout).await.map_err(|(r, _)| r)
    }

    /// [`EngineHandle::run`] for the rest of a request already admitted
    /// (the later slices of a batch): not refused for the requests in
    /// flight, which it is one of, only for the timeout.
    pub async fn run_admitted(&self, job: Job, timeout: Duration) -> Result<(), Refused> {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.metrics.engine_queue.inc();
        let _counted = InFlight(&self.in_flight, &self.metrics);
        let mut guard = tokio::time::timeout(timeout, self.worker.lock())
            .await
            .map_err(|_| Refused::TimedOut)?;
        let worker = guard.as_mut().ok_or(Refused::Stopped)?;
        worker.run(job);
        Ok(())
    }

    /// [`EngineHandle::run`], giving a job that did not run back.
    pub async fn run_returning(&self, job: Job, timeout: Duration) -> Result<(), (Refused, Job)> {
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err((Refused::Overloaded, job));
        }
        self.metrics.engine_queue.inc();
        let _counted = InFlight(&self.in_flight, &self.metrics);
        let Ok(mut guard) = tokio::time::timeout(timeout, self.worker.lock()).await else {
            return Err((Refused::TimedOut, job));
        };
        let Some(worker) = guard.as_mut() else {
            return Err((Refused::Stopped, job));
        };
        worker.run(job);
        Ok(())
    }

    /// The journal, when on: callers that acknowledge a change wait for
    /// [`Journal::sync`] first.
    pub fn journal(&self) -> Option<&Arc<Journal>> {
        self.journal.as_ref()
    }

    /// Writes a checkpoint: the engine stops only to fork (see
    /// [`super::snapshot`]); the rest is waited for here. One at a time.
    pub async fn checkpoint(&self) -> Result<Checkpointed, CheckpointFailure> {
        let _turn = self.checkpointing.lock().await;
        let (tx, rx) = oneshot::channel();
        self.run(Job::Checkpoint(tx), Duration::from_secs(60))
            .await
            .map_err(|r| {
                CheckpointFailure::Unavailable(match r {
                    Refused::Stopped => "the engine has stopped".into(),
                    Refused::Overloaded | Refused::TimedOut => {
                        "the engine is busy; try again".into()
                    }
                })
            })?;
        let snapshot = rx
            .await
            .map_err(|_| CheckpointFailure::Unavailable("the engine has stopped".into()))?
            .map_err(CheckpointFailure::Failed)?;
        snapshot
            .finish(self.journal.clone(), &self.metrics)
            .await
            .map_err(CheckpointFailure::Failed)
    }

    /// Enforcements published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.feed.subscribe()
    }

    /// Takes the engine back, once requests in flight are done; later jobs
    /// are refused as `Stopped`.
    pub async fn stop(&self) -> Option<Engine> {
        self.worker.lock().await.take().map(|w| w.core.engine)
    }
}

/// Puts the engine behind its handle.
pub fn start(
    engine: Engine,
    history: History,
    recent: RecentIds,
    durability: Option<Durability>,
    capacity: usize,
    stream_buffer: usize,
    metrics: Arc<Metrics>,
) -> EngineHandle {
    let journal = durability.as_ref().and_then(|d| d.journal.clone());
    let log_position = durability.as_ref().and_then(|d| d.log_position);
    let (feed, _) = broadcast::channel(stream_buffer);
    let bounds = engine.time_bounds();
    let worker = Worker {
        core: Core::with_recent(engine, recent),
        history,
        metrics: metrics.clone(),
        feed: feed.clone(),
        published: 0,
        counters: DecisionCounters::default(),
        journal: journal.clone(),
        checkpoints: durability.map(|d| d.checkpoints),
        log_position,
        scratch: Vec::new(),
        observed: StateObserver::default(),
    };
    EngineHandle {
        worker: Arc::new(Mutex::new(Some(worker))),
        in_flight: Arc::new(AtomicUsize::new(0)),
        capacity,
        metrics,
        feed,
        journal,
        bounds,
        checkpointing: Arc::new(Mutex::new(())),
    }
}

/// Applies one journal entry to the state as the worker applied it the
/// first time (without metrics, publishing or journaling): replaying the
/// journal rebuilds the state it left.
pub fn apply(core: &mut Core, history: &mut History, entry: Entry) {
    match entry {
        Entry::Event(e) => {
            let d = core.decide(&e);
            history.record(&e, &d);
        }
        Entry::Feedback { event_id, verdict } => {
            if let Some(seen) = history.find(&event_id) {
                let event = seen.event.clone();
                core.engine.feedback(&event, verdict);
                history.set_feedback(&event_id, verdict);
            }
        }
    }
    // Published when first issued.
    let _ = core.engine.take_enforcements();
}

struct Worker {
    /// The engine, with the ids decided lately, to know a redelivery when
    /// the history has forgotten it.
    core: Core,
    history: History,
    metrics: Arc<Metrics>,
    feed: broadcast::Sender<Arc<Published>>,
    /// Sequence number of the last enforcement published.
    published: u64,
    counters: DecisionCounters,
    journal: Option<Arc<Journal>>,
    checkpoints: Option<Checkpoints>,
    /// A replica's next offset of the cluster log to fold.
    log_position: Option<u64>,
    scratch: Vec<u8>,
    observed: StateObserver,
}

impl Worker {
    /// A checkpoint of the state at the journal's end (a replica: at its log
    /// position), written by a forked copy of the process while the engine
    /// goes on (see [`super::snapshot`]); in place when it cannot fork.
    /// [`Snapshot::finish`] completes it, off the engine.
    fn checkpoint(&mut self) -> Result<Snapshot, String> {
        let Some(c) = &self.checkpoints else {
            return Err("the journal is off, so there is nothing to checkpoint against".into());
        };
        let position = match (&self.journal, self.log_position) {
            (Some(j), _) => j.end(),
            (None, Some(p)) => p,
            (None, None) => {
                return Err("the journal is off, so there is nothing to checkpoint against".into())
            }
        };
        let started = Instant::now();
        let (engine, history, recent) = (&self.core.engine, &self.history, &self.core.recent);
        let stage = || c.stage_state(engine, history, recent, position);
        #[cfg(unix)]
        {
            // SAFETY: the worker is held (`&mut self`), so no other thread
            // changes what the child reads; writing a checkpoint takes no
            // lock another thread could hold.
            let hold = super::snapshot::test_hold();
            let forked = unsafe {
                super::snapshot::fork_with(|| {
                    super::snapshot::wait_while(hold);
                    stage().map(drop).map_err(|e| e.to_string())
                })
            };
            match forked {
                Ok(child) => {
                    return Ok(Snapshot {
                        checkpoints: c.clone(),
                        position,
                        started,
                        paused: started.elapsed().as_secs_f64(),
                        writing: Writing::Child(child, c.staged(position)),
                    })
                }
                Err(e) => eprintln!(
                    "palisade serve: cannot fork to write the checkpoint ({e}): writing it in place, the engine waits"
                ),
            }
        }
        let staged = stage().map_err(|e| e.to_string())?;
        Ok(Snapshot {
            checkpoints: c.clone(),
            position,
            started,
            paused: started.elapsed().as_secs_f64(),
            writing: Writing::Done(staged),
        })
    }

    /// Writes what is about to be applied to the journal. A failed write
    /// breaks the journal: later syncs fail and nothing more is acknowledged.
    fn log(&mut self, entry: EntryRef<'_>) {
        if let Some(j) = &self.journal {
            if let Err(e) = j.append(entry, &mut self.scratch) {
                self.metrics.journal_errors.inc();
                if self.metrics.journal_errors.get() == 1 {
                    eprintln!("palisade serve: {e}; nothing more is acknowledged until a restart");
                }
            }
        }
    }

    fn run(&mut self, job: Job) {
        // A caller that timed out has gone; what was done stands, so replies
        // that find no one are ignored.
        match job {
            Job::Decide(event, reply) => {
                let d = match self.redelivery(&event) {
                    Some(d) => Ok(d),
                    None => match self.late(&event) {
                        Some(r) => Err(r),
                        None => Ok(self.decide(&event).0),
                    },
                };
                let _ = reply.send(d);
            }
            Job::Ingest(events, reply) => {
                // Refused whole, before anything is applied. The time is
                // checked first: only a late event is looked up as a
                // redelivery here (a look-up per event, twice, showed in
                // the ingest rate).
                let late = events.iter().enumerate().find_map(|(i, e)| {
                    let r = self.lateness(e)?;
                    (!self.is_redelivery(e)).then_some((i, r))
                });
                if let Some((i, r)) = late {
                    count_refusal(&self.metrics, &r);
                    let _ = reply.send(Err((i, r)));
                    return;
                }
                let _ = reply.send(Ok(self.apply_batch(&events)));
            }
            Job::Consume(events, reply) => {
                let out = events
                    .iter()
                    .map(|e| match self.redelivery(e) {
                        Some(d) => Consumed {
                            decision: Some(d),
                            redelivered: true,
                            enforcements: Vec::new(),
                            late: None,
                        },
                        // The history checked: what remains of
                        // `is_redelivery` is the memory of recent ids.
                        None if self.core.is_repeat(e) => Consumed {
                            decision: None,
                            redelivered: true,
                            enforcements: Vec::new(),
                            late: None,
                        },
                        None => match self.late(e) {
                            Some(r) => Consumed {
                                decision: None,
                                redelivered: false,
                                enforcements: Vec::new(),
                                late: Some(r),
                            },
                            None => {
                                let (d, enforcements) = self.decide(e);
                                Consumed {
                                    decision: Some(d),
                                    redelivered: false,
                                    enforcements,
                                    late: None,
                                }
                            }
                        },
                    })
                    .collect();
                let _ = reply.send(out);
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
                    .core
                    .engine
                    .enforcements_in_force()
                    .iter()
                    .map(json_line)
                    .collect();
                let _ = reply.send((lines, self.published));
            }
            Job::Checkpoint(reply) => {
                let _ = reply.send(self.checkpoint());
            }
            Job::Ping(reply) => {
                self.refresh_gauges();
                let _ = reply.send(());
            }
            Job::Probe(event, reply) => {
                let d = match self.redelivery(&event) {
                    Some(d) => Ok(d),
                    None => match self.late(&event) {
                        Some(r) => Err(r),
                        None => Ok(self.probe(&event)),
                    },
                };
                let _ = reply.send(d);
            }
            Job::CheckLate(events, reply) => {
                let late = events.iter().enumerate().find_map(|(i, e)| {
                    let r = self.lateness(e)?;
                    (!self.is_redelivery(e)).then_some((i, r))
                });
                if let Some((_, r)) = &late {
                    count_refusal(&self.metrics, r);
                }
                let _ = reply.send((events, late));
            }
            Job::Apply(events, reply) => {
                let _ = reply.send(self.apply_batch(&events));
            }
            Job::Fold(records, reply) => {
                let out = records.into_iter().map(|r| self.fold(r)).collect();
                let _ = reply.send(out);
            }
        }
    }

    /// Decides a batch's events, a redelivery among them counted and not
    /// applied again.
    fn apply_batch(&mut self, events: &[Event]) -> Ingested {
        let mut duplicates = 0;
        for e in events {
            if self.is_redelivery(e) {
                duplicates += 1;
            } else {
                self.decide(e);
            }
        }
        Ingested {
            decided: events.len() - duplicates,
            duplicates,
        }
    }

    /// A replica's answer to an attempt, counted in its metrics here (the
    /// fold of the attempt is not counted again).
    fn probe(&mut self, e: &Event) -> Decision {
        let started = Instant::now();
        let d = self.core.engine.probe(e);
        self.metrics
            .evaluation
            .observe(started.elapsed().as_secs_f64());
        self.counters.count(&self.metrics, e, &d);
        d
    }

    /// Applies one record of the cluster log, as every replica does.
    fn fold(&mut self, r: LogRecord) -> Folded {
        self.log_position = Some(r.offset + 1);
        match r.body {
            LogBody::Malformed | LogBody::Control => Folded::default(),
            LogBody::Feedback { event_id, verdict } => Folded {
                feedback: Some(self.feedback(&event_id, verdict)),
                ..Folded::default()
            },
            LogBody::Event(e) => {
                if let Some(d) = self.redelivery(&e) {
                    return Folded {
                        decision: Some(d),
                        duplicate: true,
                        ..Folded::default()
                    };
                }
                if self.core.is_repeat(&e) {
                    return Folded {
                        duplicate: true,
                        ..Folded::default()
                    };
                }
                if let Some(late) = self.lateness(&e) {
                    if r.counted_here {
                        count_refusal(&self.metrics, &late);
                    }
                    return Folded {
                        late: Some(late),
                        ..Folded::default()
                    };
                }
                let started = Instant::now();
                let d = self.core.decide(&e);
                if r.counted_here {
                    self.metrics
                        .evaluation
                        .observe(started.elapsed().as_secs_f64());
                    self.counters.count(&self.metrics, &e, &d);
                }
                self.history.record(&e, &d);
                let enforcements = self.publish();
                Folded {
                    decision: Some(d),
                    enforcements,
                    ..Folded::default()
                }
            }
        }
    }

    /// The earlier decision of an event decided before (same id and
    /// outcome), when the history still holds it: `/v1/decide` answers a
    /// retried request with it, touching no state.
    fn redelivery(&self, e: &Event) -> Option<Decision> {
        if e.event_id.is_empty() {
            return None;
        }
        let seen = self.history.find_outcome(&e.event_id, e.outcome)?;
        Some(seen.decision.clone())
    }

    /// A new event further behind the engine's clock than the bounds allow
    /// (counted), if it is one.
    fn late(&self, e: &Event) -> Option<TimeRefusal> {
        let r = self.lateness(e)?;
        count_refusal(&self.metrics, &r);
        Some(r)
    }

    /// [`Worker::late`], not counted.
    fn lateness(&self, e: &Event) -> Option<TimeRefusal> {
        let t = e.timestamp?;
        self.core
            .engine
            .time_bounds()
            .check_late(t.millis(), self.core.engine.clock_ms())
            .err()
    }

    /// Whether the event (same id and outcome) was decided before, by the
    /// history or, past it, the memory of recent ids.
    fn is_redelivery(&self, e: &Event) -> bool {
        self.core.is_repeat(e) || self.redelivery(e).is_some()
    }

    /// Decides a new event: its decision and the enforcements it issued
    /// (already published to stream readers).
    fn decide(&mut self, e: &Event) -> (Decision, Vec<Enforcement>) {
        self.log(EntryRef::Event(e));
        let started = Instant::now();
        let d = self.core.decide(e);
        self.metrics
            .evaluation
            .observe(started.elapsed().as_secs_f64());
        self.counters.count(&self.metrics, e, &d);
        self.history.record(e, &d);
        let enforcements = self.publish();
        (d, enforcements)
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
        self.log(EntryRef::Feedback {
            event_id: id,
            verdict,
        });
        let effect = self.core.engine.feedback(&event, verdict);
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

    /// Sends the enforcements the engine issued to stream readers, and
    /// returns them.
    fn publish(&mut self) -> Vec<Enforcement> {
        let issued = self.core.engine.take_enforcements();
        for e in &issued {
            self.published += 1;
            self.metrics
                .enforcements
                .with_label_values(&[e.scope.as_str()])
                .inc();
            // No reader is not an error: late readers get what is in force.
            let _ = self.feed.send(Arc::new(Published {
                seq: self.published,
                line: json_line(e),
            }));
        }
        issued
    }

    fn refresh_gauges(&mut self) {
        self.observed.observe(
            &self.metrics,
            &self.core.engine,
            Some((&self.history, &self.core.recent)),
        );
        if let Some(j) = &self.journal {
            self.metrics.journal_bytes.set(j.disk_bytes() as i64);
        }
    }
}

fn json_line<T: serde::Serialize>(v: &T) -> Bytes {
    let mut line = serde_json::to_vec(v).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}
