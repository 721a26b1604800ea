//! The Kafka door's benchmark helper, for `scripts/kafka-bench`: fills a
//! topic with simulated sign-in events, or reads a topic from its start the
//! way a bare consumer does (no decoding, no engine, nothing produced), to
//! set Palisade's rate beside the broker's ceiling in the same run.
//!
//! ```sh
//! cargo build --release --example kafka_bench
//! target/release/examples/kafka_bench fill BROKER TOPIC EVENTS.jsonl
//! target/release/examples/kafka_bench read BROKER TOPIC COUNT
//! ```
//!
//! `fill` keys each event by its user, as an auth service would, and
//! prints how many it wrote; `read` assigns every partition from its
//! beginning, reads until it has COUNT messages, and prints the rate from
//! the first message to the last.

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use std::io::BufRead;
use std::time::{Duration, Instant};

fn usage() -> ! {
    eprintln!(
        "usage: kafka_bench fill BROKER TOPIC EVENTS.jsonl | kafka_bench read BROKER TOPIC COUNT"
    );
    std::process::exit(64)
}

fn fill(broker: &str, topic: &str, path: &str) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .expect("a producer");
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut n = 0u64;
    let started = Instant::now();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.expect("a line");
        if line.contains(r#""outcome":"attempt""#) {
            continue;
        }
        let user = line
            .split(r#""user":""#)
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("")
            .to_string();
        let mut record = BaseRecord::to(topic).key(&user).payload(&line);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
        n += 1;
    }
    producer
        .flush(Duration::from_secs(120))
        .expect("every event delivered");
    println!(
        "filled {topic} with {n} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

fn read(broker: &str, topic: &str, count: u64) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("group.id", format!("{topic}-bare"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("a consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("the topic's metadata");
    let partitions = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map_or(0, |t| t.partitions().len());
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions as i32 {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("a partition");
    }
    consumer.assign(&tpl).expect("assigned");
    let mut n = 0u64;
    let mut first = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    while n < count && Instant::now() < deadline {
        if let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
            first.get_or_insert_with(Instant::now);
            n += 1;
        }
    }
    let took = first.map_or(0.0, |t| t.elapsed().as_secs_f64());
    println!(
        "bare consumer: {n} messages in {took:.2} s: {:.0} messages/s",
        n as f64 / took.max(1e-9)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [cmd, broker, topic, path] if cmd == "fill" => fill(broker, topic, path),
        [cmd, broker, topic, count] if cmd == "read" => {
            read(broker, topic, count.parse().unwrap_or_else(|_| usage()))
        }
        _ => usage(),
    }
}
