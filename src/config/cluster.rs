//! The `[cluster]` section: one instance (`single`, the default) or a
//! replica of a cluster that folds one log on Kafka (`replicated`; see
//! `ingest::kafka::cluster`).

use super::setting::{SectionProblems, Setting};
use serde::Deserialize;
use std::time::Duration;

/// How instances share their state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterMode {
    /// One instance: its own journal is the log. Several instances in one
    /// Kafka consumer group would split the state, and are refused.
    #[default]
    Single,
    /// Every instance is a full replica folding the cluster log, a topic of
    /// one partition; one of them publishes.
    Replicated,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    pub mode: ClusterMode,
    /// The cluster log: a topic of exactly one partition (its order is the
    /// order every replica folds in). Created with one partition when
    /// missing. Its retention must cover `retention_needed`.
    pub log_topic: String,
    /// How long the log reader lets the broker hold a fetch when nothing is
    /// new (librdkafka's `fetch.wait.max.ms`). A broker that answers a held
    /// fetch as soon as a record arrives (Apache Kafka) makes this an idle
    /// cost only; one that does not (tansu) adds up to this to the
    /// replication lag.
    pub fetch_wait: Setting<Duration>,
    /// How long the publisher may go without renewing its lease in the
    /// log (it renews every third of this) before another replica takes
    /// the role over: the failover time after a publisher dies.
    pub lease_timeout: Setting<Duration>,
    /// `/readyz` answers ready once the replica is at most this many
    /// records behind the log's end.
    pub ready_lag: u64,
    /// Outputs (decision and enforcement records) of this many recent log
    /// records are kept by every replica, so a new publisher republishes
    /// what its predecessor may not have delivered.
    pub publish_window: usize,
    /// A peer to take a checkpoint from when this replica has none
    /// (`http://host:port`): it serves its newest at `GET
    /// /v1/cluster/checkpoint`. Unset: a replica without a checkpoint folds
    /// the log from its first record, which must then still be offset 0.
    pub join_from: Option<String>,
    /// The API key for `join_from` (default: this replica's first API key).
    pub join_api_key: Option<String>,
}

impl Default for ClusterConfig {
    fn default() -> ClusterConfig {
        ClusterConfig {
            mode: ClusterMode::Single,
            log_topic: "signin-log".to_string(),
            fetch_wait: Setting::new(Duration::from_millis(5)),
            lease_timeout: Setting::new(Duration::from_secs(6)),
            ready_lag: 1000,
            publish_window: 100_000,
            join_from: None,
            join_api_key: None,
        }
    }
}

impl ClusterConfig {
    pub fn replicated(&self) -> bool {
        self.mode == ClusterMode::Replicated
    }

    /// How long the log must keep a record: a replica restarts from its
    /// newest checkpoint, which is at most one checkpoint interval old
    /// (plus the time it is down); a joining replica from a peer's, the same.
    /// Twice the interval and a day's margin for a replica down overnight.
    pub fn retention_needed(checkpoint_interval: Duration) -> Duration {
        checkpoint_interval * 2 + Duration::from_secs(86_400)
    }

    /// Bad values, as `(key, message)`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = SectionProblems::new("cluster");
        for (key, v) in [("log_topic", &self.log_topic)] {
            if v.trim().is_empty() {
                p.push(key, "must not be empty");
            }
        }
        p.setting("fetch_wait", &self.fetch_wait)
            .setting("lease_timeout", &self.lease_timeout)
            .duration_at_least("fetch_wait", &self.fetch_wait, Duration::from_millis(1))
            .duration_at_least("lease_timeout", &self.lease_timeout, Duration::from_secs(1));
        p.at_least_one("publish_window", self.publish_window);
        if let Some(url) = &self.join_from {
            if !url.starts_with("http://") || url.len() <= "http://".len() {
                p.push(
                    "join_from",
                    format_args!("`{url}` is not an http:// address such as http://10.0.0.2:8080"),
                );
            }
        }
        p.out
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn problems(text: &str) -> Vec<String> {
        let c: Config = toml::from_str(text).unwrap();
        c.problems().into_iter().map(|(_, _, m)| m).collect()
    }

    #[test]
    fn replicated_mode_needs_kafka_and_a_log_of_its_own() {
        let p = problems("[cluster]\nmode = \"replicated\"\n");
        assert!(p.iter().any(|m| m.contains("set kafka.brokers")), "{p:?}");
        let p = problems(
            "[kafka]\nbrokers = \"b:9092\"\nevents_topic = \"x\"\n[cluster]\nmode = \"replicated\"\nlog_topic = \"x\"\n",
        );
        assert!(
            p.iter()
                .any(|m| m.contains("`x` is also kafka.events_topic")),
            "{p:?}"
        );
        let p = problems(
            "[kafka]\nbrokers = \"b:9092\"\n[cluster]\nmode = \"replicated\"\nlease_timeout = \"10ms\"\njoin_from = \"10.0.0.2:8080\"\npublish_window = 0\n",
        );
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(
            p.iter()
                .any(|m| m.starts_with("cluster.lease_timeout: must be at least 1s")),
            "{p:?}"
        );
        assert!(p.iter().any(|m| m.contains("cluster.join_from")), "{p:?}");
        assert!(
            p.iter().any(|m| m.contains("cluster.publish_window")),
            "{p:?}"
        );
        assert!(
            problems("[kafka]\nbrokers = \"b:9092\"\n[cluster]\nmode = \"replicated\"\n")
                .is_empty()
        );
        assert!(
            problems("[cluster]\nmode = \"single\"\n").is_empty(),
            "single needs nothing"
        );
    }
}
