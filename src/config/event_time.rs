//! `[event_time]`: how far an event's time may stray before it is refused
//! (what the bounds mean, and how they are applied, is `event::bounds`'s).

use super::setting::{SectionProblems, Setting};
use serde::Deserialize;
use std::time::Duration;

/// `[event_time]` in the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventTimeConfig {
    /// How far ahead of the host's clock (or, in replay, of the events
    /// around it) an event may be. Default `"5m"`.
    pub max_ahead: Setting<Duration>,
    /// How far behind the latest event time applied an event may be; it is
    /// applied at that time. Default `"1h"`.
    pub max_lateness: Setting<Duration>,
    /// How far behind the host's clock an event may be on `serve` and Kafka.
    /// Default `"365d"`; `"off"` takes any age the lateness bound allows.
    pub max_age: Setting<Option<Duration>>,
}

impl Default for EventTimeConfig {
    fn default() -> EventTimeConfig {
        EventTimeConfig {
            max_ahead: Setting::new(Duration::from_secs(5 * 60)),
            max_lateness: Setting::new(Duration::from_secs(3600)),
            max_age: Setting::new(Some(Duration::from_secs(365 * 86_400))),
        }
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

impl EventTimeConfig {
    /// The bounds in milliseconds (of stand-ins, where a value is bad).
    pub fn bounds(&self) -> TimeBounds {
        TimeBounds {
            max_ahead_ms: ms(self.max_ahead.value()),
            max_lateness_ms: ms(self.max_lateness.value()),
            max_age_ms: self.max_age.value().map_or(u64::MAX, ms),
        }
    }

    /// Bad values, as `(key, message)`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = SectionProblems::new("event_time");
        p.setting("max_ahead", &self.max_ahead)
            .setting("max_lateness", &self.max_lateness)
            .setting("max_age", &self.max_age)
            .duration_at_least("max_ahead", &self.max_ahead, Duration::ZERO)
            .duration_at_least("max_lateness", &self.max_lateness, Duration::ZERO);
        p.out
    }
}

/// [`EventTimeConfig`], checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBounds {
    pub max_ahead_ms: u64,
    pub max_lateness_ms: u64,
    pub max_age_ms: u64,
}

impl Default for TimeBounds {
    fn default() -> TimeBounds {
        EventTimeConfig::default().bounds()
    }
}
