//! The clients' side: librdkafka's callbacks (errors, rebalances,
//! commits) and the properties every client is made with.

use super::*;

/// Sets the consumer's connection state for `/readyz` and the
/// `palisade_kafka_up` gauge.
pub(super) fn set_health(health: &Health, ready: bool, detail: String, metrics: &Metrics) {
    metrics.kafka_up.set(i64::from(ready));
    health.set(ready, detail);
}

/// librdkafka's callbacks: connection errors, rebalances.
pub(super) struct Context {
    pub(super) health: Arc<Health>,
    pub(super) metrics: Arc<Metrics>,
    /// When the last connection error was printed, so a broker that stays
    /// down is reported every 30 s, not on every retry.
    pub(super) last_error_log: Mutex<Option<Instant>>,
    /// The latest assignment's generation and partition count (`None`
    /// before the first and while a rebalance takes them away).
    pub(super) assigned: Mutex<Option<(u64, usize)>>,
    pub(super) assignments: std::sync::atomic::AtomicU64,
}

impl Context {
    pub(super) fn new(health: Arc<Health>, metrics: Arc<Metrics>) -> Context {
        Context {
            health,
            metrics,
            last_error_log: Mutex::new(None),
            assigned: Mutex::new(None),
            assignments: Default::default(),
        }
    }
}

impl ClientContext for Context {
    /// librdkafka's statistics (every `statistics.interval.ms`, 5 s unless
    /// set): the lag of each partition this member holds, as the broker's
    /// high watermark less the group's committed offset.
    fn stats(&self, statistics: rdkafka::Statistics) {
        let lag = &self.metrics.kafka_lag;
        // Partitions this member no longer holds go from the metric.
        lag.reset();
        for (name, topic) in &statistics.topics {
            for (&id, p) in &topic.partitions {
                if id < 0 || !p.desired || p.consumer_lag < 0 {
                    continue;
                }
                lag.with_label_values(&[name, &id.to_string()])
                    .set(p.consumer_lag);
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let fatal = matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::AllBrokersDown | RDKafkaErrorCode::BrokerTransportFailure)
        );
        if fatal {
            set_health(
                &self.health,
                false,
                format!("broker unreachable: {reason}"),
                &self.metrics,
            );
        }
        let mut last = self
            .last_error_log
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|t| t.elapsed() > Duration::from_secs(30)) {
            *last = Some(Instant::now());
            eprintln!("palisade kafka: {error}: {reason} (retrying with backoff)");
        }
    }
}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Context>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            // The loop polls (and so rebalances) only between turns: every
            // stored offset is of delivered records. Commit them before the
            // partitions go to another member.
            if partitions.count() > 0 {
                commit(consumer, "before partitions were revoked");
            }
        }
    }

    fn commit_callback(&self, result: rdkafka::error::KafkaResult<()>, _: &TopicPartitionList) {
        match result {
            Ok(()) => self.metrics.kafka_commits.with_label_values(&["ok"]).inc(),
            // Nothing stored since the last commit: not a commit at all.
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => {
                self.metrics
                    .kafka_commits
                    .with_label_values(&["error"])
                    .inc();
                eprintln!("palisade kafka: offset commit failed: {e}");
            }
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Context>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(partitions) => {
                let list: Vec<String> = partitions
                    .elements()
                    .iter()
                    .map(|p| p.partition().to_string())
                    .collect();
                eprintln!(
                    "palisade kafka: assigned partitions [{}] of the events topic",
                    list.join(", ")
                );
                let generation = self.assignments.fetch_add(1, Ordering::Relaxed) + 1;
                *self.assigned.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((generation, list.len()));
                set_health(
                    &self.health,
                    true,
                    format!("{} partitions assigned", list.len()),
                    &self.metrics,
                );
            }
            Rebalance::Revoke(partitions) => {
                eprintln!("palisade kafka: {} partitions revoked", partitions.count());
                *self.assigned.lock().unwrap_or_else(|p| p.into_inner()) = None;
            }
            Rebalance::Error(e) => {
                eprintln!("palisade kafka: rebalance failed: {e}");
            }
        }
    }
}

/// Commits the stored offsets, synchronously; no stored offset is no error.
pub(super) fn commit(consumer: &BaseConsumer<Context>, when: &str) {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) => {}
        Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(e) => eprintln!("palisade kafka: commit {when} failed: {e}"),
    }
}

pub(super) trait SetIfAbsent {
    fn set_if_absent(&mut self, key: &str, value: &str, c: &KafkaConfig) -> &mut Self;
}

impl SetIfAbsent for ClientConfig {
    /// A default the user's properties may override.
    fn set_if_absent(&mut self, key: &str, value: &str, c: &KafkaConfig) -> &mut Self {
        let given = [
            &c.properties,
            &c.consumer_properties,
            &c.producer_properties,
        ]
        .iter()
        .any(|m| m.contains_key(key));
        if !given {
            self.set(key, value);
        }
        self
    }
}

pub(super) fn client_config(
    c: &KafkaConfig,
    specific: &std::collections::BTreeMap<String, String>,
) -> ClientConfig {
    let mut cfg = ClientConfig::new();
    cfg.set(
        "bootstrap.servers",
        c.brokers.as_deref().unwrap_or_default(),
    )
    .set("client.id", "palisade");
    for (k, v) in c.properties.iter().chain(specific) {
        cfg.set(k, v);
    }
    cfg
}

/// Names this process in the `instance` header of what it produces.
pub(super) fn instance_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string());
    format!("{host}/{}", std::process::id())
}
