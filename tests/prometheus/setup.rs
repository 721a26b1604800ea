//! The servers under test: `palisade serve` three times, one enforcing (with
//! a breach-corpus index and, given a broker, Kafka on fresh topics), one in
//! audit mode and one to overload, each serving its metrics without a key
//! for Prometheus.

use super::support::{self, child::Serve};
use super::traffic::{self, KafkaFeed};
use palisade::analytics::simulate::{simulate, SimulateOptions};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The servers Prometheus scrapes.
pub struct Servers {
    /// Enforcing, with the breach corpus and, given a broker, Kafka.
    pub enforce: Serve,
    /// In audit mode, with small caps so the eviction panels have evictions
    /// to show.
    pub audit: Serve,
    /// Enforcing, with room for one request in flight: the overload and
    /// server-error panels need 503s, which the others must never give.
    pub overload: Serve,
    /// Given a broker, a replica (`cluster.mode = "replicated"`, a cluster
    /// of one on fresh topics), for the cluster panels.
    pub replica: Option<Serve>,
    /// What to publish on the enforce server's events topic.
    pub feed: Option<KafkaFeed>,
    /// Where each serves its metrics without a key.
    pub targets: Vec<String>,
}

impl Servers {
    pub fn start(dir: &Path, kafka: Option<&str>) -> Servers {
        let corpus = breach_corpus(dir);
        let mut targets: Vec<String> = (0..3)
            .map(|_| format!("127.0.0.1:{}", support::free_port()))
            .collect();
        let pwned = format!(
            "[pwned]\nindex = {}\n",
            Value::from(corpus.to_str().unwrap())
        );
        let mut config = pwned.clone();
        let mut args = vec!["--metrics-listen", &targets[0]];
        let mut feed = None;
        let mut replica = None;
        if let Some(broker) = kafka {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            let (kafka_config, f) = runtime.block_on(kafka_setup(broker));
            config += &kafka_config;
            feed = Some(f);
            args.extend(["--kafka-brokers", broker]);
            let target = format!("127.0.0.1:{}", support::free_port());
            let cluster = runtime.block_on(cluster_setup(broker));
            replica = Some((target, format!("{pwned}{cluster}")));
        }
        let mut enforce = Serve::start(&config, &args);
        let mut replica = replica.map(|(target, config)| {
            let r = Serve::start(&config, &["--metrics-listen", &target]);
            targets.push(target);
            r
        });
        let audit_config = format!(
            "mode = \"audit\"\n{pwned}[limits]\nmax_profiles = 300\nrecent_event_ids = 3000\n"
        );
        let mut audit = Serve::start(&audit_config, &["--metrics-listen", &targets[1]]);
        let mut overload = Serve::start(
            "[server]\nqueue_capacity = 1\n",
            &["--metrics-listen", &targets[2]],
        );
        enforce.wait_ready();
        audit.wait_ready();
        overload.wait_ready();
        if let Some(r) = replica.as_mut() {
            r.wait_ready();
        }
        Servers {
            enforce,
            audit,
            overload,
            replica,
            feed,
            targets,
        }
    }
}

/// A cluster of one replica on fresh topics (the log made by the replica).
async fn cluster_setup(broker: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let p = format!("prometheus-cluster-{}-{nanos}", std::process::id());
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .create()
        .unwrap();
    let names = ["events", "decisions", "dlq"].map(|t| format!("{p}-{t}"));
    let new = names
        .each_ref()
        .map(|n| NewTopic::new(n, 1, TopicReplication::Fixed(1)));
    for r in admin
        .create_topics(&new, &AdminOptions::new())
        .await
        .unwrap()
    {
        r.unwrap_or_else(|e| panic!("cannot create topic: {e:?}"));
    }
    format!(
        r#"
[kafka]
brokers = "{broker}"
events_topic = "{p}-events"
decisions_topic = "{p}-decisions"
dlq_topic = "{p}-dlq"
[cluster]
mode = "replicated"
log_topic = "{p}-log"
"#
    )
}

/// A breach-corpus index of the passwords the traffic uses.
fn breach_corpus(dir: &Path) -> PathBuf {
    support::corpus::index(dir, "corpus", &(traffic::BREACHED.join("\n") + "\n"))
}

/// Fresh topics, the `[kafka]` config for them, and simulated events to
/// publish (another run of the simulator than the HTTP traffic's, its event
/// ids renamed so none is taken for one of those).
async fn kafka_setup(broker: &str) -> (String, KafkaFeed) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let prefix = format!("prometheus-{}-{nanos}", std::process::id());
    let [events, decisions, dlq] = ["events", "decisions", "dlq"].map(|t| format!("{prefix}-{t}"));
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .create()
        .unwrap();
    let new = [(&events, 2), (&decisions, 1), (&dlq, 1)]
        .map(|(name, partitions)| NewTopic::new(name, partitions, TopicReplication::Fixed(1)));
    for r in admin
        .create_topics(&new, &AdminOptions::new())
        .await
        .unwrap()
    {
        r.unwrap_or_else(|e| panic!("cannot create topic: {e:?}"));
    }
    // statistics.interval.ms: the lag gauge every second, not every 5 s.
    let config = format!(
        r#"
[kafka]
group_id = "{prefix}-group"
events_topic = "{events}"
decisions_topic = "{decisions}"
dlq_topic = "{dlq}"
batch_size = 50
[kafka.consumer_properties]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "500"
"auto.commit.interval.ms" = "200"
"statistics.interval.ms" = "1000"
"#
    );
    let mut out = Vec::new();
    let opts = SimulateOptions {
        users: 300,
        days: 3,
        seed: 12,
        ..SimulateOptions::default()
    };
    simulate(&opts, &mut out).unwrap();
    let messages = String::from_utf8(out)
        .unwrap()
        .lines()
        .filter(|l| !l.contains(r#""outcome":"attempt""#))
        .map(|l| {
            let user = serde_json::from_str::<Value>(l).unwrap()["user"]
                .as_str()
                .unwrap()
                .to_string();
            let renamed = l.replacen("\"event_id\":\"", "\"event_id\":\"kafka-", 1);
            (user, renamed.into_bytes())
        })
        .collect();
    let producer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("linger.ms", "1")
        .create()
        .unwrap();
    let feed = KafkaFeed {
        producer,
        topic: events,
        messages,
    };
    (config, feed)
}
