//! Every metric Palisade exports, declared in one place. Label values come
//! from bounded sets only: never a user, an address or a password.

pub mod cluster;
pub mod record;

pub use record::{DecisionCounters, StateObserver};

use prometheus::core::Collector;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Latency buckets fine enough to tell 50 µs from 2 ms.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_025, 0.000_05, 0.000_1, 0.000_2, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.1, 0.5, 2.0,
];

pub struct Metrics {
    pub registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub decisions: IntCounterVec,
    pub reasons: IntCounterVec,
    pub events: IntCounterVec,
    pub rejected_events: IntCounterVec,
    pub evaluation: Histogram,
    pub engine_queue: IntGauge,
    pub feedback: IntCounterVec,
    pub enforcements: IntCounterVec,
    pub state_entries: IntGaugeVec,
    pub state_bytes: IntGaugeVec,
    pub state_evictions: IntCounterVec,
    pub memory_budget: IntGauge,
    pub user_agent_cache: IntGauge,
    pub rule_overflows: IntCounterVec,
    pub enforcements_in_force: IntGaugeVec,
    pub audit: IntCounterVec,
    pub kafka_lag: IntGaugeVec,
    /// The replicated cluster's, registered by [`Metrics::start_cluster`].
    pub cluster: cluster::ClusterMetrics,
    /// The name of every metric family, for checking dashboards against.
    names: Vec<String>,
    pub overloaded: IntCounter,
    /// Connections the API closed or could not take, by why.
    pub connections_closed: IntCounterVec,
    pub info: IntGaugeVec,
    pub kafka_up: IntGauge,
    pub kafka_messages: IntCounterVec,
    pub kafka_dead_letters: IntCounterVec,
    pub kafka_produced: IntCounterVec,
    pub kafka_produce_errors: IntCounter,
    pub kafka_commits: IntCounterVec,
    pub compromised: IntCounterVec,
    pub journal_errors: IntCounter,
    pub journal_bytes: IntGauge,
    pub checkpoint_seconds: prometheus::Gauge,
    pub checkpoint_pause_seconds: prometheus::Gauge,
    pub checkpoint_bytes: IntGauge,
    pub checkpoint_time: prometheus::Gauge,
}

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric")
}

impl Metrics {
    pub fn new() -> Metrics {
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "palisade_http_request_duration_seconds",
                "Time from request to response, by route.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route"],
        )
        .expect("a valid metric");
        let evaluation = Histogram::with_opts(
            HistogramOpts::new(
                "palisade_engine_evaluation_seconds",
                "Time the engine spends deciding one event.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )
        .expect("a valid metric");
        let m = Metrics {
            registry: Registry::new(),
            http_requests: counter(
                "palisade_http_requests_total",
                "HTTP requests answered, by route and status code.",
                &["route", "status"],
            ),
            http_duration,
            decisions: counter(
                "palisade_decisions_total",
                "Decisions made, by action, risk level and whether enforced or audit only.",
                &["action", "level", "enforced"],
            ),
            reasons: counter(
                "palisade_reasons_total",
                "Reasons given in decisions, by reason code.",
                &["code"],
            ),
            events: counter(
                "palisade_events_total",
                "Events decided, by kind and outcome.",
                &["kind", "outcome"],
            ),
            rejected_events: counter(
                "palisade_rejected_events_total",
                "Events refused before the engine, by reason.",
                &["reason"],
            ),
            evaluation,
            engine_queue: IntGauge::new(
                "palisade_engine_queue_depth",
                "Requests waiting for the engine.",
            )
            .expect("a valid metric"),
            feedback: counter(
                "palisade_feedback_total",
                "Feedback applied, by verdict.",
                &["verdict"],
            ),
            enforcements: counter(
                "palisade_enforcements_total",
                "Enforcements issued, by scope.",
                &["scope"],
            ),
            state_entries: IntGaugeVec::new(
                Opts::new(
                    "palisade_state_entries",
                    "Entries held in each state structure.",
                ),
                &["structure"],
            )
            .expect("a valid metric"),
            state_bytes: IntGaugeVec::new(
                Opts::new(
                    "palisade_state_bytes",
                    "Heap bytes each state structure holds, counting its tables' spare capacity.",
                ),
                &["structure"],
            )
            .expect("a valid metric"),
            state_evictions: counter(
                "palisade_state_evictions_total",
                "Entries a state structure let go, by cause: cap (to stay within its configured cap) or age (idle or expired).",
                &["structure", "cause"],
            ),
            memory_budget: IntGauge::new(
                "palisade_memory_budget_bytes",
                "The configured limits.memory_budget (0: none set); compare with process_resident_memory_bytes.",
            )
            .expect("a valid metric"),
            user_agent_cache: IntGauge::new(
                "palisade_user_agent_cache_entries",
                "User agents whose parse is cached (limits.max_user_agents; a full cache starts over).",
            )
            .expect("a valid metric"),
            rule_overflows: counter(
                "palisade_rule_overflows_total",
                "Events that overflowed a rule's limit (each starts or renews the rule's action), by rule id.",
                &["rule"],
            ),
            enforcements_in_force: IntGaugeVec::new(
                Opts::new(
                    "palisade_enforcements_in_force",
                    "Enforcements in force now, by scope.",
                ),
                &["scope"],
            )
            .expect("a valid metric"),
            audit: counter(
                "palisade_audit_decisions_total",
                "Decisions audit mode kept from being applied (the event was allowed), by the action that would have been applied.",
                &["action"],
            ),
            kafka_lag: IntGaugeVec::new(
                Opts::new(
                    "palisade_kafka_consumer_lag",
                    "Messages in each assigned partition of the events topic not yet consumed (from librdkafka's statistics, every 5 s).",
                ),
                &["topic", "partition"],
            )
            .expect("a valid metric"),
            names: Vec::new(),
            cluster: cluster::ClusterMetrics::new(),
            overloaded: IntCounter::new(
                "palisade_overload_rejections_total",
                "Requests answered 503 because too many were in flight or the engine stayed busy past the timeout.",
            )
            .expect("a valid metric"),
            connections_closed: counter(
                "palisade_http_connections_closed_total",
                "Connections closed to keep the listener serving, by why: slow_client (the oldest still sending its first request's headers, at server.max_connections), busy (at the cap with every connection serving), accept_error (the system refused one, such as out of file descriptors).",
                &["reason"],
            ),
            info: IntGaugeVec::new(
                Opts::new(
                    "palisade_build_info",
                    "Versions of what is running; the value is always 1.",
                ),
                &["version", "rules_version", "model_version"],
            )
            .expect("a valid metric"),
            kafka_up: IntGauge::new(
                "palisade_kafka_up",
                "1 when the Kafka consumer is connected and has its partitions, 0 when not (absent without Kafka).",
            )
            .expect("a valid metric"),
            kafka_messages: counter(
                "palisade_kafka_messages_total",
                "Messages read from the events topic, by what became of them: decided, duplicate (a redelivery, not decided again) or dead_lettered.",
                &["result"],
            ),
            kafka_dead_letters: counter(
                "palisade_kafka_dead_letters_total",
                "Messages sent to the dead-letter topic, by reason.",
                &["reason"],
            ),
            kafka_produced: counter(
                "palisade_kafka_records_produced_total",
                "Records the broker acknowledged, by topic role: decisions (decisions and enforcements) or dead_letters.",
                &["topic"],
            ),
            journal_errors: IntCounter::new(
                "palisade_journal_write_errors_total",
                "Journal writes that failed; after the first, changes are refused until a restart.",
            )
            .expect("a valid metric"),
            journal_bytes: IntGauge::new(
                "palisade_journal_bytes",
                "Bytes of journal segments on disk.",
            )
            .expect("a valid metric"),
            checkpoint_seconds: prometheus::Gauge::new(
                "palisade_checkpoint_duration_seconds",
                "How long the last checkpoint took to write, from the request to the file in place (the engine goes on meanwhile, but for palisade_checkpoint_pause_seconds).",
            )
            .expect("a valid metric"),
            checkpoint_pause_seconds: prometheus::Gauge::new(
                "palisade_checkpoint_pause_seconds",
                "How long the engine stopped for the last checkpoint: the fork of the process that writes it (all of the writing when it could not fork).",
            )
            .expect("a valid metric"),
            checkpoint_bytes: IntGauge::new(
                "palisade_checkpoint_bytes",
                "Size of the last checkpoint written.",
            )
            .expect("a valid metric"),
            checkpoint_time: prometheus::Gauge::new(
                "palisade_checkpoint_last_timestamp_seconds",
                "Unix time of the last checkpoint written (0: none since start); its age is time() minus this.",
            )
            .expect("a valid metric"),
            compromised: counter(
                "palisade_compromised_passwords_total",
                "Events whose password is in the breach corpus, by event kind.",
                &["kind"],
            ),
            kafka_commits: counter(
                "palisade_kafka_offset_commits_total",
                "Offset commits of the consumer group, by result (ok or error).",
                &["result"],
            ),
            kafka_produce_errors: IntCounter::new(
                "palisade_kafka_produce_errors_total",
                "Records the producer failed to deliver (each is sent again).",
            )
            .expect("a valid metric"),
        };
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(m.http_requests.clone()),
            Box::new(m.decisions.clone()),
            Box::new(m.reasons.clone()),
            Box::new(m.events.clone()),
            Box::new(m.rejected_events.clone()),
            Box::new(m.feedback.clone()),
            Box::new(m.enforcements.clone()),
            Box::new(m.http_duration.clone()),
            Box::new(m.evaluation.clone()),
            Box::new(m.engine_queue.clone()),
            Box::new(m.overloaded.clone()),
            Box::new(m.connections_closed.clone()),
            Box::new(m.state_entries.clone()),
            Box::new(m.state_bytes.clone()),
            Box::new(m.state_evictions.clone()),
            Box::new(m.memory_budget.clone()),
            Box::new(m.user_agent_cache.clone()),
            Box::new(m.rule_overflows.clone()),
            Box::new(m.enforcements_in_force.clone()),
            Box::new(m.audit.clone()),
            Box::new(m.kafka_lag.clone()),
            Box::new(m.info.clone()),
            Box::new(m.kafka_messages.clone()),
            Box::new(m.kafka_dead_letters.clone()),
            Box::new(m.kafka_produced.clone()),
            Box::new(m.kafka_produce_errors.clone()),
            Box::new(m.kafka_commits.clone()),
            Box::new(m.compromised.clone()),
            Box::new(m.journal_errors.clone()),
            Box::new(m.journal_bytes.clone()),
            Box::new(m.checkpoint_seconds.clone()),
            Box::new(m.checkpoint_pause_seconds.clone()),
            Box::new(m.checkpoint_bytes.clone()),
            Box::new(m.checkpoint_time.clone()),
        ];
        #[cfg(target_os = "linux")]
        let collectors = {
            let mut c = collectors;
            c.push(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ));
            c
        };
        let mut m = m;
        for c in collectors {
            m.names.extend(c.desc().iter().map(|d| d.fq_name.clone()));
            m.registry.register(c).expect("unique metric names");
        }
        // Registered by the Kafka door when it starts, so absent without it.
        m.names
            .extend(m.kafka_up.desc().iter().map(|d| d.fq_name.clone()));
        for c in m.cluster.collectors() {
            m.names.extend(c.desc().iter().map(|d| d.fq_name.clone()));
        }
        m.names.sort();
        m.start_at_zero();
        m
    }

    /// Creates the label sets every run can have at 0, so a first event
    /// shows as an increase (Prometheus's `increase()` and `rate()` cannot
    /// see a series born at 1) and panels show 0 rather than nothing.
    fn start_at_zero(&self) {
        use crate::engine::enforce::Scope;
        use crate::event::{Action, Kind, Outcome, RiskLevel};
        let kinds = [
            Kind::SignIn,
            Kind::SignUp,
            Kind::PasswordChange,
            Kind::PasswordReset,
        ];
        let actions = [Action::Allow, Action::Challenge, Action::Block];
        for k in kinds {
            for o in [Outcome::Attempt, Outcome::Success, Outcome::Failure] {
                self.events.with_label_values(&[k.as_str(), o.as_str()]);
            }
            self.compromised.with_label_values(&[k.as_str()]);
        }
        for a in actions {
            for l in [RiskLevel::Low, RiskLevel::Medium, RiskLevel::High] {
                for enforced in ["true", "false"] {
                    self.decisions
                        .with_label_values(&[a.as_str(), l.as_str(), enforced]);
                }
            }
            if a != Action::Allow {
                self.audit.with_label_values(&[a.as_str()]);
            }
        }
        for s in Scope::ALL {
            self.enforcements.with_label_values(&[s.as_str()]);
        }
        for v in ["legitimate", "fraudulent"] {
            self.feedback.with_label_values(&[v]);
        }
    }

    /// The Kafka door's label sets at 0, once it starts.
    pub fn start_kafka_at_zero(&self) {
        for r in ["decided", "duplicate", "dead_lettered"] {
            self.kafka_messages.with_label_values(&[r]);
        }
        for r in [
            "empty",
            "too_large",
            "malformed_json",
            "invalid_field",
            "timestamp",
        ] {
            self.kafka_dead_letters.with_label_values(&[r]);
        }
        for r in ["ok", "error"] {
            self.kafka_commits.with_label_values(&[r]);
        }
        for t in ["decisions", "dead_letters"] {
            self.kafka_produced.with_label_values(&[t]);
        }
    }

    /// Registers the cluster's metrics, at 0 (a replica calls it once).
    pub fn start_cluster(&self) {
        for c in self.cluster.collectors() {
            let _ = self.registry.register(c);
        }
        self.cluster.start_at_zero();
    }

    /// Every metric family's name (as declared: a histogram's series add
    /// `_bucket`, `_sum` and `_count`).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 * 1024);
        // Encoding into a Vec fails only on metric families no collector makes.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_names_with_help_and_labels() {
        let m = Metrics::new();
        m.decisions
            .with_label_values(&["block", "high", "true"])
            .inc();
        m.evaluation.observe(0.000_04);
        let text = String::from_utf8(m.render()).unwrap();
        assert!(text.contains("# HELP palisade_decisions_total Decisions made"));
        assert!(text.contains(
            "palisade_decisions_total{action=\"block\",enforced=\"true\",level=\"high\"} 1"
        ));
        assert!(text.contains("palisade_engine_evaluation_seconds_bucket{le=\"0.00005\"} 1"));
        // Label sets every run can have start at 0, so a first event is an increase.
        assert!(text.contains(
            "palisade_decisions_total{action=\"challenge\",enforced=\"false\",level=\"medium\"} 0"
        ));
        assert!(text.contains("palisade_audit_decisions_total{action=\"block\"} 0"));
        assert!(
            !text.contains("palisade_kafka_messages_total"),
            "Kafka's only once it starts"
        );
        m.start_kafka_at_zero();
        let text = String::from_utf8(m.render()).unwrap();
        assert!(text.contains("palisade_kafka_dead_letters_total{reason=\"malformed_json\"} 0"));
    }
}
