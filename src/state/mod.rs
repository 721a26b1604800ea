//! What earlier events taught: per-user profiles, keyed leaky buckets, the
//! global frequencies the risk model compares a user against, fraud marks from
//! feedback, and the recent events of each user. Every structure here is
//! bounded (a cap and an age) and sized in bytes for the metrics.

pub mod budget;
pub mod checkpoint;
pub mod fraud;
pub mod frequency;
pub mod history;
pub mod journal;
pub mod limiter;
pub mod profile;
pub mod recent_ids;
pub mod sources;

/// Entries a structure let go since the process started (not saved in
/// checkpoints), by why: to stay within its cap, or because they aged out
/// (idle past the structure's horizon, or expired). Cap evictions in a
/// steady stream mean the cap is what bounds the structure: under an attack,
/// expected; in quiet times, a cap set too low.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evictions {
    pub cap: u64,
    pub age: u64,
}

impl std::ops::AddAssign for Evictions {
    fn add_assign(&mut self, other: Evictions) {
        self.cap += other.cap;
        self.age += other.age;
    }
}

/// `map.retain(keep)`, returning how many entries it dropped.
pub fn retain_counted<K, V, S>(
    map: &mut std::collections::HashMap<K, V, S>,
    keep: impl FnMut(&K, &mut V) -> bool,
) -> u64 {
    let before = map.len();
    map.retain(keep);
    (before - map.len()) as u64
}
