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
        let ms = match parse_utc(s.as_bytes()) {
            Some(ms) => ms,
            None => {
                let t = DateTime::parse_from_rfc3339(s)
                    .map_err(|e| format!("not an RFC 3339 time: {e}"))?;
                u64::try_from(t.timestamp_millis())
                    .map_err(|_| "is before 1970-01-01T00:00:00Z".to_string())?
            }
        };
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
        let mut out = String::with_capacity(24);
        self.write_rfc3339(&mut out);
        out
    }

    /// Appends the time as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    pub fn write_rfc3339(self, out: &mut String) {
        let days = self.0 / 86_400_000;
        let (y, m, d) = civil_from_days(days as i64);
        if !(0..=9999).contains(&y) {
            // Beyond four-digit years; chrono writes those with a sign.
            let text = DateTime::<Utc>::from_timestamp_millis(self.0 as i64)
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true));
            out.push_str(&text.unwrap_or_default());
            return;
        }
        let ms_of_day = self.0 % 86_400_000;
        let (h, min) = (ms_of_day / 3_600_000, ms_of_day / 60_000 % 60);
        let (s, ms) = (ms_of_day / 1000 % 60, ms_of_day % 1000);
        let mut b = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, width: usize, mut v: u64| {
            for i in (at..at + width).rev() {
                b[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, y as u64);
        put(5, 2, m as u64);
        put(8, 2, d as u64);
        put(11, 2, h);
        put(14, 2, min);
        put(17, 2, s);
        put(20, 3, ms);
        // Only ASCII digits were written into an ASCII template.
        out.push_str(std::str::from_utf8(&b).unwrap_or_default());
    }
}

/// The common shape of event times, `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, read
/// without chrono's general parser (which showed at 2% of a replay). `None`
/// for anything else, including pre-epoch and leap-second times: the caller
/// then asks chrono, which also words every error.
fn parse_utc(b: &[u8]) -> Option<u64> {
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    if b[13] != b':' || b[16] != b':' || b[b.len() - 1] != b'Z' {
        return None;
    }
    // Every byte but the separators must be a digit: one test at the end says
    // whether any was not.
    let mut bad = false;
    let mut digit = |i: usize| {
        let d = b[i].wrapping_sub(b'0');
        bad |= d > 9;
        u64::from(d)
    };
    let mut two = |i: usize| digit(i) * 10 + digit(i + 1);
    let (y, m, d) = (two(0) * 100 + two(2), two(5), two(8));
    let (h, min, s) = (two(11), two(14), two(17));
    let ms = match b.len() - 20 {
        0 => 0,
        n @ 2..=10 if b[19] == b'.' => {
            let mut ms = 0;
            for i in 20..b.len() - 1 {
                let d = digit(i);
                if i < 23 {
                    ms = ms * 10 + d;
                }
            }
            ms * 10u64.pow(3u32.saturating_sub(n as u32 - 1))
        }
        _ => return None,
    };
    if bad || y < 1970 || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    if h > 23 || min > 59 || s > 59 {
        return None;
    }
    let days = days_from_civil(y as i64, m as u32, d as u32) as u64;
    Some(((days * 24 + h) * 60 + min) * 60_000 + s * 1000 + ms)
}

fn days_in_month(y: u64, m: u64) -> u64 {
    match m {
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day since 1970-01-01 (Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

/// RFC 3339 text, as an event's `timestamp` (records Palisade wrote, such as
/// enforcements, read back by a consumer).
impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse_rfc3339(&text).map_err(serde::de::Error::custom)
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
    fn the_quick_paths_agree_with_chrono() {
        use proptest::prelude::*;
        let cases = (0u64..LATEST.0, 0usize..6);
        proptest!(ProptestConfig::with_cases(4000), |((ms, shape) in cases)| {
            let t = DateTime::<Utc>::from_timestamp_millis(ms as i64).unwrap();
            prop_assert_eq!(
                Timestamp(ms).to_rfc3339(),
                t.to_rfc3339_opts(SecondsFormat::Millis, true)
            );
            let text = match shape {
                0 => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                1 => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                2 => t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string(),
                3 => format!("{}.{}Z", t.format("%Y-%m-%dT%H:%M:%S"), ms % 1000 / 100),
                4 => t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string(),
                _ => t.format("%Y-%m-%dt%H:%M:%S%.3fz").to_string(),
            };
            let chrono_ms = DateTime::parse_from_rfc3339(&text).unwrap().timestamp_millis();
            prop_assert_eq!(Timestamp::parse_rfc3339(&text), Ok(Timestamp(chrono_ms as u64)));
        });
        // Shapes the quick path must leave to chrono, and dates it must refuse.
        for odd in [
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00.1234567890Z",
            "2026-01-01T00:00:0xZ",
            "2026-01-01T00:00:00.1x3Z",
            "2026-01-01T00:00:00.12345678xZ",
            "2026/01-01T00:00:00Z",
            "1969-12-31T23:59:59.999Z",
        ] {
            assert_eq!(parse_utc(odd.as_bytes()), None, "{odd}");
            assert_eq!(
                Timestamp::parse_rfc3339(odd).is_ok(),
                DateTime::parse_from_rfc3339(odd).is_ok_and(|t| t.timestamp_millis() >= 0),
                "{odd}"
            );
        }
        assert_eq!(
            parse_utc(b"2024-02-29T23:59:59.9999Z"),
            Some(1_709_251_199_999)
        );
        assert!(Timestamp(600_000_000_000_000)
            .to_rfc3339()
            .starts_with("+20983-"));
    }

    #[test]
    fn reads_back_what_it_writes() {
        let t = Timestamp(1_772_442_000_123);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2026-03-02T09:00:00.123Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
        let e = serde_json::from_str::<Timestamp>("\"1969-12-31T23:59:59Z\"").unwrap_err();
        assert!(e.to_string().contains("before 1970"), "{e}");
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
