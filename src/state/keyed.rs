//! Hash maps over what an attacker chooses: event ids, user names,
//! enforcement keys. An unkeyed hash (FxHash) lets whoever picks the keys
//! pick colliding ones, and a table of colliding keys makes every lookup a
//! scan: a few thousand crafted event ids would turn the history's id index
//! quadratic. These maps hash with ahash keyed by the engine's secret seeds
//! (from `hash_key`), as the repeated-event table does: fixed for one key, so
//! a run and its replay agree, and unknown to anyone without it.
//! Maps whose keys are already keyed hashes (`u64`) stay on FxHash.

/// A map over attacker-chosen keys; build it with [`hasher`].
pub type KeyedMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;

/// Seeds for tables built without an engine (tests, offline tools): public,
/// so no defence, but fixed.
pub const PUBLIC_SEEDS: [u64; 4] = [0x7061_6c69, 0x7361_6465, 0x6964_7321, 0x2121];

/// The hasher of a [`KeyedMap`] under `seeds`.
pub fn hasher(seeds: [u64; 4]) -> ahash::RandomState {
    ahash::RandomState::with_seeds(seeds[0], seeds[1], seeds[2], seeds[3])
}

/// An empty map under `seeds`.
pub fn map<K, V>(seeds: [u64; 4]) -> KeyedMap<K, V> {
    KeyedMap::with_hasher(hasher(seeds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_key_hashes_apart_under_other_seeds_and_alike_under_the_same() {
        let id = "evt-0001";
        let a = hasher([1, 2, 3, 4]);
        let b = hasher([5, 6, 7, 8]);
        assert_eq!(a.hash_one(id), hasher([1, 2, 3, 4]).hash_one(id));
        assert_ne!(a.hash_one(id), b.hash_one(id));
        // Keys that agree on FxHash's view need not agree here: over many
        // ids, the keyed hash's low bits (the table's bucket) spread.
        let buckets: std::collections::HashSet<u64> = (0..4096)
            .map(|i| a.hash_one(format!("evt-{i}")) & 4095)
            .collect();
        assert!(buckets.len() > 2000, "{} buckets of 4096", buckets.len());
    }
}
