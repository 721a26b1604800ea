//! The `[kafka]` section. Kafka is off unless `brokers` is set (here, by
//! `--kafka-brokers` or by `PALISADE_KAFKA_BROKERS`).

use super::setting::{SectionProblems, Setting};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap servers, `host:port[,host:port...]`. Unset: no Kafka.
    pub brokers: Option<String>,
    /// Consumer group. Every Palisade of one deployment joins the same group
    /// and they split the partitions.
    pub group_id: String,
    /// Sign-in events in (JSON, key = user).
    pub events_topic: String,
    /// Decisions (key = user) and enforcements (key = what is enforced) out.
    pub decisions_topic: String,
    /// Messages that are not events, with the reason in a header.
    pub dlq_topic: String,
    /// Messages decided in one turn of the engine: the in-flight window. The
    /// next messages are read only once these are decided, their records
    /// delivered and their offsets stored.
    pub batch_size: usize,
    /// Largest message taken as an event; a larger one goes to the DLQ.
    pub max_message_bytes: usize,
    /// How long the producer tries to deliver a record before it reports a
    /// failure (librdkafka's `message.timeout.ms`); failed records are sent
    /// again with backoff, and nothing more is read meanwhile.
    pub delivery_timeout: Setting<Duration>,
    /// librdkafka properties for the consumer and the producer alike:
    /// `security.protocol`, `sasl.mechanism`, `sasl.username`,
    /// `ssl.ca.location`... Strings, as librdkafka takes them.
    pub properties: BTreeMap<String, String>,
    /// librdkafka properties for the consumer only (after `properties`).
    pub consumer_properties: BTreeMap<String, String>,
    /// librdkafka properties for the producer only (after `properties`).
    pub producer_properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> KafkaConfig {
        KafkaConfig {
            brokers: None,
            group_id: "palisade".to_string(),
            events_topic: "signin-events".to_string(),
            decisions_topic: "signin-decisions".to_string(),
            dlq_topic: "signin-events-dlq".to_string(),
            batch_size: 500,
            max_message_bytes: 64 * 1024,
            delivery_timeout: Setting::new(Duration::from_secs(30)),
            properties: BTreeMap::new(),
            consumer_properties: BTreeMap::new(),
            producer_properties: BTreeMap::new(),
        }
    }
}

/// Properties Palisade sets itself because its delivery guarantee rests on
/// them; a config that sets one is refused.
pub const MANAGED_PROPERTIES: &[&str] = &[
    "bootstrap.servers",
    "group.id",
    "enable.auto.offset.store",
    "enable.auto.commit",
    "message.timeout.ms",
    "delivery.timeout.ms",
];

impl KafkaConfig {
    pub fn enabled(&self) -> bool {
        self.brokers.is_some()
    }

    /// Values out of range, as `(key, message)`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = SectionProblems::new("kafka");
        if let Some(b) = &self.brokers {
            if b.trim().is_empty() || b.split(',').any(|h| !h.trim().contains(':')) {
                p.push(
                    "brokers",
                    format_args!("`{b}` is not a list of host:port such as 127.0.0.1:9092"),
                );
            }
        }
        for (key, v) in [
            ("group_id", &self.group_id),
            ("events_topic", &self.events_topic),
            ("decisions_topic", &self.decisions_topic),
            ("dlq_topic", &self.dlq_topic),
        ] {
            if v.trim().is_empty() {
                p.push(key, "must not be empty");
            }
        }
        if self.events_topic == self.decisions_topic || self.events_topic == self.dlq_topic {
            p.push(
                "events_topic",
                format_args!(
                    "`{}` is also where Palisade writes; it would read its own records",
                    self.events_topic
                ),
            );
        }
        p.at_least_one("batch_size", self.batch_size);
        p.at_least_one("max_message_bytes", self.max_message_bytes);
        p.setting("delivery_timeout", &self.delivery_timeout)
            .duration_at_least(
                "delivery_timeout",
                &self.delivery_timeout,
                Duration::from_secs(1),
            );
        for (key, map) in [
            ("properties", &self.properties),
            ("consumer_properties", &self.consumer_properties),
            ("producer_properties", &self.producer_properties),
        ] {
            for name in map
                .keys()
                .filter(|n| MANAGED_PROPERTIES.contains(&n.as_str()))
            {
                p.out.push((
                    key,
                    format!(
                        "kafka.{key}.\"{name}\" is set by Palisade (offsets are stored only after delivery); \
                         use kafka.brokers, kafka.group_id or kafka.delivery_timeout"
                    ),
                ));
            }
        }
        p.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_bad_values_are_named() {
        let c = KafkaConfig::default();
        assert!(!c.enabled());
        assert!(c.problems().is_empty());
        let c: KafkaConfig = toml::from_str(
            r#"
            brokers = "localhost"
            events_topic = "signin-decisions"
            batch_size = 0
            [properties]
            "enable.auto.commit" = "false"
            "security.protocol" = "SASL_SSL"
            "#,
        )
        .unwrap();
        let keys: Vec<_> = c.problems().into_iter().map(|p| p.0).collect();
        assert_eq!(
            keys,
            ["brokers", "events_topic", "batch_size", "properties"],
            "{:?}",
            c.problems()
        );
    }
}
