//! Event time: RFC 3339 in, milliseconds since the Unix epoch inside.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// Milliseconds since 1970-01-01T00:00:00Z. Events before the epoch are rejected,
/// so the value is never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub u64);

/// Events must be before this: profiles keep seconds in 32 bits and days in 16.
const LATEST: Timestamp = Timestamp(4_102_444_800_000);

impl Timestamp {
    pub fn parse_rfc3339(s: &str) -> Result<Timestamp, String> {
        let t =
            DateTime::parse_from_rfc3339(s).map_err(|e| format!("not an RFC 3339 time: {e}"))?;
        let ms = u64::try_from(t.timestamp_millis())
            .map_err(|_| "is before 1970-01-01T00:00:00Z".to_string())?;
        if ms >= LATEST.0 {
            return Err(
                "is after 2100-01-01T00:00:00Z, the latest time Palisade's state can hold"
                    .to_string(),
            );
        }
        Ok(Timestamp(ms))
    }

    pub fn from_secs(secs: u64) -> Timestamp {
        Timestamp(secs * 1000)
    }

    pub fn millis(self) -> u64 {
        self.0
    }

    pub fn secs(self) -> u64 {
        self.0 / 1000
    }

    /// Whole days since the epoch: the unit profiles age habits in.
    pub fn day(self) -> u32 {
        (self.0 / 86_400_000) as u32
    }

    pub fn to_rfc3339(self) -> String {
        DateTime::<Utc>::from_timestamp_millis(self.0 as i64)
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
            .unwrap_or_default()
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_offsets_to_utc_millis() {
        let a = Timestamp::parse_rfc3339("2026-11-26T15:00:00Z").unwrap();
        let b = Timestamp::parse_rfc3339("2026-11-26T16:00:00+01:00").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_rfc3339(), "2026-11-26T15:00:00.000Z");
    }

    #[test]
    fn rejects_garbage_and_pre_epoch() {
        assert!(Timestamp::parse_rfc3339("yesterday").is_err());
        let e = Timestamp::parse_rfc3339("1969-12-31T23:59:59Z").unwrap_err();
        assert!(e.contains("before 1970"), "{e}");
        let e = Timestamp::parse_rfc3339("2100-01-01T00:00:00Z").unwrap_err();
        assert!(e.contains("after 2100"), "{e}");
        assert!(Timestamp::parse_rfc3339("2099-12-31T23:59:59Z").is_ok());
    }
}
