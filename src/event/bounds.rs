//! How far an event's time may stray before it is refused. The engine runs
//! on event time, so an event's `timestamp` is partly in an attacker's hands:
//! one event dated 2099 must not move the clock that ages every profile,
//! bucket and enforcement, and one dated 1970 must not be counted as recent.
//!
//! - **Ahead:** `serve` and Kafka refuse an event more than `max_ahead` after
//!   the host's clock; `replay`, which has no host clock, one more than
//!   `max_ahead` after the engine's clock when most of the events after it
//!   are more than `max_ahead` before it (a lone forgery, not a real gap in
//!   history).
//! - **Late:** an event up to `max_lateness` behind the engine's clock (the
//!   latest event time applied) is applied at the clock's time, so no
//!   per-key time moves backwards; an older one is refused as too late.
//! - **Old:** `serve` and Kafka also refuse an event more than `max_age`
//!   behind the host's clock, whatever the engine's clock says (a fresh
//!   engine has none): an event dated 1970 is refused, while a Kafka
//!   consumer catching up after an outage, or a re-ingest of last month,
//!   still is not. The default is a year.

use super::time::Timestamp;
use std::fmt::Write as _;
use std::time::Duration;

pub use crate::config::event_time::{EventTimeConfig, TimeBounds};

/// Why an event's time was refused: the `invalid_field`'s message, and the
/// label it is counted under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeRefusal {
    /// `ahead` or `late`.
    pub reason: &'static str,
    pub message: String,
}

impl TimeRefusal {
    /// The reason's label on `palisade_rejected_events_total`.
    pub fn label(&self) -> &'static str {
        match self.reason {
            "ahead" => "timestamp_ahead",
            _ => "timestamp_late",
        }
    }
}

impl TimeBounds {
    /// Checks an event from a live door (`serve`, Kafka): against the host's
    /// clock both ways, and against the engine's clock (`clock_ms`, 0 when it
    /// has none) for lateness.
    pub fn check_live(
        &self,
        event_ms: u64,
        host_ms: u64,
        clock_ms: u64,
    ) -> Result<(), TimeRefusal> {
        self.check_host(event_ms, host_ms)?;
        self.check_late(event_ms, clock_ms)
    }

    /// The host clock's part of [`TimeBounds::check_live`]: what a door
    /// checks before the engine, which checks lateness itself (a
    /// redelivered event is answered as before, however late).
    pub fn check_host(&self, event_ms: u64, host_ms: u64) -> Result<(), TimeRefusal> {
        if event_ms > host_ms.saturating_add(self.max_ahead_ms) {
            return Err(refusal(
                "ahead",
                event_ms,
                event_ms - host_ms,
                "ahead of this host's clock",
                self.max_ahead_ms,
                "max_ahead",
            ));
        }
        if event_ms < host_ms.saturating_sub(self.max_age_ms) {
            return Err(refusal(
                "late",
                event_ms,
                host_ms - event_ms,
                "behind this host's clock",
                self.max_age_ms,
                "max_age",
            ));
        }
        Ok(())
    }

    /// Checks that an event is not too far behind the engine's clock.
    pub fn check_late(&self, event_ms: u64, clock_ms: u64) -> Result<(), TimeRefusal> {
        if event_ms < clock_ms.saturating_sub(self.max_lateness_ms) {
            return Err(refusal(
                "late",
                event_ms,
                clock_ms - event_ms,
                "behind the latest event applied",
                self.max_lateness_ms,
                "max_lateness",
            ));
        }
        Ok(())
    }

    /// Replay's refusal of a lone event far ahead of the others.
    pub fn ahead_of_neighbours(&self, event_ms: u64, clock_ms: u64) -> TimeRefusal {
        refusal(
            "ahead",
            event_ms,
            event_ms.saturating_sub(clock_ms),
            "ahead of the events before it, and of most after it",
            self.max_ahead_ms,
            "max_ahead",
        )
    }
}

fn refusal(
    reason: &'static str,
    event_ms: u64,
    by_ms: u64,
    what: &str,
    limit_ms: u64,
    key: &str,
) -> TimeRefusal {
    let mut message = String::with_capacity(160);
    message.push_str("field `timestamp`: ");
    Timestamp(event_ms).write_rfc3339(&mut message);
    let by = humantime::format_duration(Duration::from_secs(by_ms / 1000));
    let limit = humantime::format_duration(Duration::from_millis(limit_ms));
    let _ = write!(
        message,
        " is {by} {what}; the limit is {limit} (event_time.{key})"
    );
    TimeRefusal { reason, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_780_000_000_000;
    const Y2099: u64 = 4_070_908_800_000;

    #[test]
    fn live_doors_refuse_the_far_future_and_the_far_past_by_the_host_clock() {
        let b = TimeBounds::default();
        let ahead = b.check_live(Y2099, NOW, NOW).unwrap_err();
        assert_eq!(ahead.reason, "ahead");
        assert!(
            ahead
                .message
                .starts_with("field `timestamp`: 2099-01-01T00:00:00.000Z is "),
            "{}",
            ahead.message
        );
        assert!(
            ahead
                .message
                .ends_with("ahead of this host's clock; the limit is 5m (event_time.max_ahead)"),
            "{}",
            ahead.message
        );
        let old = b.check_live(0, NOW, 0).unwrap_err();
        assert_eq!(old.reason, "late");
        assert!(
            old.message.contains("(event_time.max_age)"),
            "{}",
            old.message
        );
        // Within the bounds: 4 min ahead; 300 days behind on a fresh engine.
        assert!(b.check_live(NOW + 240_000, NOW, 0).is_ok());
        assert!(b.check_live(NOW - 300 * 86_400_000, NOW, 0).is_ok());
    }

    #[test]
    fn lateness_is_measured_from_the_engine_clock() {
        let b = TimeBounds::default();
        assert!(b.check_late(NOW - 3_599_000, NOW).is_ok());
        let late = b.check_late(NOW - 3 * 3_600_000, NOW).unwrap_err();
        assert!(
            late.message.contains(
                " is 3h behind the latest event applied; the limit is 1h (event_time.max_lateness)"
            ),
            "{}",
            late.message
        );
        assert!(b.check_late(0, 0).is_ok(), "a fresh engine has no clock");
    }

    #[test]
    fn every_key_is_checked_and_named() {
        let bad: EventTimeConfig = toml::from_str("max_lateness = \"soon\"").unwrap();
        let problems = bad.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0]
            .1
            .starts_with("event_time.max_lateness: \"soon\""));
        let zero: EventTimeConfig = toml::from_str("max_ahead = \"0s\"").unwrap();
        assert_eq!(
            zero.problems(),
            [(
                "max_ahead",
                "event_time.max_ahead: must be more than 0s".to_string()
            )]
        );
        let off: EventTimeConfig = toml::from_str("max_age = \"off\"").unwrap();
        assert!(off.problems().is_empty());
        let off = off.bounds();
        assert!(off.check_live(0, NOW, 0).is_ok(), "no age bound");
    }
}
