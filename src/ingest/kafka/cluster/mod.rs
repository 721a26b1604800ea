//! A replica of a Palisade cluster (`cluster.mode = "replicated"`): every
//! instance holds the whole state, folded from one totally ordered log.
//!
//! **The log.** `cluster.log_topic`, a topic of one partition: its offset
//! order is the order every replica applies changes in, and the engine is
//! deterministic on event time, so replicas that fold the same records
//! reach the same state. What changes state is written to it, and applied
//! by every replica, the writer too, only when read back:
//!
//! - `POST /v1/events` and `POST /v1/feedback` write their records and
//!   answer once this replica has folded them (durable in the log and
//!   visible here);
//! - the events topic (any number of partitions) is forwarded into the log
//!   by the publisher (below), which reads every partition by assignment
//!   from where its predecessor stopped: each forwarded record names its
//!   source offset (`palisade-source`) and each renewal where the forwarder
//!   is, so the log itself says where to go on (an event forwarded twice
//!   across a failover is recognised by its id). The checks a single
//!   instance makes (decoding, the host clock) are made there, and what
//!   fails them goes to the dead-letter topic, so every record in the log
//!   is one the replicas apply alike;
//! - `POST /v1/decide` answers an attempt at once from the replica's state
//!   without changing it ([`crate::engine::Engine::probe`]) and writes the
//!   attempt to the log, where every replica applies it once. An outcome
//!   sent to `/v1/decide` is written and answered once folded.
//!
//! So a decision here misses only what the other replicas wrote in the
//! last replication lag (`palisade_cluster_replication_delay_seconds`):
//! the staleness bound. The log is the log of record: a replica keeps no
//! journal; its checkpoints hold the log offset they were taken at.
//!
//! **One publisher.** The role is a lease held through the log itself, so
//! every replica agrees who holds it from the records alone. The holder
//! writes a `lease` record every third of `cluster.lease_timeout` (with
//! the offset it has published up to); a replica that has heard nothing
//! from the holder for `lease_timeout` writes a claim for the next term. A
//! claim takes the role when the log shows the holder silent for the
//! claim's timeout before it (by the records' append times): the first
//! such claim in the log wins, and every replica folds the same records to
//! the same answer. A replica stopping cleanly resigns at once. The holder
//! publishes the decisions (of events that came from the events topic) and
//! the enforcements (of every record) to the decisions topic; a new holder
//! publishes again, from its window of recent outputs, what lies after its
//! predecessor's last reported offset, with the header `redelivered: true`.
//! Every record names its log offset (`log_offset`) and every enforcement
//! a stable id (`enforcement_id`, `<offset>.<index>`), so a repeat after a
//! failover is recognisably the same record. (Kafka's group coordination,
//! the owner of the log's partition in a consumer group, was the first
//! design; tansu 0.6 did not give a dead member's partition to a survivor
//! in a group of three, and the log's own order needs no second mechanism.)
//!
//! **Starting.** From the newest checkpoint in
//! `<data_dir>/cluster/<log_topic>/checkpoints` (or, with none, one taken
//! from a peer, `cluster.join_from`), then the log from its offset. The log
//! must still hold that offset (checked at start) and so must keep records
//! at least [`ClusterConfig::retention_needed`]: checked against the topic's
//! `retention.ms` when the broker says it.
//!
//! **Reading the log.** Replicas read the partition by assignment, not in
//! a group. A fetch from an offset in the middle of a record batch was seen
//! (tansu 0.6) to answer with the batch after it: a gap is met by reading
//! again from further back and skipping what was folded.

use super::*;
use crate::config::cluster::ClusterConfig;
use crate::event::FeedbackVerdict;
use crate::node::replication::{Append, AppendError, Appended, Origin, Replication};
use crate::node::worker::{Folded, LogBody, LogRecord};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::Offset;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;

mod join;
mod lease;
mod publish;

pub use join::join_from;
use lease::{Lease, LeaseRecord};
use publish::{outputs, Round};

const H_KIND: &str = "palisade-kind";
const H_ORIGIN: &str = "palisade-origin";
const H_INSTANCE: &str = "palisade-instance";
const H_REQUEST: &str = "palisade-request";
const H_CONFIG: &str = "palisade-config";
/// On a forwarded event: `<partition>:<offset>` of the events topic.
pub(super) const H_SOURCE: &str = "palisade-source";

/// The canonical JSON of an event, as the log holds it.
pub fn encode_event(e: &Event) -> Vec<u8> {
    serde_json::to_vec(e).unwrap_or_default()
}

#[derive(serde::Serialize, serde::Deserialize)]
struct FeedbackRecord {
    event_id: String,
    verdict: FeedbackVerdict,
}

/// Whether, and from where, this replica forwards the events topic into
/// the log: only the publisher does, from where its predecessor stopped.
#[derive(Default)]
pub struct ForwardControl {
    pub active: AtomicBool,
    /// Bumped each time `from` is set anew.
    pub generation: AtomicU64,
    /// The next offset to forward, per partition of the events topic
    /// (absent: from the beginning).
    pub from: Mutex<HashMap<i32, i64>>,
    /// The forwarder's next offsets as it goes (reported in renewals).
    pub done: Mutex<HashMap<i32, i64>>,
}

/// What a replica stamps on the records it writes to the log.
#[derive(Clone)]
pub struct Forward {
    pub log_topic: String,
    pub control: Arc<ForwardControl>,
    instance: String,
    /// The rules, model and hash key the writer runs, so a replica that
    /// reads a record of another configuration can say so.
    fingerprint: String,
}

impl Forward {
    pub fn new(
        cluster: &ClusterConfig,
        fingerprint: String,
        control: Arc<ForwardControl>,
    ) -> Forward {
        Forward {
            log_topic: cluster.log_topic.clone(),
            control,
            instance: client::instance_name(),
            fingerprint,
        }
    }

    pub(super) fn headers(
        &self,
        origin: Origin,
        request: Option<&str>,
    ) -> Vec<(Cow<'static, str>, Vec<u8>)> {
        let kind: &[u8] = if origin == Origin::Feedback {
            b"feedback"
        } else {
            b"event"
        };
        let mut h: Vec<(Cow<'static, str>, Vec<u8>)> = vec![
            (H_KIND.into(), kind.to_vec()),
            (H_ORIGIN.into(), origin.as_str().as_bytes().to_vec()),
            (H_INSTANCE.into(), self.instance.as_bytes().to_vec()),
            (H_CONFIG.into(), self.fingerprint.as_bytes().to_vec()),
        ];
        if let Some(r) = request {
            h.push((H_REQUEST.into(), r.as_bytes().to_vec()));
        }
        h
    }
}

/// The configuration fingerprint replicas compare: hash key fingerprint,
/// rules version, model version.
pub fn fingerprint(engine: &crate::engine::Engine) -> String {
    format!(
        "{:016x}/{}/{}",
        engine.hash_key_fingerprint(),
        engine.rules_version(),
        engine.model_version()
    )
}

/// A request waiting for its records to be folded here.
struct Waiter {
    expected: usize,
    got: Vec<Folded>,
    reply: Option<oneshot::Sender<Vec<Folded>>>,
}

#[derive(Clone, Default, serde::Serialize)]
struct Status {
    position: u64,
    log_end: Option<u64>,
    lag_events: u64,
    lag_seconds: f64,
    caught_up: bool,
    publisher: bool,
    /// As the publisher: the next offset whose records it publishes.
    published_to: Option<u64>,
    /// The log consumer's connection problem, if any.
    broker: Option<String>,
    /// The publisher's lease: its term and holder.
    term: u64,
    holder: Option<String>,
}

/// The replica's side the HTTP door holds (as [`Replication`]).
pub struct Shared {
    producer: FutureProducer,
    stamp: Forward,
    /// Tells this process's requests from an earlier life's.
    nonce: String,
    /// Who this replica is in the publisher's lease.
    lease_id: String,
    seq: AtomicU64,
    waiters: Mutex<HashMap<u64, Waiter>>,
    status: Mutex<Status>,
    metrics: Arc<Metrics>,
    checkpoints: PathBuf,
    ready_lag: u64,
    runtime: tokio::runtime::Handle,
}

impl Shared {
    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn waiters(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Waiter>> {
        self.waiters.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A folded record this process wrote and waits for.
    fn folded(&self, request: u64, f: Folded) {
        let mut w = self.waiters();
        let Some(waiter) = w.get_mut(&request) else {
            return;
        };
        waiter.got.push(f);
        if waiter.got.len() >= waiter.expected {
            if let Some(mut done) = w.remove(&request) {
                if let Some(reply) = done.reply.take() {
                    let _ = reply.send(std::mem::take(&mut done.got));
                }
            }
        }
    }

    fn outgoing(&self, a: &Append, origin: Origin, request: Option<&str>) -> Outgoing {
        let (key, value) = match a {
            Append::Event(e) => (e.user.as_bytes().to_vec(), encode_event(e)),
            Append::Feedback { event_id, verdict } => (
                event_id.as_bytes().to_vec(),
                serde_json::to_vec(&FeedbackRecord {
                    event_id: event_id.clone(),
                    verdict: *verdict,
                })
                .unwrap_or_default(),
            ),
        };
        Outgoing {
            topic: Topic::Log,
            key,
            value,
            headers: self.stamp.headers(origin, request),
        }
    }
}

impl Replication for Shared {
    fn append(&self, records: Vec<Append>, origin: Origin, wait: Duration) -> Appended<'_> {
        Box::pin(async move {
            let n = records.len();
            if n == 0 {
                return Ok(Vec::new());
            }
            let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
            let request = format!("{}-{seq}", self.nonce);
            let (tx, rx) = oneshot::channel();
            self.waiters().insert(
                seq,
                Waiter {
                    expected: n,
                    got: Vec::with_capacity(n),
                    reply: Some(tx),
                },
            );
            let sends: Vec<_> = records
                .iter()
                .map(|a| {
                    let o = self.outgoing(a, origin, Some(&request));
                    try_send_to(&self.producer, &self.stamp.log_topic, &o)
                })
                .collect();
            // The whole exchange within `wait`: a broker that is down must
            // not hold a request for the producer's delivery timeout.
            let deadline = tokio::time::Instant::now() + wait;
            let Ok(results) = tokio::time::timeout_at(deadline, join_all(sends)).await else {
                self.waiters().remove(&seq);
                self.metrics
                    .cluster
                    .appends
                    .with_label_values(&[origin.as_str(), "error"])
                    .inc_by(n as u64);
                return Err(AppendError::NotWritten(format!(
                    "the cluster log did not acknowledge the records within {} (is the broker down?); send them again: repeats are recognised by event id",
                    humantime::format_duration(wait)
                )));
            };
            let failed = results.iter().filter(|r| r.is_err()).count() as u64;
            let appends = &self.metrics.cluster.appends;
            appends
                .with_label_values(&[origin.as_str(), "ok"])
                .inc_by(n as u64 - failed);
            if let Some(Err(e)) = results.into_iter().find(|r| r.is_err()) {
                appends
                    .with_label_values(&[origin.as_str(), "error"])
                    .inc_by(failed);
                self.waiters().remove(&seq);
                return Err(AppendError::NotWritten(format!(
                    "{failed} of {n} records were not written to the cluster log ({e}); send them again: repeats are recognised by event id"
                )));
            }
            match tokio::time::timeout_at(deadline, rx).await {
                Ok(Ok(folded)) => Ok(folded),
                _ => {
                    self.waiters().remove(&seq);
                    Err(AppendError::NotApplied(format!(
                        "written to the cluster log, but this replica did not apply it within {} (it is {} records behind)",
                        humantime::format_duration(wait),
                        self.status().lag_events
                    )))
                }
            }
        })
    }

    fn append_attempt(&self, e: &Event) {
        // One try, never a wait: a decide must not stall on the log. With
        // the producer's queue full (the broker away for a while) the
        // attempt is left out of the log and counted as an error; its
        // decision stands, and what it would have counted is lost.
        let o = self.outgoing(&Append::Event(e.clone()), Origin::Decide, None);
        let sent = try_send_to(&self.producer, &self.stamp.log_topic, &o);
        let appends = self.metrics.cluster.appends.clone();
        self.runtime.spawn(async move {
            let result = if sent.await.is_ok() { "ok" } else { "error" };
            appends.with_label_values(&["decide", result]).inc();
        });
    }

    fn ready(&self) -> Result<(), String> {
        let s = self.status();
        if let Some(b) = &s.broker {
            return Err(format!("cluster log: {b}"));
        }
        if s.caught_up {
            Ok(())
        } else {
            Err(format!(
                "catching up with the cluster log: at offset {}, {} records behind (ready within {})",
                s.position, s.lag_events, self.ready_lag
            ))
        }
    }

    fn status(&self) -> serde_json::Value {
        let s = self.status().clone();
        let mut v = serde_json::to_value(&s).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("mode".into(), "replicated".into());
            o.insert("instance".into(), self.stamp.instance.clone().into());
            o.insert("log_topic".into(), self.stamp.log_topic.clone().into());
        }
        v
    }

    fn checkpoints(&self) -> PathBuf {
        self.checkpoints.clone()
    }
}

/// A running replica: the log reader (and publisher) thread.
pub struct Cluster {
    thread: Background,
    pub shared: Arc<Shared>,
}

/// What starting a replica needs.
pub struct Start {
    pub kafka: KafkaConfig,
    pub cluster: ClusterConfig,
    /// The checkpoint's log offset: the first record to fold.
    pub position: u64,
    pub fingerprint: String,
    pub checkpoints: PathBuf,
    /// How long the log must keep records ([`ClusterConfig::retention_needed`]).
    pub retention_needed: Duration,
    /// Shared with this replica's forwarder.
    pub forward: Arc<ForwardControl>,
}

impl Cluster {
    /// Checks the log (one partition, still holding `position`, kept long
    /// enough), then starts reading it. An `Err` says why this replica
    /// must not start.
    pub async fn start(
        s: Start,
        engine: EngineHandle,
        metrics: Arc<Metrics>,
        runtime: tokio::runtime::Handle,
    ) -> Result<Cluster, String> {
        let k = &s.kafka;
        let c = &s.cluster;
        let topic = c.log_topic.clone();
        metrics.start_cluster();
        let admin: AdminClient<DefaultClientContext> = client_config(k, &k.properties)
            .create()
            .map_err(|e| format!("kafka admin client: {e}"))?;
        check_log(&admin, k, c, s.position, s.retention_needed).await?;
        // The reader's connection shows in `ready` through the log's end,
        // fetched every 500 ms (see `Reader::watermarks`).
        let health = Arc::new(Health::new(format!("connecting to {topic}")));
        let context = Context::new(health, metrics.clone());
        let log: BaseConsumer<Context> = client_config(k, &k.consumer_properties)
            // librdkafka wants a group even to read by assignment; this one
            // never joins and never commits.
            .set("group.id", format!("{}-reader", c.log_topic))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set(
                "fetch.wait.max.ms",
                c.fetch_wait.value().as_millis().to_string(),
            )
            // An offset the log no longer holds is an error, never a silent
            // jump (that would skip state).
            .set("auto.offset.reset", "error")
            .set_if_absent("enable.partition.eof", "false", k)
            .create_with_context(context)
            .map_err(|e| format!("kafka log reader: {e}"))?;
        let producer: FutureProducer = client_config(k, &k.producer_properties)
            .set(
                "message.timeout.ms",
                k.delivery_timeout.value().as_millis().to_string(),
            )
            .set_if_absent("enable.idempotence", "true", k)
            .set_if_absent("linger.ms", "1", k)
            .create()
            .map_err(|e| format!("kafka producer: {e}"))?;
        let nonce = {
            use rand_core::TryRngCore;
            let n = rand_core::OsRng
                .try_next_u64()
                .map_err(|e| format!("cluster: no randomness from the system: {e}"))?;
            format!("{n:016x}")
        };
        let shared = Arc::new(Shared {
            producer: producer.clone(),
            stamp: Forward::new(c, s.fingerprint.clone(), s.forward.clone()),
            lease_id: format!("{}#{}", client::instance_name(), &nonce[..8]),
            nonce,
            seq: AtomicU64::new(0),
            waiters: Mutex::new(HashMap::new()),
            status: Mutex::new(Status {
                position: s.position,
                ..Status::default()
            }),
            metrics: metrics.clone(),
            checkpoints: s.checkpoints.clone(),
            ready_lag: c.ready_lag,
            runtime: runtime.clone(),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let mut reader = Reader {
            lease: Lease::new(s.position),
            forwarded: HashMap::new(),
            last_renewal: None,
            last_claim: None,
            log,
            producer,
            engine,
            metrics,
            runtime,
            stop: stop.clone(),
            shared: shared.clone(),
            kafka: s.kafka,
            cluster: s.cluster,
            position: s.position,
            back: 0,
            window: VecDeque::new(),
            published_to: None,
            repeat_below: 0,
            retry_at: None,
            backoff: Duration::from_millis(100),
            in_flight: None,
            last_watermark: None,
            high: None,
            last_folded_ms: None,
            config_warned: None,
        };
        let thread = Background::spawn("palisade-replica", stop, move || reader.run())
            .map_err(|e| format!("cluster: cannot start the log reader thread: {e}"))?;
        Ok(Cluster { thread, shared })
    }

    /// Finishes the batch in flight and stops reading.
    pub async fn stop(self) {
        self.thread.stop().await;
    }
}

/// The log topic has one partition (it is created so when missing), still
/// holds `position`, and keeps records long enough.
async fn check_log(
    admin: &AdminClient<DefaultClientContext>,
    k: &KafkaConfig,
    c: &ClusterConfig,
    position: u64,
    retention_needed: Duration,
) -> Result<(), String> {
    let topic = &c.log_topic;
    let metadata = admin
        .inner()
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .map_err(|e| {
            format!(
                "cluster: cannot read the metadata of the log topic `{topic}` from {}: {e}",
                k.brokers.as_deref().unwrap_or_default()
            )
        })?;
    let partitions = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map_or(0, |t| t.partitions().len());
    if partitions == 0 {
        let made = admin
            .create_topics(
                &[NewTopic::new(topic, 1, TopicReplication::Fixed(-1))],
                &AdminOptions::new(),
            )
            .await
            .map_err(|e| format!("cluster: cannot create the log topic `{topic}`: {e}"))?;
        for r in made {
            match r {
                Ok(_) => {
                    eprintln!("palisade cluster: created the log topic `{topic}` (one partition)")
                }
                Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, e)) => {
                    return Err(format!(
                        "cluster: cannot create the log topic `{topic}`: {e}"
                    ))
                }
            }
        }
    } else if partitions != 1 {
        return Err(format!(
            "cluster: the log topic `{topic}` has {partitions} partitions; the cluster log must have exactly one (its order is the order every replica applies changes in). \
             Create a topic of one partition and set cluster.log_topic to it"
        ));
    }
    // A topic just made takes a moment to show in the metadata.
    let started = Instant::now();
    let (low, _high) = loop {
        match admin
            .inner()
            .fetch_watermarks(topic, 0, Duration::from_secs(10))
        {
            Ok(w) => break w,
            Err(e) if started.elapsed() > Duration::from_secs(15) => {
                return Err(format!("cluster: cannot read the log topic's offsets: {e}"))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    if low > position as i64 {
        let how = if position == 0 {
            "this replica has no checkpoint and would start from offset 0".to_string()
        } else {
            format!("this replica's checkpoint ends at offset {position}")
        };
        return Err(format!(
            "cluster: the log `{topic}` starts at offset {low}, but {how}: the records before {low} were deleted by retention, so the state cannot be rebuilt from the log. \
             Start from a newer checkpoint: set cluster.join_from to a running replica (its checkpoint is taken over), or raise the topic's retention.ms"
        ));
    }
    // retention.ms, when the broker says it.
    let described = admin
        .describe_configs(
            &[ResourceSpecifier::Topic(topic)],
            &AdminOptions::new().request_timeout(Some(Duration::from_secs(5))),
        )
        .await;
    let retention_ms = described.ok().and_then(|rs| {
        rs.into_iter().flatten().find_map(|r| {
            r.get("retention.ms")
                .and_then(|e| e.value.as_deref())
                .and_then(|v| v.parse::<i64>().ok())
        })
    });
    let needed = humantime::format_duration(retention_needed);
    match retention_ms {
        Some(ms) if ms >= 0 && (ms as u128) < retention_needed.as_millis() => {
            return Err(format!(
                "cluster: the log topic `{topic}` keeps records {} (retention.ms = {ms}), less than the {needed} a replica needs to restart or join from a checkpoint (twice journal.checkpoint_interval and a day). \
                 Raise retention.ms (or set it to -1), or checkpoint more often",
                humantime::format_duration(Duration::from_millis(ms as u64))
            ));
        }
        Some(_) => {}
        None => eprintln!(
            "palisade cluster: warning: the broker did not say how long `{topic}` keeps records (retention.ms); it must keep them at least {needed}"
        ),
    }
    Ok(())
}

/// One record as read, before and after folding.
struct Read {
    offset: u64,
    lease: Option<LeaseRecord>,
    origin: Option<Origin>,
    request: Option<u64>,
    append_ms: Option<i64>,
    user: String,
    event_id: String,
    tenant: Option<String>,
}

struct Reader {
    log: BaseConsumer<Context>,
    lease: Lease,
    /// The next offset of each events-topic partition, as the forwarded
    /// records folded say.
    forwarded: HashMap<i32, i64>,
    last_renewal: Option<Instant>,
    last_claim: Option<Instant>,
    producer: FutureProducer,
    engine: EngineHandle,
    metrics: Arc<Metrics>,
    runtime: tokio::runtime::Handle,
    stop: Arc<AtomicBool>,
    shared: Arc<Shared>,
    kafka: KafkaConfig,
    cluster: ClusterConfig,
    /// The next offset to fold.
    position: u64,
    /// How far back the last re-read after a gap went (0: none pending).
    back: u64,
    /// Outputs of recent records, by offset, for a takeover.
    window: VecDeque<(u64, Vec<Outgoing>)>,
    /// As the publisher, the next offset to publish.
    published_to: Option<u64>,
    /// Records of offsets below this go out marked as possible repeats (a
    /// predecessor's, or a round the broker refused part of).
    repeat_below: u64,
    /// After a refused round: not before this.
    retry_at: Option<Instant>,
    backoff: Duration,
    /// The round of records being published, if one is out.
    in_flight: Option<Round>,
    last_watermark: Option<Instant>,
    /// The log's end as last fetched.
    high: Option<i64>,
    last_folded_ms: Option<i64>,
    config_warned: Option<Instant>,
}

impl Reader {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    fn assign_at(&self, offset: u64) -> bool {
        let mut tpl = TopicPartitionList::new();
        if let Err(e) =
            tpl.add_partition_offset(&self.cluster.log_topic, 0, Offset::Offset(offset as i64))
        {
            eprintln!("palisade cluster: {e}");
            return false;
        }
        match self.log.assign(&tpl) {
            Ok(()) => true,
            Err(e) => {
                eprintln!("palisade cluster: cannot read the log from offset {offset}: {e}");
                false
            }
        }
    }

    fn run(&mut self) {
        if !self.assign_at(self.position) {
            return;
        }
        eprintln!(
            "palisade cluster: folding `{}` from offset {}",
            self.cluster.log_topic, self.position
        );
        let batch_size = self.kafka.batch_size;
        let mut batch: Vec<OwnedMessage> = Vec::with_capacity(batch_size);
        while !self.stopping() {
            self.lease_tick();
            self.publish_pending();
            batch.clear();
            let mut wait = POLL;
            while batch.len() < batch_size {
                match self.log.poll(wait) {
                    None => break,
                    Some(Ok(m)) => batch.push(m.detach()),
                    Some(Err(e)) => {
                        self.log_error(&e);
                        break;
                    }
                }
                wait = Duration::ZERO;
            }
            let folded = self.fold(&batch);
            if !folded {
                break;
            }
            self.watermarks();
        }
        if self.published_to.is_some() {
            // Resigned, so another replica takes over at once.
            let forwarded = self.forward_positions();
            self.shared
                .stamp
                .control
                .active
                .store(false, Ordering::Release);
            self.write_lease(LeaseRecord {
                term: self.lease.term,
                holder: None,
                claim: false,
                timeout_ms: 0,
                published_to: self.published_to,
                forwarded,
            });
        }
        let _ = self.producer.flush(Timeout::After(Duration::from_secs(5)));
        eprintln!("palisade cluster: stopped at log offset {}", self.position);
    }

    fn log_error(&self, e: &KafkaError) {
        let why = e.to_string();
        eprintln!("palisade cluster: reading the log: {why}");
        if matches!(
            e.rdkafka_error_code(),
            Some(RDKafkaErrorCode::OffsetOutOfRange | RDKafkaErrorCode::AutoOffsetReset)
        ) {
            self.shared.status().broker = Some(format!(
                "the log no longer holds offset {} (deleted by retention): this replica cannot catch up; restart it from a newer checkpoint (cluster.join_from)",
                self.position
            ));
        }
    }

    /// Folds the batch's records that follow the position in order; `false`
    /// when stopping with the engine gone.
    fn fold(&mut self, batch: &[OwnedMessage]) -> bool {
        let mut records = Vec::with_capacity(batch.len());
        let mut reads = Vec::with_capacity(batch.len());
        let mut expected = self.position;
        let mut gap = false;
        for msg in batch {
            let offset = msg.offset() as u64;
            if offset < expected {
                continue; // read again after a gap: folded already
            }
            if offset > expected {
                gap = true;
                break;
            }
            expected += 1;
            let (record, read) = self.decode(msg, offset);
            records.push(record);
            reads.push(read);
        }
        if !records.is_empty() {
            self.back = 0;
            let Some(folded) = self.apply(records) else {
                return false;
            };
            self.after(reads, folded);
        }
        if gap {
            // Read again from further back (see the module's docs).
            self.back = (self.back * 4).clamp(16, 1 << 20);
            let from = self.position.saturating_sub(self.back);
            if from == 0 && self.back > self.position {
                eprintln!(
                    "palisade cluster: the log skips from offset {} (records missing); reading from 0 to find it",
                    self.position
                );
            }
            self.assign_at(from);
        }
        true
    }

    fn decode(&mut self, msg: &OwnedMessage, offset: u64) -> (LogRecord, Read) {
        let mut kind = None;
        let mut origin = None;
        let mut request = None;
        let mut counted_here = false;
        if let Some(h) = msg.headers() {
            for Header { key, value } in h.iter() {
                let v = value.unwrap_or_default();
                match key {
                    H_KIND => kind = Some(v.to_vec()),
                    H_ORIGIN => origin = Origin::parse(v),
                    H_INSTANCE => counted_here = v == self.shared.stamp.instance.as_bytes(),
                    H_REQUEST => {
                        request = std::str::from_utf8(v)
                            .ok()
                            .and_then(|r| r.split_once('-'))
                            .filter(|(nonce, _)| *nonce == self.shared.nonce)
                            .and_then(|(_, seq)| seq.parse::<u64>().ok());
                    }
                    H_SOURCE => {
                        if let Some((p, o)) = std::str::from_utf8(v)
                            .ok()
                            .and_then(|t| t.split_once(':'))
                            .and_then(|(p, o)| {
                                Some((p.parse::<i32>().ok()?, o.parse::<i64>().ok()?))
                            })
                        {
                            let e = self.forwarded.entry(p).or_insert(o + 1);
                            *e = (*e).max(o + 1);
                        }
                    }
                    H_CONFIG if v != self.shared.stamp.fingerprint.as_bytes() => {
                        self.warn_config(offset, v);
                    }
                    _ => {}
                }
            }
        }
        let payload = msg.payload().unwrap_or_default();
        let mut lease = None;
        if kind.as_deref() == Some(b"lease") {
            lease = serde_json::from_slice::<LeaseRecord>(payload).ok();
        }
        let body = match kind.as_deref() {
            Some(b"lease") if lease.is_some() => Some(LogBody::Control),
            Some(b"event") => Event::from_json(payload).map(LogBody::Event).ok(),
            Some(b"feedback") => serde_json::from_slice::<FeedbackRecord>(payload)
                .ok()
                .map(|f| LogBody::Feedback {
                    event_id: f.event_id,
                    verdict: f.verdict,
                }),
            _ => None,
        }
        .unwrap_or_else(|| {
            self.metrics
                .cluster
                .skipped
                .with_label_values(&["malformed"])
                .inc();
            LogBody::Malformed
        });
        let (user, event_id, tenant) = match &body {
            LogBody::Event(e) => (e.user.clone(), e.event_id.clone(), e.tenant.clone()),
            _ => Default::default(),
        };
        let read = Read {
            offset,
            lease,
            origin,
            request,
            append_ms: msg.timestamp().to_millis(),
            user,
            event_id,
            tenant,
        };
        (
            LogRecord {
                offset,
                body,
                counted_here,
            },
            read,
        )
    }

    fn warn_config(&mut self, offset: u64, theirs: &[u8]) {
        if self
            .config_warned
            .is_some_and(|t| t.elapsed() < Duration::from_secs(60))
        {
            return;
        }
        self.config_warned = Some(Instant::now());
        eprintln!(
            "palisade cluster: warning: the log record at offset {offset} was written by a replica running another configuration ({}; this one runs {}: hash key fingerprint/rules/model). Replicas of other rules decide differently; run one configuration on every replica",
            String::from_utf8_lossy(theirs),
            self.shared.stamp.fingerprint
        );
    }

    /// One turn of the engine; `None` when it has stopped.
    fn apply(&self, records: Vec<LogRecord>) -> Option<Vec<Folded>> {
        let mut records = Some(records);
        loop {
            let (tx, rx) = oneshot::channel();
            let job = Job::Fold(records.take()?, tx);
            let ran = self
                .runtime
                .block_on(self.engine.run_returning(job, Duration::from_secs(5)));
            match ran {
                Ok(()) => return self.runtime.block_on(rx).ok(),
                Err((Refused::Overloaded | Refused::TimedOut, job)) if !self.stopping() => {
                    let Job::Fold(r, _) = job else { return None };
                    records = Some(r);
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(_) => return None,
            }
        }
    }

    /// Waiters answered, outputs kept and (as the publisher) published,
    /// metrics.
    fn after(&mut self, reads: Vec<Read>, folded: Vec<Folded>) {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let metrics = self.metrics.clone();
        let m = &metrics.cluster;
        for (r, f) in reads.into_iter().zip(folded) {
            if let Some(t) = r.append_ms {
                m.delay.observe(((now_ms - t).max(0) as f64) / 1000.0);
                self.last_folded_ms = Some(t);
            }
            if f.duplicate {
                m.skipped.with_label_values(&["duplicate"]).inc();
            }
            if f.late.is_some() {
                m.skipped.with_label_values(&["late"]).inc();
            }
            let out = outputs(&r, &f, &self.shared.stamp.instance);
            self.position = r.offset + 1;
            if !out.is_empty() {
                self.window.push_back((r.offset, out));
            }
            if let Some(req) = r.request {
                self.shared.folded(req, f);
            }
            if let (Some(lease), Some(at)) = (r.lease, r.append_ms) {
                self.lease.apply(lease, at);
                let mut s = self.shared.status();
                s.term = self.lease.term;
                s.holder = self.lease.holder.clone();
                drop(s);
                self.role();
            }
        }
        let keep_from = self
            .position
            .saturating_sub(self.cluster.publish_window as u64);
        let mut dropped = 0;
        while self.window.front().is_some_and(|(o, _)| *o < keep_from) {
            if let Some((o, _)) = self.window.pop_front() {
                if self.published_to.is_some_and(|p| o >= p) {
                    dropped += 1;
                }
            }
        }
        if dropped > 0 {
            eprintln!(
                "palisade cluster: warning: {dropped} log records' decisions and enforcements left the window (cluster.publish_window) unpublished: the decisions topic has refused them too long"
            );
            if let Some(p) = &mut self.published_to {
                *p = (*p).max(keep_from);
            }
        }
        self.publish_pending();
        m.position.set(self.position as i64);
        self.shared.status().position = self.position;
    }

    /// The log's end (asked of the broker at most every 500 ms; between,
    /// at least what was folded) and how far behind it this replica is.
    fn watermarks(&mut self) {
        let topic = &self.cluster.log_topic;
        let mut high = self.high.map(|h| h.max(self.position as i64));
        if self
            .last_watermark
            .is_none_or(|t| t.elapsed() >= Duration::from_millis(500))
        {
            self.last_watermark = Some(Instant::now());
            match self.log.fetch_watermarks(topic, 0, Duration::from_secs(1)) {
                Ok((_, h)) => {
                    high = Some(h);
                    self.high = Some(h);
                    let mut s = self.shared.status();
                    if s.broker.as_deref().is_some_and(|b| b.starts_with("broker")) {
                        s.broker = None;
                    }
                }
                Err(e) => {
                    self.shared.status().broker = Some(format!("broker unreachable: {e}"));
                }
            }
        }
        let Some(high) = high else { return };
        let lag = (high as u64).saturating_sub(self.position);
        let lag_seconds = match (lag, self.last_folded_ms) {
            (0, _) | (_, None) => 0.0,
            (_, Some(t)) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                ((now - t).max(0) as f64) / 1000.0
            }
        };
        let caught_up = lag <= self.cluster.ready_lag;
        let m = &self.metrics.cluster;
        m.lag_events.set(lag as i64);
        m.lag_seconds.set(lag_seconds);
        m.caught_up.set(i64::from(caught_up));
        let mut s = self.shared.status();
        s.log_end = Some(high as u64);
        s.lag_events = lag;
        s.lag_seconds = lag_seconds;
        if caught_up && !s.caught_up {
            eprintln!(
                "palisade cluster: caught up with the log at offset {} (of {high})",
                self.position
            );
        }
        s.caught_up = caught_up;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_reads_back_from_the_log_as_it_was_written() {
        let json = br#"{"event_id":"e1","kind":"sign_in","user":"Alice@Example.com","ip":"2001:db8::1","outcome":"failure","failure_reason":"bad_password","timestamp":"2026-11-01T10:00:00.123Z","user_agent":"Mozilla/5.0","device_id":"d1","password_sha1":"5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8","mfa":"none","tenant":"acme","user_exists":true}"#;
        let e = Event::from_json(json).unwrap();
        let back = Event::from_json(&encode_event(&e)).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn origins_read_back() {
        for o in [
            Origin::Decide,
            Origin::Events,
            Origin::Feedback,
            Origin::Kafka,
        ] {
            assert_eq!(Origin::parse(o.as_str().as_bytes()), Some(o));
        }
        assert_eq!(Origin::parse(b"other"), None);
    }
}
