//! The Kafka door: a consumer-group member that reads sign-in events, has the
//! engine decide them, and publishes each decision and enforcement back.
//!
//! At least once, and idempotent. One thread runs a loop of turns: read up to
//! `batch_size` messages (the in-flight window), decide them in one turn of
//! the engine, produce their records (decisions, enforcements, dead letters),
//! wait until the broker has acknowledged every one, and only then store the
//! batch's offsets for librdkafka's next commit. Nothing is read while a turn
//! is in flight, so when the producer cannot deliver the consumer waits
//! instead of buffering without bound (librdkafka's prefetch is bounded by
//! `queued.max.messages.kbytes`). A crash after the engine applied a batch
//! (which the journal keeps) and before its offsets were committed
//! redelivers the batch. State is updated exactly once: the engine's memory
//! of recent event ids recognises each redelivered event, which changes no
//! state. Decision records are produced at least once: a redelivered event's
//! earlier decision is produced again, with the header `redelivered: true`,
//! while the history still holds it, so a decision whose record the broker
//! never acknowledged is not lost. Enforcements are not produced again.
//!
//! Rebalances come only from `poll`, which runs between turns, so when
//! partitions are revoked every stored offset is of delivered records: they
//! are committed before the partitions are let go. Stopping finishes the turn
//! in flight, commits, and leaves the group. A broker that is down at start or
//! goes away is retried by librdkafka with backoff; `/readyz` reports it.

pub use crate::config::kafka::{KafkaConfig, MANAGED_PROPERTIES};

use crate::event::{Event, EventError};
use crate::metrics::Metrics;
use crate::node::worker::{Consumed, EngineHandle, Job, Refused};
use crate::node::Health;
use futures_util::future::join_all;
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use rdkafka::TopicPartitionList;
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

mod client;
pub mod cluster;
mod forward_state;
mod message;
mod split;

use client::{client_config, commit, instance_name, set_health, Context, SetIfAbsent};
pub use message::{decode, DeadLetter};

/// A running consumer.
pub struct Kafka {
    thread: Background,
    pub health: Arc<Health>,
}

impl Kafka {
    /// Connects (in the background: a broker that is down is retried) and
    /// starts consuming. Fails only on a configuration librdkafka refuses.
    pub fn start(
        config: KafkaConfig,
        forward: Option<cluster::Forward>,
        engine: EngineHandle,
        metrics: Arc<Metrics>,
        runtime: tokio::runtime::Handle,
    ) -> Result<Kafka, String> {
        let brokers = config.brokers.clone().ok_or("kafka.brokers is not set")?;
        let health = Arc::new(Health::new(format!("connecting to {brokers}")));
        // Exported only when Kafka is on (a second start finds it there).
        let _ = metrics
            .registry
            .register(Box::new(metrics.kafka_up.clone()));
        metrics.kafka_up.set(0);
        metrics.start_kafka_at_zero();
        let context = Context::new(health.clone(), metrics.clone());
        // A replica forwards the events topic into the cluster log while it
        // publishes, reading the partitions by assignment from where the log
        // says its predecessor stopped: no group, no commits.
        let group = match &forward {
            Some(f) => format!("{}-forwarder", f.log_topic),
            None => config.group_id.clone(),
        };
        let consumer: BaseConsumer<Context> = client_config(&config, &config.consumer_properties)
            .set("group.id", &group)
            .set(
                "enable.auto.commit",
                if forward.is_some() { "false" } else { "true" },
            )
            .set("enable.auto.offset.store", "false")
            .set_if_absent("auto.offset.reset", "earliest", &config)
            .set_if_absent("enable.partition.eof", "false", &config)
            .set_if_absent("auto.commit.interval.ms", "1000", &config)
            .set_if_absent("statistics.interval.ms", "5000", &config)
            .create_with_context(context)
            .map_err(|e| format!("kafka consumer: {e}"))?;
        if forward.is_none() {
            consumer
                .subscribe(&[&config.events_topic])
                .map_err(|e| format!("kafka: cannot subscribe to {}: {e}", config.events_topic))?;
        }
        let producer: FutureProducer = client_config(&config, &config.producer_properties)
            .set(
                "message.timeout.ms",
                config.delivery_timeout.value().as_millis().to_string(),
            )
            .set_if_absent("enable.idempotence", "true", &config)
            .set_if_absent("linger.ms", "2", &config)
            .create()
            .map_err(|e| format!("kafka producer: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut pipe = Pipeline {
            log_topic: forward.as_ref().map(|f| f.log_topic.clone()),
            forward,
            following: forward_state::Following::default(),
            split: split::Split::default(),
            consumer,
            producer,
            engine,
            metrics,
            runtime,
            stop: stop.clone(),
            health: health.clone(),
            instance: instance_name(),
            config,
        };
        let thread = Background::spawn("palisade-kafka", stop, move || pipe.run())
            .map_err(|e| format!("kafka: cannot start the consumer thread: {e}"))?;
        Ok(Kafka { thread, health })
    }

    /// Finishes the turn in flight, commits, and leaves the group.
    pub async fn stop(self) {
        self.thread.stop().await;
    }
}

/// A door's thread, told to stop through a flag it checks between turns.
struct Background {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    fn spawn(
        name: &str,
        stop: Arc<AtomicBool>,
        run: impl FnOnce() + Send + 'static,
    ) -> std::io::Result<Background> {
        let thread = std::thread::Builder::new().name(name.into()).spawn(run)?;
        Ok(Background {
            stop,
            thread: Some(thread),
        })
    }

    /// Sets the flag and waits for the thread to finish its turn.
    async fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

/// A record to produce, owned so it can be sent again.
struct Outgoing {
    topic: Topic,
    key: Vec<u8>,
    value: Vec<u8>,
    headers: Vec<(Cow<'static, str>, Vec<u8>)>,
}

#[derive(Clone, Copy)]
enum Topic {
    Decisions,
    DeadLetters,
    /// The cluster log (a replica's forwarder writes the events topic to it).
    Log,
}

struct Pipeline {
    /// A replica's: where the events go instead of the engine.
    forward: Option<cluster::Forward>,
    /// A replica's forwarder: what it has been told and where it is.
    following: forward_state::Following,
    log_topic: Option<String>,
    /// A single instance's watch for another in its group.
    split: split::Split,
    consumer: BaseConsumer<Context>,
    producer: FutureProducer,
    engine: EngineHandle,
    metrics: Arc<Metrics>,
    runtime: tokio::runtime::Handle,
    stop: Arc<AtomicBool>,
    health: Arc<Health>,
    instance: String,
    config: KafkaConfig,
}

/// First wait for a message; then the loop checks for a stop at least this often.
const POLL: Duration = Duration::from_millis(100);

impl Pipeline {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// After a connection error, asks the broker for the topic's metadata
    /// (at most every 5 s) and reports ready again once it answers while
    /// partitions are assigned.
    fn recheck(&self, last: &mut Instant) {
        // A split's pause is the split watch's to lift.
        if self.health.status().is_ok()
            || last.elapsed() < Duration::from_secs(5)
            || self.split.paused()
        {
            return;
        }
        *last = Instant::now();
        let answered = self
            .consumer
            .fetch_metadata(Some(&self.config.events_topic), Duration::from_secs(2))
            .is_ok();
        let assigned = self.consumer.assignment().map_or(0, |a| a.count());
        if answered && assigned > 0 {
            set_health(
                &self.health,
                true,
                format!("{assigned} partitions assigned"),
                &self.metrics,
            );
        }
    }

    fn run(&mut self) {
        let mut batch: Vec<OwnedMessage> = Vec::with_capacity(self.config.batch_size);
        let mut last_check = Instant::now();
        while !self.stopping() {
            self.recheck(&mut last_check);
            if self.forward.is_none() && !self.watch_split() {
                break;
            }
            if self.forward.is_some() && !self.follow() {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            batch.clear();
            let mut wait = POLL;
            while batch.len() < self.config.batch_size {
                match self.consumer.poll(wait) {
                    None => break,
                    Some(Ok(m)) => batch.push(m.detach()),
                    Some(Err(e)) => {
                        eprintln!("palisade kafka: consuming: {e}");
                        break;
                    }
                }
                wait = Duration::ZERO;
            }
            if batch.is_empty() {
                continue;
            }
            let turned = if self.forward.is_some() {
                self.forward_turn(&batch)
            } else {
                self.turn(&batch)
            };
            if !turned {
                break;
            }
        }
        commit(&self.consumer, "at shutdown");
        let _ = self.producer.flush(Timeout::After(Duration::from_secs(5)));
        eprintln!("palisade kafka: stopped; offsets of delivered records committed");
        // Dropping the consumer leaves the group.
    }

    /// A message as an event the engine takes, or why it is a dead letter:
    /// not an event, or out of time (see `event::bounds`).
    fn checked(&self, m: &OwnedMessage) -> Result<Event, DeadLetter> {
        decode(m.payload(), self.config.max_message_bytes).and_then(|e| {
            match self.engine.check_time(&e) {
                Ok(()) => Ok(e),
                Err(r) => Err(DeadLetter {
                    code: "timestamp",
                    message: r.message,
                }),
            }
        })
    }

    /// One turn: decide, produce, wait for delivery, store offsets. `false`
    /// when stopped before the batch was delivered (its offsets stay
    /// unstored: the batch is read again by whoever owns the partitions next).
    fn turn(&mut self, batch: &[OwnedMessage]) -> bool {
        let mut events = Vec::with_capacity(batch.len());
        let mut verdicts = Vec::with_capacity(batch.len());
        for m in batch {
            let decoded = self.checked(m);
            match decoded {
                Ok(e) => {
                    verdicts.push(Ok(events.len()));
                    events.push(e);
                }
                Err(d) => verdicts.push(Err(d)),
            }
        }
        let Some(consumed) = self.decide(&events) else {
            return false;
        };
        // What the engine applied is durable before any offset is stored,
        // so a crash can lose no event the group has committed.
        if let Some(j) = self.engine.journal() {
            if let Err(e) = j.sync_blocking(j.end()) {
                eprintln!("palisade kafka: stopping: {e}");
                return false;
            }
        }
        let mut out = Vec::new();
        let m = &self.metrics;
        for (msg, verdict) in batch.iter().zip(verdicts) {
            // Too late for the engine's clock: a dead letter like any other.
            let verdict = verdict.and_then(|i| match &consumed[i].late {
                Some(r) => Err(DeadLetter {
                    code: "timestamp",
                    message: r.message.clone(),
                }),
                None => Ok(i),
            });
            match verdict {
                Err(dead) => {
                    m.kafka_messages.with_label_values(&["dead_lettered"]).inc();
                    m.kafka_dead_letters.with_label_values(&[dead.code]).inc();
                    out.push(self.dead_letter(msg, dead));
                }
                Ok(i) => {
                    let c = &consumed[i];
                    let e = &events[i];
                    let result = if c.redelivered {
                        "duplicate"
                    } else {
                        "decided"
                    };
                    m.kafka_messages.with_label_values(&[result]).inc();
                    // A redelivery's decision is produced again while the
                    // history holds it: its first record may not have been
                    // acknowledged before a crash.
                    let Some(d) = &c.decision else {
                        continue;
                    };
                    let mut value = Vec::with_capacity(512);
                    d.write_json(&mut value);
                    let mut headers = self.headers("decision", &e.event_id, d);
                    if let Some(t) = &e.tenant {
                        headers.push(("tenant".into(), t.as_bytes().to_vec()));
                    }
                    if c.redelivered {
                        headers.push(("redelivered".into(), b"true".to_vec()));
                    }
                    out.push(Outgoing {
                        topic: Topic::Decisions,
                        key: e.user.as_bytes().to_vec(),
                        value,
                        headers,
                    });
                    // A redelivery has none: what the event issued the first
                    // time is in force in the engine (a restart restores it)
                    // and `/v1/decisions/stream` lists it to every reader
                    // that connects, but an enforcement record lost to a
                    // crash is not produced again.
                    for enf in &c.enforcements {
                        out.push(Outgoing {
                            topic: Topic::Decisions,
                            key: enf.key().into_bytes(),
                            value: serde_json::to_vec(enf).unwrap_or_default(),
                            headers: self.headers("enforcement", &e.event_id, d),
                        });
                    }
                }
            }
        }
        if !self.deliver(out) {
            return false;
        }
        self.store_offsets(batch);
        true
    }

    /// A replica's turn: the batch's events, checked as [`Pipeline::turn`]
    /// checks them, written to the cluster log (where every replica,
    /// this one too, applies them), the rest to the dead-letter topic; the
    /// offsets are stored once the broker has acknowledged every record.
    fn forward_turn(&mut self, batch: &[OwnedMessage]) -> bool {
        let batch = self.in_order(batch);
        let Some(f) = &self.forward else {
            return false;
        };
        let mut out = Vec::with_capacity(batch.len());
        let m = &self.metrics;
        for msg in &batch {
            let decoded = self.checked(msg);
            match decoded {
                Ok(e) => {
                    m.kafka_messages.with_label_values(&["forwarded"]).inc();
                    let mut headers = f.headers(crate::node::replication::Origin::Kafka, None);
                    headers.push((
                        cluster::H_SOURCE.into(),
                        format!("{}:{}", msg.partition(), msg.offset()).into_bytes(),
                    ));
                    out.push(Outgoing {
                        topic: Topic::Log,
                        key: e.user.as_bytes().to_vec(),
                        value: cluster::encode_event(&e),
                        headers,
                    });
                }
                Err(dead) => {
                    m.kafka_messages.with_label_values(&["dead_lettered"]).inc();
                    m.kafka_dead_letters.with_label_values(&[dead.code]).inc();
                    out.push(self.dead_letter(msg, dead));
                }
            }
        }
        let logged = out.iter().filter(|o| matches!(o.topic, Topic::Log)).count() as u64;
        if !self.deliver(out) {
            return false;
        }
        m.cluster
            .appends
            .with_label_values(&["kafka", "ok"])
            .inc_by(logged);
        self.forwarded(&batch);
        true
    }

    /// The batch's events decided in one turn of the engine; `None` when
    /// stopping.
    fn decide(&self, events: &[Event]) -> Option<Vec<Consumed>> {
        if events.is_empty() {
            return Some(Vec::new());
        }
        loop {
            let (tx, rx) = oneshot::channel();
            let job = Job::Consume(events.to_vec(), tx);
            let ran = self
                .runtime
                .block_on(self.engine.run(job, self.config.delivery_timeout.value()));
            match ran {
                Ok(()) => return self.runtime.block_on(rx).ok(),
                // The HTTP side has the engine busy: wait and ask again.
                Err(Refused::Overloaded | Refused::TimedOut) if !self.stopping() => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => return None,
            }
        }
    }

    fn headers(
        &self,
        record: &'static str,
        event_id: &str,
        d: &crate::event::Decision,
    ) -> Vec<(Cow<'static, str>, Vec<u8>)> {
        [
            ("record", record.as_bytes()),
            ("event_id", event_id.as_bytes()),
            ("rules_version", d.rules_version.as_bytes()),
            ("model_version", d.model_version.as_bytes()),
            ("instance", self.instance.as_bytes()),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.to_vec()))
        .collect()
    }

    /// The original message, with why it is not an event and where it came
    /// from in headers (after the original headers).
    fn dead_letter(&self, msg: &OwnedMessage, dead: DeadLetter) -> Outgoing {
        let mut headers: Vec<(Cow<'static, str>, Vec<u8>)> = Vec::new();
        if let Some(h) = msg.headers() {
            for Header { key, value } in h.iter() {
                headers.push((key.to_string().into(), value.unwrap_or_default().to_vec()));
            }
        }
        for (k, v) in [
            ("error_code", dead.code.as_bytes().to_vec()),
            ("error", dead.message.into_bytes()),
            ("source_topic", msg.topic().as_bytes().to_vec()),
            ("source_partition", msg.partition().to_string().into_bytes()),
            ("source_offset", msg.offset().to_string().into_bytes()),
            ("instance", self.instance.as_bytes().to_vec()),
        ] {
            headers.push((k.into(), v));
        }
        Outgoing {
            topic: Topic::DeadLetters,
            key: msg.key().unwrap_or_default().to_vec(),
            value: msg.payload().unwrap_or_default().to_vec(),
            headers,
        }
    }

    /// Sends every record and waits until the broker has acknowledged them
    /// all, sending failed ones again with backoff; `false` when told to stop
    /// before that.
    fn deliver(&self, pending: Vec<Outgoing>) -> bool {
        // Nothing is read meanwhile. Should this outlast
        // `max.poll.interval.ms` (5 minutes by default), librdkafka leaves
        // the group and the batch goes to another member: still at least
        // once.
        let left = deliver_all(
            &Delivery {
                producer: &self.producer,
                runtime: &self.runtime,
                metrics: &self.metrics,
                what: "delivery",
                meanwhile: ", reading nothing more meanwhile",
            },
            pending,
            |o| self.topic_of(o),
            |o| {
                let kind = match o.topic {
                    Topic::Decisions => "decisions",
                    Topic::DeadLetters => "dead_letters",
                    Topic::Log => "log",
                };
                self.metrics.kafka_produced.with_label_values(&[kind]).inc();
            },
            || self.stopping(),
        );
        if !left.is_empty() {
            eprintln!(
                "palisade kafka: stopping with {} records undelivered; their messages will be read again",
                left.len()
            );
            return false;
        }
        true
    }

    fn topic_of(&self, o: &Outgoing) -> &str {
        match o.topic {
            Topic::Decisions => self.config.decisions_topic.as_str(),
            Topic::DeadLetters => self.config.dlq_topic.as_str(),
            Topic::Log => self.log_topic.as_deref().unwrap_or_default(),
        }
    }

    /// Stores, per partition, the offset after the batch's last message,
    /// for the next commit.
    fn store_offsets(&self, batch: &[OwnedMessage]) {
        let mut last: Vec<(i32, i64)> = Vec::new();
        for m in batch {
            match last.iter_mut().find(|(p, _)| *p == m.partition()) {
                Some(entry) => entry.1 = entry.1.max(m.offset()),
                None => last.push((m.partition(), m.offset())),
            }
        }
        for (partition, offset) in last {
            // Stores offset + 1, the next to read.
            if let Err(e) = self
                .consumer
                .store_offset(&self.config.events_topic, partition, offset)
            {
                // A partition revoked meanwhile: its new owner reads the
                // batch again; the records are delivered, so nothing is lost.
                eprintln!(
                    "palisade kafka: cannot store offset {offset} of partition {partition}: {e}"
                );
            }
        }
    }
}

/// Where [`deliver_all`] sends, and what it says when a send fails.
struct Delivery<'a> {
    producer: &'a FutureProducer,
    runtime: &'a tokio::runtime::Handle,
    metrics: &'a Metrics,
    /// "delivery", "publishing": what failed, in the message.
    what: &'a str,
    /// What the caller does while it retries, after the message.
    meanwhile: &'a str,
}

/// Sends every record and waits until the broker has acknowledged them
/// all, sending failed ones again with backoff (100 ms, doubling to 5 s);
/// `delivered` is called for each acknowledged one. Returns what is left
/// undelivered when `give_up` says so between rounds (empty: all done).
fn deliver_all<'t>(
    d: &Delivery<'_>,
    mut pending: Vec<Outgoing>,
    topic: impl Fn(&Outgoing) -> &'t str,
    delivered: impl Fn(&Outgoing),
    give_up: impl Fn() -> bool,
) -> Vec<Outgoing> {
    let mut backoff = Duration::from_millis(100);
    while !pending.is_empty() {
        let sends: Vec<_> = pending
            .iter()
            .map(|o| send_to(d.producer, topic(o), o))
            .collect();
        let results = d.runtime.block_on(join_all(sends));
        let mut failed = Vec::new();
        for (o, r) in pending.into_iter().zip(results) {
            match r {
                Ok(_) => delivered(&o),
                Err(e) => {
                    d.metrics.kafka_produce_errors.inc();
                    if failed.is_empty() {
                        eprintln!(
                            "palisade kafka: {} failed ({e}); sending again in {} ms{}",
                            d.what,
                            backoff.as_millis(),
                            d.meanwhile
                        );
                    }
                    failed.push(o);
                }
            }
        }
        pending = failed;
        if !pending.is_empty() {
            if give_up() {
                return pending;
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
    Vec::new()
}

/// Queues one record to `topic`; its future resolves when the broker
/// acknowledges it (to its offset). With the producer's queue full it waits
/// for room: for the doors' own threads.
fn send_to(
    producer: &FutureProducer,
    topic: &str,
    o: &Outgoing,
) -> impl std::future::Future<Output = Result<i64, KafkaError>> + use<> {
    queue(producer, topic, o, true)
}

/// [`send_to`] that never waits for room: a full queue is an error at once
/// (for requests, which must not stall on the broker).
fn try_send_to(
    producer: &FutureProducer,
    topic: &str,
    o: &Outgoing,
) -> impl std::future::Future<Output = Result<i64, KafkaError>> + use<> {
    queue(producer, topic, o, false)
}

fn queue(
    producer: &FutureProducer,
    topic: &str,
    o: &Outgoing,
    wait_for_room: bool,
) -> impl std::future::Future<Output = Result<i64, KafkaError>> + use<> {
    let mut headers = OwnedHeaders::new_with_capacity(o.headers.len());
    for (k, v) in &o.headers {
        headers = headers.insert(Header {
            key: k.as_ref(),
            value: Some(v.as_slice()),
        });
    }
    let mut record = FutureRecord::to(topic)
        .key(o.key.as_slice())
        .payload(o.value.as_slice())
        .headers(headers);
    let queued = loop {
        match producer.send_result(record) {
            Ok(f) => break Ok(f),
            // The producer's queue is full: let it drain, then try again.
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r))
                if wait_for_room =>
            {
                record = r;
                producer.poll(Duration::from_millis(10));
            }
            Err((e, _)) => break Err(e),
        }
    };
    async move {
        match queued {
            Err(e) => Err(e),
            Ok(delivery) => match delivery.await {
                Ok(Ok(d)) => Ok(d.offset),
                Ok(Err((e, _))) => Err(e),
                Err(_) => Err(KafkaError::Canceled),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_that_are_not_events_say_why() {
        let code = |p: Option<&[u8]>| decode(p, 1000).unwrap_err().code;
        assert_eq!(code(None), "empty");
        assert_eq!(code(Some(b"")), "empty");
        assert_eq!(code(Some(b"{not json")), "malformed_json");
        assert_eq!(code(Some(&[b' '; 1001])), "too_large");
        let bad_ip = br#"{"event_id":"e1","kind":"sign_in","user":"u","ip":"300.1.1.1","outcome":"failure","timestamp":"2026-11-01T00:00:00Z"}"#;
        let d = decode(Some(bad_ip), 1000).unwrap_err();
        assert_eq!(d.code, "invalid_field");
        assert!(d.message.contains("ip"), "{}", d.message);
        let no_time =
            br#"{"event_id":"e1","kind":"sign_in","user":"u","ip":"10.1.1.1","outcome":"failure"}"#;
        let d = decode(Some(no_time), 1000).unwrap_err();
        assert!(d.message.contains("timestamp"), "{}", d.message);
        let good = br#"{"event_id":"e1","kind":"sign_in","user":"u","ip":"10.1.1.1","outcome":"failure","timestamp":"2026-11-01T00:00:00Z"}"#;
        assert_eq!(decode(Some(good), 1000).unwrap().event_id, "e1");
    }
}
