//! The words of a decision: each reason's `detail`, written for an operator
//! answering "why was I blocked?". Built only for reasons that are reported.

use super::travel::Trip;
use crate::detect::{Counter, Detector, HitKind, OverflowAction};
use crate::enrich::geoip::GeoInfo;
use crate::event::Timestamp;
use crate::model::{Evidence, FeatureScore};

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

    pub fn feature(what: &str, ev: Evidence, s: FeatureScore) -> String {
        let seen = if ev.user_weight < 0.05 {
            format!(
                "{what} not among this user's {:.1} recent sign-ins' values",
                ev.user_total
            )
        } else {
            format!(
                "{what} rare for this user ({:.1} of {:.1} recent sign-ins)",
                ev.user_weight, ev.user_total
            )
        };
        match s.global_share {
            Some(share) => format!(
                "{seen}; {:.2}% of all sign-ins; likelihood ratio {:.1}",
                share * 100.0,
                s.likelihood_ratio
            ),
            None => format!("{seen}; likelihood ratio {:.1}", s.likelihood_ratio),
        }
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

fn wait(until_ms: u64, now_ms: u64) -> String {
    let secs = until_ms.saturating_sub(now_ms) / 1000;
    format!(
        "{} left",
        humantime::format_duration(std::time::Duration::from_secs(secs))
    )
}
