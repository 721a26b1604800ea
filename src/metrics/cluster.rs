//! The replicated cluster's metrics (`cluster.mode = "replicated"`):
//! registered when the replica starts, so absent on a single instance.

use prometheus::core::Collector;
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts};

/// Append-to-fold delays: a fetch interval (milliseconds) up to a replica
/// catching up after a restart (minutes).
const DELAY_BUCKETS: &[f64] = &[
    0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 15.0, 60.0, 300.0,
];

pub struct ClusterMetrics {
    /// Records of the log not yet folded by this replica.
    pub lag_events: IntGauge,
    /// How long ago (append time) the oldest record not yet folded was
    /// written; 0 when caught up.
    pub lag_seconds: prometheus::Gauge,
    /// From a record's append to the log to this replica folding it.
    pub delay: Histogram,
    pub caught_up: IntGauge,
    /// The next log offset this replica folds.
    pub position: IntGauge,
    pub publisher: IntGauge,
    pub publisher_changes: IntCounter,
    pub published: IntCounterVec,
    pub appends: IntCounterVec,
    pub skipped: IntCounterVec,
}

impl ClusterMetrics {
    pub fn new() -> ClusterMetrics {
        let gauge = |name: &str, help: &str| IntGauge::new(name, help).expect("a valid metric");
        let counter = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric")
        };
        ClusterMetrics {
            lag_events: gauge(
                "palisade_cluster_replica_lag_events",
                "Records of the cluster log this replica has not folded yet (the log's end, as last fetched, minus the replica's position).",
            ),
            lag_seconds: prometheus::Gauge::new(
                "palisade_cluster_replica_lag_seconds",
                "Age (by append time) of the oldest log record this replica has not folded; 0 when caught up. Decisions here miss what other replicas wrote in this window.",
            )
            .expect("a valid metric"),
            delay: Histogram::with_opts(
                HistogramOpts::new(
                    "palisade_cluster_replication_delay_seconds",
                    "From a record's append to the cluster log to this replica folding it: the staleness of the other replicas' writes.",
                )
                .buckets(DELAY_BUCKETS.to_vec()),
            )
            .expect("a valid metric"),
            caught_up: gauge(
                "palisade_cluster_caught_up",
                "1 when this replica has folded the log to within cluster.ready_lag records of its end (what /readyz reports), else 0.",
            ),
            position: gauge(
                "palisade_cluster_log_position",
                "The next offset of the cluster log this replica folds.",
            ),
            publisher: gauge(
                "palisade_cluster_publisher",
                "1 while this replica publishes the cluster's decisions and enforcements to Kafka (it holds the publisher's lease in the cluster log), else 0. The sum over replicas should be 1.",
            ),
            publisher_changes: IntCounter::new(
                "palisade_cluster_publisher_changes_total",
                "Times this replica took or lost the publisher role.",
            )
            .expect("a valid metric"),
            published: counter(
                "palisade_cluster_published_total",
                "Records this replica published as the publisher, by record (decision or enforcement) and repeat (true: possibly published before, by a publisher that failed over).",
                &["record", "repeat"],
            ),
            appends: counter(
                "palisade_cluster_log_appends_total",
                "Records this replica wrote to the cluster log, by origin (decide, events, feedback, kafka) and result (ok or error).",
                &["origin", "result"],
            ),
            skipped: counter(
                "palisade_cluster_log_skipped_total",
                "Log records folded without effect, by reason: malformed (not a record Palisade wrote), late (behind the engine's clock by more than event_time allows), duplicate (an event id decided before).",
                &["reason"],
            ),
        }
    }

    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.lag_events.clone()),
            Box::new(self.lag_seconds.clone()),
            Box::new(self.delay.clone()),
            Box::new(self.caught_up.clone()),
            Box::new(self.position.clone()),
            Box::new(self.publisher.clone()),
            Box::new(self.publisher_changes.clone()),
            Box::new(self.published.clone()),
            Box::new(self.appends.clone()),
            Box::new(self.skipped.clone()),
        ]
    }

    /// The label sets at 0, so the first of each is an increase.
    pub fn start_at_zero(&self) {
        for r in ["decision", "enforcement"] {
            for repeat in ["true", "false"] {
                self.published.with_label_values(&[r, repeat]);
            }
        }
        for o in ["decide", "events", "feedback", "kafka"] {
            for r in ["ok", "error"] {
                self.appends.with_label_values(&[o, r]);
            }
        }
        for r in ["malformed", "late", "duplicate"] {
            self.skipped.with_label_values(&[r]);
        }
    }
}

impl Default for ClusterMetrics {
    fn default() -> ClusterMetrics {
        ClusterMetrics::new()
    }
}
