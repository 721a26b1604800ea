//! What the configured caps let the state hold at worst, and the check of it
//! against `limits.memory_budget`.
//!
//! The bound is computed, not sampled: each structure's cap times the bytes
//! one entry can take, with the hash tables' worst slack (a table that has
//! just doubled holds 16/7 buckets per entry). Two figures are estimates and
//! say so: a history entry (an event with its decision, whose strings vary)
//! is taken as [`HISTORY_EVENT_BYTES`], and an enforcement as
//! [`ENFORCEMENT_BYTES`]. [`BASE_BYTES`] covers the program, its runtime,
//! rules, model and buffers. Memory-mapped files (GeoIP databases, the breach
//! corpus) are the kernel's page cache and are not counted.

use crate::config::Limits;
use crate::detect::Detector;
use crate::enrich::useragent::Families;
use crate::state::profile::Profile;
use std::fmt;

/// Hash-table buckets per entry at worst: just after a table doubles.
pub const HASH_SLACK: f64 = 16.0 / 7.0;
/// The program, runtime, rules, model and buffers.
pub const BASE_BYTES: u64 = 64 << 20;
/// One recent event with its decision in a user's history (an estimate:
/// `tests/memory_bound.rs` measures 1.9 KiB on average for failed sign-ins
/// whose decisions give several reasons; long user agents take more).
pub const HISTORY_EVENT_BYTES: u64 = 2048;
/// One enforcement listed or queued (an estimate).
pub const ENFORCEMENT_BYTES: u64 = 512;

/// Bytes by structure, at worst.
#[derive(Debug, Clone, PartialEq)]
pub struct Footprint {
    pub parts: Vec<(&'static str, u64)>,
}

/// Bytes of `n` entries of `entry` bytes in a hash table at its worst slack.
fn table(n: usize, entry: usize) -> f64 {
    n as f64 * (entry + 1) as f64 * HASH_SLACK
}

impl Footprint {
    pub fn worst_case(limits: &Limits, detectors: &[Detector]) -> Footprint {
        let l = limits;
        let profiles = l.max_profiles as f64 * std::mem::size_of::<Profile>() as f64
            + l.max_profiles as f64 * crate::state::index::WORST_BYTES_PER_KEY;
        // A bucket's table may pass its cap by a tenth (at least 64 keys)
        // before a sweep brings it back.
        let keys = (l.max_keys_per_rule + (l.max_keys_per_rule / 10).max(64)) as f64;
        let rule_keys: f64 = detectors
            .iter()
            .map(|d| keys * d.worst_bytes_per_key(HASH_SLACK))
            .sum();
        let sources = 4.0
            * (table(l.max_source_keys, crate::state::sources::ENTRY_BYTES)
                + (l.max_source_keys * crate::state::sources::FAR_BYTES) as f64)
            + table(l.max_offenders, crate::state::sources::OFFENCE_ENTRY_BYTES);
        let frequencies = 4.0 * table(l.max_frequency_values, 8);
        let agents = table(l.max_user_agents, std::mem::size_of::<(u64, Families)>());
        let enforcements = 2.0 * l.max_enforcements as f64 * ENFORCEMENT_BYTES as f64
            + table(l.max_enforcements, 64);
        let fraud = table(
            l.max_fraud_marked_users,
            crate::state::fraud::USER_ENTRY_BYTES,
        );
        let history_events = l.max_history_users as f64 * l.history_per_user as f64;
        let history =
            history_events * HISTORY_EVENT_BYTES as f64 + table(history_events as usize, 32);
        let recent = crate::state::recent_ids::RecentIds::worst_bytes(l.recent_event_ids) as f64;
        let parts = [
            ("profiles", profiles),
            ("rule keys", rule_keys),
            ("failure sources", sources),
            ("frequencies", frequencies),
            ("user agents", agents),
            ("enforcements", enforcements),
            ("fraud marks", fraud),
            ("history", history),
            ("recent event ids", recent),
            ("program", BASE_BYTES as f64),
        ];
        Footprint {
            parts: parts.iter().map(|&(n, b)| (n, b.ceil() as u64)).collect(),
        }
    }

    pub fn total(&self) -> u64 {
        self.parts.iter().map(|p| p.1).sum()
    }

    /// `Err` naming the largest parts when the worst case exceeds `budget`.
    pub fn check(&self, budget: u64) -> Result<(), String> {
        if self.total() <= budget {
            return Ok(());
        }
        Err(format!(
            "limits.memory_budget is {}, but the caps let the state reach {} at worst ({self}); lower the largest caps or raise the budget",
            human(budget),
            human(self.total())
        ))
    }
}

/// The parts largest first, those over 1% of the total.
impl fmt::Display for Footprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = self.parts.clone();
        parts.sort_by_key(|p| std::cmp::Reverse(p.1));
        let total = self.total();
        let shown: Vec<String> = parts
            .iter()
            .filter(|p| p.1 * 100 >= total)
            .map(|(name, b)| format!("{name} {}", human(*b)))
            .collect();
        f.write_str(&shown.join(", "))
    }
}

fn human(bytes: u64) -> String {
    bytesize::ByteSize::b(bytes).display().iec().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_case_grows_with_each_cap_and_names_the_largest() {
        let small = Limits {
            max_profiles: 1_000,
            ..Limits::default()
        };
        let large = Limits {
            max_profiles: 2_000_000,
            ..small.clone()
        };
        let a = Footprint::worst_case(&small, &[]);
        let b = Footprint::worst_case(&large, &[]);
        let profile_bytes = |f: &Footprint| f.parts.iter().find(|p| p.0 == "profiles").unwrap().1;
        // 196 bytes a profile plus its index entry in an index that has
        // just doubled (a 64-byte bucket per 1.875 keys).
        let per = (profile_bytes(&b) - profile_bytes(&a)) as f64 / 1_999_000.0;
        assert!((229.5..230.5).contains(&per), "{per} bytes a profile");
        assert!(b.check(b.total()).is_ok());
        let e = b.check(b.total() - 1).unwrap_err();
        assert!(e.contains("limits.memory_budget"), "{e}");
        assert!(e.starts_with("limits.memory_budget is"), "{e}");
        assert!(e.contains("profiles "), "{e}");
    }
}
