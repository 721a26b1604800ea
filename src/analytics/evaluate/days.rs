//! Per UTC day: the friction legitimate users met and the share of attacks
//! flagged, so a bad day is not averaged away over a month. A day runs from
//! 00:00:00.000 to 23:59:59.999 UTC. Sign-ins without a time (JSONL may omit
//! it) belong to no day. Five counters a day: nothing grows with sign-ins.

use crate::event::{Action, Timestamp};
use serde::Serialize;
use std::collections::BTreeMap;

use super::figures::ratio;

#[derive(Debug, Default, Clone, Copy)]
struct Day {
    legit: u64,
    legit_challenged: u64,
    legit_blocked: u64,
    attacks: u64,
    attacks_flagged: u64,
}

/// Scored sign-ins per day since the epoch.
#[derive(Default)]
pub struct Days(BTreeMap<u32, Day>);

impl Days {
    /// Counts one scored sign-in: legitimate or an attack, and its action.
    pub fn add(&mut self, time: Option<Timestamp>, legit: bool, action: Action) {
        let Some(t) = time else { return };
        let d = self.0.entry(t.day()).or_default();
        if legit {
            d.legit += 1;
            d.legit_challenged += u64::from(action == Action::Challenge);
            d.legit_blocked += u64::from(action == Action::Block);
        } else {
            d.attacks += 1;
            d.attacks_flagged += u64::from(action != Action::Allow);
        }
    }

    /// Every day with a scored sign-in, in order.
    pub fn figures(&self) -> Vec<DayFigures> {
        self.0
            .iter()
            .map(|(&day, d)| {
                let legit = |n: u64| ratio(n as usize, d.legit as usize);
                let date = Timestamp(u64::from(day) * 86_400_000).to_rfc3339();
                DayFigures {
                    day: date[..10].to_string(),
                    legit: d.legit,
                    challenged_rate: legit(d.legit_challenged),
                    blocked_rate: legit(d.legit_blocked),
                    flagged_rate: legit(d.legit_challenged + d.legit_blocked),
                    attacks: d.attacks,
                    attacks_flagged_rate: (d.attacks > 0)
                        .then(|| ratio(d.attacks_flagged as usize, d.attacks as usize)),
                }
            })
            .collect()
    }
}

/// One UTC day.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DayFigures {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    /// Legitimate sign-ins scored.
    pub legit: u64,
    /// Shares of them challenged, blocked, and either (0 with none).
    pub challenged_rate: f64,
    pub blocked_rate: f64,
    pub flagged_rate: f64,
    /// Attack sign-ins scored (every label but `legit`).
    pub attacks: u64,
    /// Share of them challenged or blocked; absent with none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attacks_flagged_rate: Option<f64>,
}

/// The day with the largest share of legitimate sign-ins flagged, and the one
/// with the largest share blocked (the first such day on a tie).
pub fn worst(days: &[DayFigures]) -> Option<WorstDays> {
    let with_legit: Vec<&DayFigures> = days.iter().filter(|d| d.legit > 0).collect();
    let max_by = |rate: fn(&DayFigures) -> f64| {
        with_legit
            .iter()
            .copied()
            .reduce(|a, b| if rate(b) > rate(a) { b } else { a })
            .cloned()
    };
    Some(WorstDays {
        flagged: max_by(|d| d.flagged_rate)?,
        blocked: max_by(|d| d.blocked_rate)?,
    })
}

/// The worst days for legitimate users.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WorstDays {
    pub flagged: DayFigures,
    pub blocked: DayFigures,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Option<Timestamp> {
        Some(Timestamp::parse_rfc3339(s).unwrap())
    }

    #[test]
    fn days_split_at_midnight_utc() {
        let mut d = Days::default();
        d.add(at("2026-01-05T23:59:59.999Z"), true, Action::Allow);
        d.add(at("2026-01-05T23:59:59.999Z"), true, Action::Challenge);
        d.add(at("2026-01-06T00:00:00Z"), true, Action::Block);
        // 01:00 in UTC+2 is 23:00 UTC the day before.
        d.add(at("2026-01-06T01:00:00+02:00"), false, Action::Block);
        d.add(None, true, Action::Block);
        let f = d.figures();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].day, "2026-01-05");
        assert_eq!(f[0].legit, 2);
        assert_eq!(
            (f[0].challenged_rate, f[0].blocked_rate, f[0].flagged_rate),
            (0.5, 0.0, 0.5)
        );
        assert_eq!((f[0].attacks, f[0].attacks_flagged_rate), (1, Some(1.0)));
        assert_eq!(f[1].day, "2026-01-06");
        assert_eq!(
            (f[1].legit, f[1].blocked_rate, f[1].flagged_rate),
            (1, 1.0, 1.0)
        );
        assert_eq!(f[1].attacks_flagged_rate, None);
        let w = worst(&f).unwrap();
        assert_eq!(
            (w.flagged.day.as_str(), w.blocked.day.as_str()),
            ("2026-01-06", "2026-01-06")
        );
    }

    #[test]
    fn the_worst_days_skip_days_without_legitimate_sign_ins() {
        let mut d = Days::default();
        d.add(at("2026-01-05T10:00:00Z"), true, Action::Challenge);
        d.add(at("2026-01-05T10:00:00Z"), true, Action::Allow);
        d.add(at("2026-01-06T10:00:00Z"), false, Action::Block);
        d.add(at("2026-01-07T10:00:00Z"), true, Action::Allow);
        let w = worst(&d.figures()).unwrap();
        assert_eq!(w.flagged.day, "2026-01-05");
        // No day blocked any: the first day with legitimate sign-ins.
        assert_eq!(
            (w.blocked.day.as_str(), w.blocked.blocked_rate),
            ("2026-01-05", 0.0)
        );
        assert_eq!(worst(&[]), None);
    }
}
