//! Kafka edge cases on librdkafka's in-process mock cluster (no broker
//! needed): when the decisions topic cannot take records, the consumer stops
//! reading at its window instead of buffering, and catches up once it can.

mod support;

use palisade::ingest::kafka::KafkaConfig;
use palisade::serve::ServerConfig;
use rdkafka::config::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::time::{Duration, Instant};
use support::*;

fn counter(s: &palisade::serve::Server, name: &str, filter: &str) -> f64 {
    String::from_utf8(s.state.metrics.render())
        .unwrap()
        .lines()
        .filter(|l| l.starts_with(name) && l.contains(filter))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "waited a minute for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeliverable_decision_pauses_reading_at_the_window_then_catches_up() {
    let mock = MockCluster::new(1).unwrap();
    let brokers = mock.bootstrap_servers();
    mock.create_topic("signin-events", 1, 1).unwrap();
    mock.create_topic("signin-decisions", 1, 1).unwrap();
    mock.create_topic("signin-events-dlq", 1, 1).unwrap();
    // No leader for the decisions topic: nothing can be delivered there.
    mock.partition_leader("signin-decisions", 0, None).unwrap();

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    for i in 0..50 {
        let (_, json) = event_at(i);
        producer
            .send(
                FutureRecord::to("signin-events")
                    .key("user")
                    .payload(json.as_bytes()),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
    }

    let server = server(ServerConfig::default());
    let config = KafkaConfig {
        brokers: Some(brokers),
        batch_size: 10,
        delivery_timeout: palisade::config::Setting::new(Duration::from_secs(1)),
        ..KafkaConfig::default()
    };
    let kafka = palisade::ingest::kafka::Kafka::start(
        config,
        None,
        server.state.engine.clone(),
        server.state.metrics.clone(),
        tokio::runtime::Handle::current(),
    )
    .unwrap();
    server.report_health(kafka.health.clone());

    wait_for("a failed delivery", || {
        counter(&server, "palisade_kafka_produce_errors_total", "") >= 1.0
    })
    .await;
    // While the batch cannot be delivered, nothing more is read.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let read = counter(&server, "palisade_kafka_messages_total", "");
    assert!(read <= 10.0, "{read} messages read past a window of 10");
    assert_eq!(
        counter(&server, "palisade_kafka_records_produced_total", ""),
        0.0
    );

    // The partition gets a leader back: the batch goes out, then the rest.
    mock.partition_leader("signin-decisions", 0, Some(1))
        .unwrap();
    wait_for("every message decided", || {
        counter(&server, "palisade_kafka_messages_total", "decided") >= 50.0
    })
    .await;
    wait_for("every decision delivered", || {
        counter(
            &server,
            "palisade_kafka_records_produced_total",
            "decisions",
        ) >= 50.0
    })
    .await;
    kafka.stop().await;
}

/// Event `i` of one user, a minute apart.
fn event_at(i: u32) -> (String, String) {
    let e = event(&format!("m{i}"), "user", "198.51.100.9", "success");
    let when = format!("2026-11-26T10:{:02}:00Z", i % 60);
    ("user".into(), e.replace("2026-11-26T10:00:00Z", &when))
}
