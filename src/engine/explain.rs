//! The words of a decision: each reason's `detail`, written for an operator
//! answering "why was I blocked?". Built only for reasons that are reported.

use super::enforce::{ReportedBlock, Scope};
use super::travel::Trip;
use crate::detect::{Detector, HitKind, OverflowAction};
use crate::enrich::geoip::GeoInfo;
use crate::event::Timestamp;
use crate::model::{Evidence, FeatureScore};
use crate::state::fraud::Feature;

pub struct Explain;

impl Explain {
    pub fn hit(d: &Detector, hit: HitKind, now_ms: u64) -> String {
        let key = d.key_kind().name();
        let what = match d.action {
            OverflowAction::Block => "blocked",
            OverflowAction::Challenge => "challenged",
            OverflowAction::Signal => "flagged",
        };
        // Pieces pushed one by one: `format!` here showed at several percent
        // of a replay, where a quarter of events carry a rule's reason.
        let mut out = String::with_capacity(160);
        let until = |out: &mut String, until_ms: u64| {
            out.push_str(key);
            out.push(' ');
            out.push_str(what);
            out.push_str(" until ");
            Timestamp(until_ms).write_rfc3339(out);
        };
        match hit {
            HitKind::InForce { until_ms } => {
                until(&mut out, until_ms);
                out.push_str(" (");
                push_duration(&mut out, until_ms.saturating_sub(now_ms) / 1000);
                out.push_str(" left)");
            }
            HitKind::Overflow { until_ms } => {
                out.push_str("reached ");
                out.push_str(&d.limit);
                if let Some(until_ms) = until_ms {
                    out.push_str("; ");
                    until(&mut out, until_ms);
                }
            }
            HitKind::WouldOverflow => {
                out.push_str("at ");
                out.push_str(&d.limit);
                out.push_str(": the outcome of this attempt would overflow");
            }
        }
        out.push_str(": ");
        out.push_str(&d.description);
        out
    }

    /// `what` is written as its two parts joined, such as `["country ", "BR"]`.
    pub fn feature(what: [&str; 2], ev: Evidence, s: FeatureScore) -> String {
        let mut out = String::with_capacity(128);
        out.push_str(what[0]);
        out.push_str(what[1]);
        if ev.user_weight < 0.05 {
            out.push_str(" not among this user's ");
            push_fixed(&mut out, ev.user_total, 1);
            out.push_str(" recent sign-ins' values");
        } else {
            out.push_str(" rare for this user (");
            push_fixed(&mut out, ev.user_weight, 1);
            out.push_str(" of ");
            push_fixed(&mut out, ev.user_total, 1);
            out.push_str(" recent sign-ins)");
        }
        if let Some(share) = s.global_share {
            out.push_str("; ");
            push_fixed(&mut out, share * 100.0, 2);
            out.push_str("% of all sign-ins");
        }
        out.push_str("; likelihood ratio ");
        push_fixed(&mut out, s.likelihood_ratio, 1);
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
        // Pushed digit by digit: `format!` per hour showed at 1% of a replay.
        let two = |out: &mut String, h: u32| {
            out.push(char::from(b'0' + (h / 10 % 10) as u8));
            out.push(char::from(b'0' + (h % 10) as u8));
        };
        let mut out = String::with_capacity(48 + 4 * known.count_ones() as usize);
        out.push_str("sign-in at ");
        two(&mut out, hour);
        out.push_str("h UTC; this user signs in at ");
        for (i, h) in (0..24).filter(|h| known & (1 << h) != 0).enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            two(&mut out, h);
        }
        out.push('h');
        out
    }

    /// `reported_fraud_block`: which key feedback blocked, until when, and on
    /// which reported event.
    pub fn reported_block(b: &ReportedBlock, now_ms: u64) -> String {
        let mut out = String::with_capacity(128);
        out.push_str(match b.scope {
            Scope::UserIp => "user+ip",
            s => s.as_str(),
        });
        out.push_str(" blocked until ");
        Timestamp(b.until_ms).write_rfc3339(&mut out);
        out.push_str(" (");
        push_duration(&mut out, b.until_ms.saturating_sub(now_ms) / 1000);
        out.push_str(" left): event ");
        out.push_str(&b.event_id);
        out.push_str(" was reported as fraudulent");
        out
    }

    /// `reported_fraud`: which of the sign-in's values feedback reported for
    /// this user, and the day of the latest report among them.
    pub fn reported_fraud(features: &[Feature], day: u16) -> String {
        let mut out = String::with_capacity(128);
        out.push_str("this sign-in's ");
        for (i, f) in features.iter().enumerate() {
            if i > 0 {
                out.push_str(if i + 1 == features.len() {
                    " and "
                } else {
                    ", "
                });
            }
            out.push_str(f.as_str());
        }
        out.push_str(if features.len() == 1 { " was" } else { " were" });
        out.push_str(" in a sign-in of this user reported as fraudulent on ");
        let mut date = String::with_capacity(24);
        Timestamp(day as u64 * 86_400_000).write_rfc3339(&mut date);
        out.push_str(&date[..10]);
        out
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

/// Appends `x` with a fixed count of decimals, written through integers: the
/// float formatter's exact mode showed at several percent of a replay.
pub fn push_fixed(out: &mut String, x: f64, decimals: u32) {
    let scale = 10u64.pow(decimals);
    let scaled = (x.abs() * scale as f64).round();
    if !scaled.is_finite() || scaled >= 1e18 {
        use std::fmt::Write;
        // Writing to a String cannot fail.
        let _ = write!(out, "{x:.0}");
        return;
    }
    let scaled = scaled as u64;
    if x < 0.0 && scaled != 0 {
        out.push('-');
    }
    let mut digits = itoa::Buffer::new();
    out.push_str(digits.format(scaled / scale));
    if decimals > 0 {
        out.push('.');
        let fraction = digits.format(scaled % scale);
        for _ in fraction.len()..decimals as usize {
            out.push('0');
        }
        out.push_str(fraction);
    }
}

/// Appends a duration of whole seconds as `1d 2h 3m 4s`, leaving out zero
/// parts (`0s` for none).
pub(super) fn push_duration(out: &mut String, secs: u64) {
    let mut digits = itoa::Buffer::new();
    let parts = [
        (secs / 86_400, "d"),
        (secs / 3600 % 24, "h"),
        (secs / 60 % 60, "m"),
        (secs % 60, "s"),
    ];
    let mut first = true;
    for (n, unit) in parts {
        if n == 0 {
            continue;
        }
        if !first {
            out.push(' ');
        }
        first = false;
        out.push_str(digits.format(n));
        out.push_str(unit);
    }
    if first {
        out.push_str("0s");
    }
}

#[cfg(test)]
mod tests {
    use super::{push_duration, push_fixed, Explain, Feature, ReportedBlock, Scope};

    #[test]
    fn reported_fraud_reasons_say_what_when_and_which_event() {
        let b = ReportedBlock {
            scope: Scope::UserIp,
            until_ms: 1_772_528_400_000,
            event_id: "e-42".into(),
        };
        assert_eq!(
            Explain::reported_block(&b, 1_772_442_000_000),
            "user+ip blocked until 2026-03-03T09:00:00.000Z (1d left): event e-42 was reported as fraudulent"
        );
        assert_eq!(
            Explain::reported_fraud(&[Feature::Device], 20_514),
            "this sign-in's device was in a sign-in of this user reported as fraudulent on 2026-03-02"
        );
        assert_eq!(
            Explain::reported_fraud(&[Feature::Device, Feature::Network, Feature::Country], 20_514),
            "this sign-in's device, network and country were in a sign-in of this user reported as fraudulent on 2026-03-02"
        );
    }

    fn fixed(x: f64, d: u32) -> String {
        let mut out = String::new();
        push_fixed(&mut out, x, d);
        out
    }

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
            (3.007, 3),
        ] {
            let want = format!("{x:.*}", d as usize);
            let got = fixed(x, d);
            // Rounding ties may differ in the last digit; the value must not.
            assert!(
                (want.parse::<f64>().unwrap_or(x) - got.parse::<f64>().unwrap_or(x)).abs()
                    <= 1.001 * 10f64.powi(-(d as i32))
                    || want == got,
                "{x}: {want} vs {got}"
            );
        }
        assert_eq!(fixed(0.004, 2), "0.00");
        assert_eq!(fixed(7.0, 1), "7.0");
        assert_eq!(fixed(3.007, 3), "3.007");
        assert_eq!(fixed(-0.01, 1), "0.0");
    }

    #[test]
    fn an_unusual_hour_names_the_known_ones() {
        assert_eq!(
            Explain::hour(3, (1 << 8) | (1 << 9) | (1 << 23)),
            "sign-in at 03h UTC; this user signs in at 08, 09, 23h"
        );
        assert_eq!(
            Explain::hour(0, 1),
            "sign-in at 00h UTC; this user signs in at 00h"
        );
    }

    #[test]
    fn durations_leave_out_zero_parts() {
        for (secs, want) in [
            (0, "0s"),
            (59, "59s"),
            (3600, "1h"),
            (3661, "1h 1m 1s"),
            (90_000, "1d 1h"),
        ] {
            let mut out = String::new();
            push_duration(&mut out, secs);
            assert_eq!(out, want);
        }
    }
}
