//! Sizes of the engine's state and what it let go: for the metrics, the
//! startup and summary lines, and the memory benchmark.

use super::Engine;
use crate::engine::evidence::SourceEvidence;
use crate::state::Evictions;

/// Sizes of the engine's state, for metrics and the memory benchmark.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateStats {
    pub profiles: usize,
    /// Bytes the profiles and their index hold (by capacity).
    pub profile_bytes: usize,
    /// (rule id, keys tracked, bytes they hold).
    pub rule_keys: Vec<(String, usize, usize)>,
    /// Enforcements listed (in force or recently ended).
    pub enforcements: usize,
    /// Enforcements dropped untaken (nothing called `take_enforcements`).
    pub enforcements_dropped: u64,
    /// Keys blocked by fraud feedback.
    pub reported_blocks: usize,
    /// Users with fraud marks, and the bytes the marks hold.
    pub fraud_marked_users: usize,
    pub fraud_mark_bytes: usize,
    /// Sources with recent failures (all kinds together) and addresses with
    /// a record of bans: (entries, bytes) each.
    pub failure_sources: (usize, usize),
    pub offenders: (usize, usize),
}

impl std::fmt::Display for StateStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: usize = self.rule_keys.iter().map(|r| r.1).sum();
        let bytes: usize = self.rule_keys.iter().map(|r| r.2).sum();
        write!(
            f,
            "state: {} profiles in {:.1} MiB ({} bytes each, counting unused capacity); {} rule keys in {:.1} MiB ({} bytes each); {} failing sources in {:.1} MiB; {} addresses banned before",
            self.profiles,
            self.profile_bytes as f64 / 1048576.0,
            self.profile_bytes / self.profiles.max(1),
            keys,
            bytes as f64 / 1048576.0,
            bytes / keys.max(1),
            self.failure_sources.0,
            self.failure_sources.1 as f64 / 1048576.0,
            self.offenders.0
        )
    }
}

impl Engine {
    /// Distinct values counted per global-frequency feature.
    pub fn frequency_sizes(&self) -> [(&'static str, usize); 4] {
        let g = &self.globals;
        [
            ("countries", g.country.len()),
            ("ASNs", g.asn.len()),
            ("browsers", g.browser.len()),
            ("operating systems", g.os.len()),
        ]
    }

    pub fn state_stats(&self) -> StateStats {
        StateStats {
            profiles: self.profiles.len(),
            profile_bytes: self.profiles.heap_bytes(),
            rule_keys: self
                .detectors
                .iter()
                .map(|d| {
                    let (keys, bytes) = d.state_size();
                    (d.id.to_string(), keys, bytes)
                })
                .collect(),
            enforcements: self.enforcements.len(),
            enforcements_dropped: self.enforcements.dropped(),
            reported_blocks: self.reported.len(),
            fraud_marked_users: self.fraud.len(),
            fraud_mark_bytes: self.fraud.heap_bytes(),
            failure_sources: self.sources.as_ref().map_or((0, 0), |s| {
                let sizes = s.sizes();
                let tables = &sizes[..sizes.len() - 1];
                (
                    tables.iter().map(|t| t.1).sum(),
                    tables.iter().map(|t| t.2).sum(),
                )
            }),
            offenders: self.sources.as_ref().map_or((0, 0), |s| {
                let (_, n, b) = s.sizes()[crate::engine::evidence::SourceKind::ALL.len()];
                (n, b)
            }),
        }
    }

    /// Entries let go since this process started, by structure: `profiles`,
    /// `rule_keys`, `enforcements`, `fraud_marks`, `user_agent_cache` (the parse
    /// cache). Counters, not state: a restored engine starts them at 0.
    pub fn evictions(&self) -> Vec<(&'static str, Evictions)> {
        let mut rule_keys = Evictions::default();
        for d in &self.detectors {
            rule_keys += d.evictions();
        }
        let agents = Evictions {
            cap: self.agents.cache_stats().1,
            age: 0,
        };
        vec![
            ("profiles", self.profiles.evictions()),
            ("rule_keys", rule_keys),
            (
                "failure_sources",
                self.sources
                    .as_ref()
                    .map(SourceEvidence::evictions)
                    .unwrap_or_default(),
            ),
            ("enforcements", self.enforcements.evictions()),
            ("fraud_marks", self.fraud.evictions()),
            ("user_agent_cache", agents),
        ]
    }

    /// Each rule's overflows since the process started.
    pub fn rule_overflows(&self) -> impl Iterator<Item = (&std::sync::Arc<str>, u64)> {
        self.detectors.iter().map(|d| (&d.id, d.overflows()))
    }

    /// User agents whose parse is cached (a cache, not state: not saved).
    pub fn user_agents_cached(&self) -> usize {
        self.agents.cache_stats().0
    }
}
