//! A single instance's watch for another in its consumer group. In single
//! mode each instance keeps its own state, so two instances splitting the
//! events topic's partitions would each count half of every address's
//! failures, silently. An instance that holds only some of the partitions
//! therefore pauses them (the events wait in Kafka, nothing is lost) and:
//!
//! - if it has never held them all (it joined a group another instance
//!   serves, or several started at once), refuses after a grace period
//!   (the group's session timeout and 15 s: long enough for the broker to
//!   expire the session of an instance killed and restarted): it leaves the
//!   group, so the other gets every partition back, and says why in its log
//!   and `/readyz`;
//! - if it held them all before (the incumbent a newcomer joined), waits
//!   for the newcomer to leave and resumes.
//!
//! Several instances are run as replicas (`cluster.mode = "replicated"`).

use super::*;

#[derive(Default)]
pub(super) struct Split {
    /// Held every partition at some point.
    whole_seen: bool,
    /// Since when it has held only some.
    partial_since: Option<Instant>,
    last_warning: Option<Instant>,
    /// The assignment generation last looked at.
    generation: u64,
    partitions: Option<usize>,
}

impl Split {
    pub(super) fn paused(&self) -> bool {
        self.partial_since.is_some()
    }
}

impl Pipeline {
    /// `false` when this instance refuses to go on (it then leaves the group).
    pub(super) fn watch_split(&mut self) -> bool {
        let (generation, assigned) = {
            let a = self
                .consumer
                .context()
                .assigned
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            match *a {
                None => return true,
                Some(x) => x,
            }
        };
        if generation != self.split.generation || self.split.partitions.is_none() {
            self.split.generation = generation;
            self.split.partitions = self
                .consumer
                .fetch_metadata(Some(&self.config.events_topic), Duration::from_secs(5))
                .ok()
                .and_then(|m| {
                    m.topics()
                        .iter()
                        .find(|t| t.name() == self.config.events_topic)
                        .map(|t| t.partitions().len())
                });
        }
        let Some(total) = self.split.partitions.filter(|&t| t > 0) else {
            return true;
        };
        if assigned >= total {
            if self.split.partial_since.take().is_some() {
                if let Ok(a) = self.consumer.assignment() {
                    let _ = self.consumer.resume(&a);
                }
                eprintln!(
                    "palisade kafka: this instance holds all {total} partitions again; consuming"
                );
            }
            self.split.whole_seen = true;
            return true;
        }
        let now = Instant::now();
        let since = *self.split.partial_since.get_or_insert_with(|| {
            if let Ok(a) = self.consumer.assignment() {
                let _ = self.consumer.pause(&a);
            }
            now
        });
        let grace = self.split_grace();
        let group = &self.config.group_id;
        let topic = &self.config.events_topic;
        let why = format!(
            "this instance holds {assigned} of the {total} partitions of `{topic}`: another consumer in group `{group}` holds the rest. \
             A single instance keeps its state to itself, so two would split every address's and password's counters between them; \
             run several as replicas (cluster.mode = \"replicated\"), or give each its own kafka.group_id"
        );
        if !self.split.whole_seen && now.duration_since(since) >= grace {
            eprintln!("palisade kafka: refused: {why}; left the group (the other instance keeps the partitions)");
            set_health(
                &self.health,
                false,
                format!("refused: {why}"),
                &self.metrics,
            );
            return false;
        }
        if self
            .split
            .last_warning
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(30))
        {
            self.split.last_warning = Some(now);
            let then = if self.split.whole_seen {
                "paused until it holds them all again".to_string()
            } else {
                format!(
                    "paused; refused in {} unless it gets them all (as after a restart, once the broker expires the old session)",
                    humantime::format_duration(grace.saturating_sub(now.duration_since(since)))
                )
            };
            eprintln!("palisade kafka: warning: {why}; {then}");
            set_health(&self.health, false, format!("paused: {why}"), &self.metrics);
        }
        true
    }

    /// The group's session timeout and 15 s.
    fn split_grace(&self) -> Duration {
        let c = &self.config;
        let session_ms = c
            .consumer_properties
            .get("session.timeout.ms")
            .or_else(|| c.properties.get("session.timeout.ms"))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(45_000);
        Duration::from_millis(session_ms) + Duration::from_secs(15)
    }
}
