//! `[event_time]`: how far an event's time may stray before it is refused
//! (what the bounds mean, and how they are applied, is `event::bounds`'s).

use serde::Deserialize;

/// `[event_time]` in the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventTimeConfig {
    /// How far ahead of the host's clock (or, in replay, of the events
    /// around it) an event may be. Default `"5m"`.
    pub max_ahead: String,
    /// How far behind the latest event time applied an event may be; it is
    /// applied at that time. Default `"1h"`.
    pub max_lateness: String,
    /// How far behind the host's clock an event may be on `serve` and Kafka.
    /// Default `"365d"`; `"off"` takes any age the lateness bound allows.
    pub max_age: String,
}

impl Default for EventTimeConfig {
    fn default() -> EventTimeConfig {
        EventTimeConfig {
            max_ahead: "5m".to_string(),
            max_lateness: "1h".to_string(),
            max_age: "365d".to_string(),
        }
    }
}

impl EventTimeConfig {
    /// The bounds, or a message naming the key whose value is wrong.
    pub fn bounds(&self) -> Result<TimeBounds, String> {
        let ms = |key: &str, text: &str| match humantime::parse_duration(text.trim()) {
            Ok(d) if !d.is_zero() => Ok(d.as_millis().min(u64::MAX as u128) as u64),
            Ok(_) => Err(format!("event_time.{key} must be more than 0")),
            Err(e) => Err(format!(
                "event_time.{key} {text:?} is not a duration such as \"5m\" or \"1h\": {e}"
            )),
        };
        Ok(TimeBounds {
            max_ahead_ms: ms("max_ahead", &self.max_ahead)?,
            max_lateness_ms: ms("max_lateness", &self.max_lateness)?,
            max_age_ms: if self.max_age.trim() == "off" {
                u64::MAX
            } else {
                ms("max_age", &self.max_age)?
            },
        })
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
        EventTimeConfig::default()
            .bounds()
            .expect("the default event_time parses")
    }
}
