//! The words of a decision: each reason's `detail`, written for an operator
//! answering "why was I blocked?". Built only for reasons that are reported.

use super::travel::Trip;
use crate::detect::{Counter, Detector, HitKind, OverflowAction};
use crate::enrich::geoip::GeoInfo;
use crate::event::Timestamp;
use crate::model::{Evidence, FeatureScore};
use std::fmt::Display;

pub struct Explain;

impl Explain {
    pub fn hit(d: &Detector, hit: HitKind, now_ms: u64) -> String {
        let key = d.key_kind().name();
        let what = match d.action {
            OverflowAction::Block => "blocked",
            OverflowAction::Challenge => "challenged",
            OverflowAction::Signal => "flagged",
        };
        let limit = match &d.counter {
            Counter::Bucket {
                bucket, distinct, ..
            } => {
                let counted =
                    distinct.map_or("events".to_string(), |k| format!("distinct {}s", k.name()));
                format!(
                    "{} {counted} per {key} (leaking one per {})",
                    bucket.capacity(),
                    humantime::format_duration(bucket.leak())
                )
            }
            Counter::Lockout(_) => "the lockout's failure limit".to_string(),
        };
        match hit {
            HitKind::InForce { until_ms } => {
                format!(
                    "{key} {what} until {} ({}): {}",
                    Timestamp(until_ms).to_rfc3339(),
                    wait(until_ms, now_ms),
                    d.description
                )
            }
            HitKind::Overflow {
                until_ms: Some(until),
            } => {
                format!(
                    "reached {limit}; {key} {what} until {}: {}",
                    Timestamp(until).to_rfc3339(),
                    d.description
                )
            }
            HitKind::Overflow { until_ms: None } => format!("reached {limit}: {}", d.description),
            HitKind::WouldOverflow => format!(
                "at {limit}: the outcome of this attempt would overflow: {}",
                d.description
            ),
        }
    }

    pub fn feature(what: &dyn Display, ev: Evidence, s: FeatureScore) -> String {
        use std::fmt::Write;
        let mut out = String::with_capacity(128);
        // Writing to a String cannot fail.
        let _ = if ev.user_weight < 0.05 {
            write!(
                out,
                "{what} not among this user's {} recent sign-ins' values",
                Fixed(ev.user_total, 1)
            )
        } else {
            write!(
                out,
                "{what} rare for this user ({} of {} recent sign-ins)",
                Fixed(ev.user_weight, 1),
                Fixed(ev.user_total, 1)
            )
        };
        if let Some(share) = s.global_share {
            let _ = write!(out, "; {}% of all sign-ins", Fixed(share * 100.0, 2));
        }
        let _ = write!(out, "; likelihood ratio {}", Fixed(s.likelihood_ratio, 1));
        out
    }

    pub fn travel(t: Trip, max_kmh: f64) -> String {
        let speed = if t.speed_kmh.is_infinite() {
            "no time".to_string()
        } else {
            format!("{:.0} km/h", t.speed_kmh)
        };
        format!(
            "{:.0} km from the last successful sign-in {:.1} h earlier ({:.0} km beyond the locations' accuracy): {speed}, above {max_kmh:.0} km/h",
            t.distance_km, t.hours, t.beyond_accuracy_km
        )
    }

    pub fn hour(hour: u32, known: u32) -> String {
        let hours: Vec<String> = (0..24)
            .filter(|h| known & (1 << h) != 0)
            .map(|h| format!("{h:02}"))
            .collect();
        format!(
            "sign-in at {hour:02}h UTC; this user signs in at {}h",
            hours.join(", ")
        )
    }

    pub fn anonymous(geo: &GeoInfo) -> String {
        let a = geo.anonymous;
        let mut kinds = Vec::new();
        for (on, name) in [
            (a.anonymous_vpn, "VPN"),
            (a.tor_exit_node, "Tor exit node"),
            (a.public_proxy, "public proxy"),
            (a.residential_proxy, "residential proxy"),
        ] {
            if on {
                kinds.push(name);
            }
        }
        if kinds.is_empty() {
            "address is an anonymizer".to_string()
        } else {
            format!("address is an anonymizer: {}", kinds.join(", "))
        }
    }
}

/// A number with a fixed count of decimals, written through integers: the
/// float formatter's exact mode showed at several percent of a replay.
pub struct Fixed(pub f64, pub u32);

impl Display for Fixed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Fixed(x, decimals) = *self;
        let scale = 10u64.pow(decimals);
        let scaled = (x.abs() * scale as f64).round();
        if !scaled.is_finite() || scaled >= 1e18 {
            return write!(f, "{x:.0}");
        }
        let scaled = scaled as u64;
        let sign = if x < 0.0 && scaled != 0 { "-" } else { "" };
        if decimals == 0 {
            return write!(f, "{sign}{scaled}");
        }
        write!(
            f,
            "{sign}{}.{:0width$}",
            scaled / scale,
            scaled % scale,
            width = decimals as usize
        )
    }
}

fn wait(until_ms: u64, now_ms: u64) -> String {
    let secs = until_ms.saturating_sub(now_ms) / 1000;
    format!(
        "{} left",
        humantime::format_duration(std::time::Duration::from_secs(secs))
    )
}

#[cfg(test)]
mod tests {
    use super::Fixed;

    #[test]
    fn fixed_writes_like_the_float_formatter() {
        for (x, d) in [
            (0.0, 1),
            (5.4321, 2),
            (2.5, 0),
            (-1.25, 1),
            (99.999, 2),
            (1e30, 1),
            (f64::INFINITY, 1),
            (12.05, 1),
        ] {
            let want = format!("{x:.*}", d as usize);
            let got = Fixed(x, d).to_string();
            // Rounding ties may differ in the last digit; the value must not.
            assert!(
                (want.parse::<f64>().unwrap_or(x) - got.parse::<f64>().unwrap_or(x)).abs()
                    <= 1.001 * 10f64.powi(-(d as i32))
                    || want == got,
                "{x}: {want} vs {got}"
            );
        }
        assert_eq!(Fixed(0.004, 2).to_string(), "0.00");
        assert_eq!(Fixed(7.0, 1).to_string(), "7.0");
    }
}
