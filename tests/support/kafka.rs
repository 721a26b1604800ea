//! The Kafka tests' side of a real broker: topics, a producer, and a reader
//! of one-partition topics.

use super::child::WAIT;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The broker at `PALISADE_TEST_KAFKA`; `None` (SKIP) without it, except
/// under CI, where it is a failure.
pub fn broker() -> Option<String> {
    match std::env::var("PALISADE_TEST_KAFKA") {
        Ok(b) if !b.is_empty() => Some(b),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI runs the Kafka tests: scripts/test starts a broker and sets PALISADE_TEST_KAFKA"
            );
            eprintln!(
                "SKIP: PALISADE_TEST_KAFKA is not set (scripts/test starts a broker and sets it); Kafka test skipped"
            );
            None
        }
    }
}

/// Creates topics of one replica, by name and partition count.
pub async fn create(broker: &str, topics: &[(&str, i32)]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .create()
        .unwrap();
    let new: Vec<_> = topics
        .iter()
        .map(|&(name, partitions)| NewTopic::new(name, partitions, TopicReplication::Fixed(1)))
        .collect();
    for r in admin
        .create_topics(&new, &AdminOptions::new())
        .await
        .unwrap()
    {
        r.unwrap_or_else(|e| panic!("cannot create topic: {e:?}"));
    }
}

pub fn producer(broker: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("linger.ms", "1")
        .create()
        .unwrap()
}

pub async fn publish(p: &FutureProducer, topic: &str, messages: &[(String, Vec<u8>)]) {
    let sends = messages.iter().map(|(key, value)| {
        p.send(
            FutureRecord::to(topic)
                .key(key.as_str())
                .payload(value.as_slice()),
            Duration::from_secs(10),
        )
    });
    for r in futures_util::future::join_all(sends).await {
        r.unwrap_or_else(|(e, _)| panic!("cannot publish: {e}"));
    }
}

/// A record read back from an output topic.
#[derive(Debug, Clone)]
pub struct Record {
    pub offset: i64,
    pub key: String,
    pub value: Vec<u8>,
    pub headers: HashMap<String, String>,
}

impl Record {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.value).unwrap()
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
}

/// Reads a one-partition topic from its beginning.
pub struct Reader {
    consumer: BaseConsumer,
    pub records: Vec<Record>,
}

impl Reader {
    pub fn new(broker: &str, topic: &str) -> Reader {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", broker)
            .set("group.id", format!("{topic}-reader"))
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Beginning)
            .unwrap();
        consumer.assign(&tpl).unwrap();
        Reader {
            consumer,
            records: Vec::new(),
        }
    }

    /// Reads until `done` holds for everything read so far, or panics
    /// after `WAIT` with what was read.
    pub fn until(&mut self, what: &str, done: impl Fn(&[Record]) -> bool) -> &[Record] {
        let deadline = Instant::now() + WAIT;
        while !done(&self.records) {
            assert!(
                Instant::now() < deadline,
                "waited {WAIT:?} for {what}; read {} records",
                self.records.len()
            );
            self.drain(Duration::from_millis(200));
        }
        &self.records
    }

    /// Reads everything the topic holds now.
    ///
    /// tansu 0.6 was seen to answer with a high watermark one past the
    /// first offset of the last record batch, not past its last record; a
    /// batch arrives whole, so reading until a record at `high - 1` or later
    /// and then taking what is queued gets everything from either broker.
    pub fn all(&mut self, topic: &str) -> &[Record] {
        let (_, high) = self
            .consumer
            .fetch_watermarks(topic, 0, Duration::from_secs(5))
            .unwrap();
        self.until(&format!("the records of {topic} up to {high}"), |r| {
            high == 0 || r.last().is_some_and(|r| r.offset >= high - 1)
        });
        self.drain(Duration::from_millis(200));
        &self.records
    }

    pub fn drain(&mut self, wait: Duration) {
        while let Some(m) = self.consumer.poll(wait) {
            let m = m.unwrap();
            let headers = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| {
                            (
                                h.key.to_string(),
                                String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            self.records.push(Record {
                offset: m.offset(),
                key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                value: m.payload().unwrap_or_default().to_vec(),
                headers,
            });
        }
    }
}
