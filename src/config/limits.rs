//! `[limits]`: hard caps on state, and the sizes tables start at.

use super::setting::SectionProblems;
use super::setting::Setting;
use serde::Deserialize;
use std::time::Duration;

/// Hard caps on state, so no flood of users or addresses exhausts memory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// User profiles kept (196 bytes each plus index); the idlest go first.
    pub max_profiles: usize,
    /// Keys per rule (24 bytes each plus index); the emptiest buckets go first.
    pub max_keys_per_rule: usize,
    /// Sources with recent failures tracked per kind (one user from one
    /// address, an address, a network, an ASN; 96 bytes each plus index), for
    /// the model's failure evidence; the idlest go first.
    pub max_source_keys: usize,
    /// Addresses with a record of bans (24 bytes each plus index); the least
    /// banned go first.
    pub max_offenders: usize,
    /// Distinct user agents whose parse is cached.
    pub max_user_agents: usize,
    /// Distinct values per feature in the global frequencies.
    pub max_frequency_values: usize,
    /// Enforcements listed as in force (a few hundred bytes each), and blocks
    /// from fraud feedback the engine applies; at the cap, expired ones go,
    /// then those ending soonest.
    pub max_enforcements: usize,
    /// Users with fraud marks from feedback (80 bytes each plus index); at the
    /// cap, the users marked longest ago go first.
    pub max_fraud_marked_users: usize,
    /// Recent events (and their decisions) kept per user for the user's event
    /// list and feedback by event id; the oldest goes first.
    pub history_per_user: usize,
    /// Users whose recent events are kept; at the cap, the user whose latest
    /// event is oldest goes.
    pub max_history_users: usize,
    /// How long a user's recent events are kept after their latest one (in
    /// event time), such as `"90d"` (the default); `"off"` keeps them until
    /// the cap pushes them out.
    pub history_max_age: Setting<Option<Duration>>,
    /// Profiles the profile index is sized for at start (0: it grows as
    /// users arrive, doubling, and each doubling copies every key at once:
    /// a pause of a few milliseconds at a million). At most `max_profiles`.
    /// The history's indexes of accounts and event ids are sized for as
    /// many users too (at most `max_history_users`, each with
    /// `history_per_user` ids).
    pub presize_profiles: usize,
    /// Keys each rule's table, each failure-source table and the ban
    /// records are sized for at start (0: grown as needed); at most each
    /// table's cap. Memory for them is taken at once: about 25 bytes per
    /// key per table.
    pub presize_keys: usize,
    /// Event ids remembered (about 26 bytes each) so a redelivered event is
    /// recognised and not decided again; at the cap the oldest is forgotten.
    pub recent_event_ids: usize,
    /// Memory the state may take at worst, such as `"2 GiB"`: at start the
    /// caps above are checked against it (see `palisade::engine::budget` for
    /// how the worst case is reckoned) and a start whose caps could exceed it
    /// is refused. Unset: no check. Exported as `palisade_memory_budget_bytes`.
    pub memory_budget: Setting<Option<bytesize::ByteSize>>,
}

impl Limits {
    /// `limits.memory_budget` in bytes, if set.
    pub fn memory_budget_bytes(&self) -> Option<u64> {
        self.memory_budget.value().map(|b| b.as_u64())
    }

    pub(super) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = SectionProblems::new("limits");
        p.setting("history_max_age", &self.history_max_age)
            .setting("memory_budget", &self.memory_budget);
        for (key, v) in [
            ("max_profiles", self.max_profiles),
            ("max_keys_per_rule", self.max_keys_per_rule),
            ("max_source_keys", self.max_source_keys),
            ("max_offenders", self.max_offenders),
            ("max_user_agents", self.max_user_agents),
            ("max_frequency_values", self.max_frequency_values),
            ("max_enforcements", self.max_enforcements),
            ("max_fraud_marked_users", self.max_fraud_marked_users),
            ("history_per_user", self.history_per_user),
            ("max_history_users", self.max_history_users),
            ("recent_event_ids", self.recent_event_ids),
        ] {
            p.at_least_one(key, v);
        }
        if self.presize_profiles > self.max_profiles {
            p.push(
                "presize_profiles",
                format!(
                    "{} is more than max_profiles ({}): the index is never sized past the cap",
                    self.presize_profiles, self.max_profiles
                ),
            );
        }
        p.out
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_profiles: 10_000_000,
            max_keys_per_rule: 10_000_000,
            max_source_keys: 1_000_000,
            max_offenders: 1_000_000,
            max_user_agents: 100_000,
            max_frequency_values: 1_000_000,
            max_enforcements: 100_000,
            max_fraud_marked_users: 100_000,
            history_per_user: 20,
            max_history_users: 50_000,
            history_max_age: Setting::new(Some(Duration::from_secs(90 * 86_400))),
            recent_event_ids: 1_000_000,
            presize_profiles: 0,
            presize_keys: 0,
            memory_budget: Setting::new(None),
        }
    }
}
