//! The event ids decided lately, so a repeated event (Kafka's at-least-once
//! delivery, a client's retry of `POST /v1/events`, a copy in a replayed
//! log) is recognised and neither changes state nor yields a second
//! decision.
//!
//! Each id is kept as a 64-bit hash of the id and its outcome (an attempt and
//! its outcome share an id but are two events), in a ring that remembers
//! arrival order (at the cap the oldest id is forgotten) and in an
//! open-addressing table of those hashes, linear probing, at most half full,
//! with backward-shift deletion. Its own table, not a `HashSet`, because a
//! door that reads ahead (replay decodes 16 events ahead) can start fetching
//! the slot an id will need while earlier events are decided
//! ([`RecentIds::prefetch`]): a million ids take 16 MiB of table, and
//! without the prefetch every event waited on memory for it. About 24 bytes
//! per id at the cap (26 MB for a million); with a million ids a collision
//! (a new event taken for a repeat) has a chance of about one in 36 million.

use crate::event::Outcome;
use std::collections::VecDeque;
use std::hash::{BuildHasher, Hash, Hasher};

pub struct RecentIds {
    /// The table: hashes, 0 for an empty slot; a power of two long.
    slots: Vec<u64>,
    /// `slots.len()` is `1 << bits`.
    bits: u32,
    order: VecDeque<u64>,
    cap: usize,
    hasher: ahash::RandomState,
    /// Ids forgotten at the cap (not saved).
    evicted: u64,
}

impl RecentIds {
    /// A table with the fixed, public seeds: for tests and offline reads,
    /// never for a door an attacker can send ids to (see [`keyed`](Self::keyed)).
    pub fn new(cap: usize) -> RecentIds {
        RecentIds::keyed(cap, super::keyed::PUBLIC_SEEDS)
    }

    /// A table whose id hashes are keyed by `seeds` (the engine's, from its
    /// secret `hash_key`): an attacker who chooses event ids cannot aim them
    /// at one run of the table, nor make one id pass for another. A
    /// checkpoint's hashes read back under the same key, which the engine
    /// checks before restoring.
    pub fn keyed(cap: usize, seeds: [u64; 4]) -> RecentIds {
        let cap = cap.max(1);
        // At most half full at the cap.
        let bits = (2 * cap).next_power_of_two().trailing_zeros().max(4);
        RecentIds {
            slots: Vec::new(),
            bits,
            order: VecDeque::new(),
            cap,
            hasher: super::keyed::hasher(seeds),
            evicted: 0,
        }
    }

    /// The hash an id and its outcome are kept as (never 0).
    pub fn key(&self, event_id: &str, outcome: Outcome) -> u64 {
        let mut h = self.hasher.build_hasher();
        event_id.hash(&mut h);
        (outcome as u8).hash(&mut h);
        h.finish().max(1)
    }

    /// The table, made at the first insert: an engine that never remembers
    /// an id (the analytics commands' second engine, tests) holds none.
    fn table(&mut self) -> &mut Vec<u64> {
        if self.slots.is_empty() {
            self.slots = vec![0; 1 << self.bits];
        }
        &mut self.slots
    }

    #[inline]
    fn home(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - self.bits)) as usize
    }

    /// Where `key` is, or the empty slot where it would go.
    #[inline]
    fn probe(&self, key: u64) -> (usize, bool) {
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            match self.slots[i] {
                0 => return (i, false),
                k if k == key => return (i, true),
                _ => i = (i + 1) & mask,
            }
        }
    }

    pub fn contains(&self, event_id: &str, outcome: Outcome) -> bool {
        self.contains_key(self.key(event_id, outcome))
    }

    #[inline]
    pub fn contains_key(&self, key: u64) -> bool {
        !self.slots.is_empty() && self.probe(key).1
    }

    /// Starts fetching the slot `key` is looked up in, and the one the id
    /// `ahead` inserts from now will push out: both miss the cache for most
    /// events. A hint only; nothing is read.
    #[inline]
    pub fn prefetch(&self, key: u64, ahead: usize) {
        if self.slots.is_empty() {
            return;
        }
        crate::state::prefilter::prefetch(&self.slots[self.home(key)]);
        if self.order.len() + ahead >= self.cap {
            let out = self.order.len() + ahead - self.cap;
            if let Some(&old) = self.order.get(out) {
                crate::state::prefilter::prefetch(&self.slots[self.home(old)]);
            }
        }
    }

    /// Remembers the id; `false` when it was already remembered.
    pub fn insert(&mut self, event_id: &str, outcome: Outcome) -> bool {
        self.insert_key(self.key(event_id, outcome))
    }

    /// [`insert`](Self::insert) of a [`key`](Self::key).
    pub fn insert_key(&mut self, key: u64) -> bool {
        self.table();
        let (i, found) = self.probe(key);
        if found {
            return false;
        }
        self.slots[i] = key;
        self.order.push_back(key);
        if self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.remove(old);
                self.evicted += 1;
            }
        }
        true
    }

    /// Takes `key` out of the table, moving back the keys after it that
    /// would no longer be found (backward-shift deletion).
    fn remove(&mut self, key: u64) {
        let (mut hole, found) = self.probe(key);
        if !found {
            return;
        }
        let mask = self.slots.len() - 1;
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let k = self.slots[j];
            if k == 0 {
                break;
            }
            // `k` may fill the hole unless its home lies cyclically in
            // (hole, j]: then it is already as near its home as it can be.
            let home = self.home(k);
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.slots[hole] = k;
                hole = j;
            }
        }
        self.slots[hole] = 0;
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Bytes the table and the ring hold, by capacity.
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * 8 + self.order.capacity() * 8
    }

    /// Bytes `cap` ids take at most: the table and the ring.
    pub fn worst_bytes(cap: usize) -> usize {
        let cap = cap.max(1);
        // The ring holds one more than the cap for a moment, and a
        // `VecDeque` grows by doubling from 4.
        (2 * cap).next_power_of_two().max(16) * 8 + (cap + 1).next_power_of_two().max(4) * 8
    }

    /// Ids forgotten at the cap so far.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// The remembered ids' hashes, oldest first: what a checkpoint holds.
    pub fn hashes(&self) -> &VecDeque<u64> {
        &self.order
    }

    /// Remembers hashes from [`hashes`](Self::hashes), oldest first; past the
    /// cap the oldest are forgotten as at an insert.
    pub fn restore_hashes(&mut self, hashes: impl IntoIterator<Item = u64>) {
        // Not evictions of the running process.
        let evicted = self.evicted;
        for key in hashes {
            self.insert_key(key.max(1));
        }
        self.evicted = evicted;
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_known_per_outcome_until_pushed_out_by_newer_ones() {
        let mut r = RecentIds::new(3);
        assert!(r.insert("a", Outcome::Attempt));
        assert!(
            !r.insert("a", Outcome::Attempt),
            "the second time is a redelivery"
        );
        assert!(
            r.insert("a", Outcome::Failure),
            "the outcome of an attempt is its own event"
        );
        assert!(r.insert("b", Outcome::Success));
        assert!(r.contains("a", Outcome::Attempt));
        assert!(r.insert("c", Outcome::Success));
        assert_eq!(r.len(), 3);
        assert!(
            !r.contains("a", Outcome::Attempt),
            "the oldest went at the cap"
        );
        assert!(r.contains("a", Outcome::Failure));
        assert!(r.contains("c", Outcome::Success));
        assert_eq!(r.evicted(), 1, "one id forgotten at the cap");
    }

    /// The table against a plain model (a set and the arrival order) under
    /// many inserts into a small table, where probe runs wrap around its end
    /// and deletions shift keys back.
    #[test]
    fn the_table_agrees_with_a_set_under_wrapping_and_deletion() {
        use std::collections::HashSet;
        for cap in [1, 3, 7, 8, 20] {
            let mut r = RecentIds::new(cap);
            let mut set = HashSet::new();
            let mut order = VecDeque::new();
            let mut x: u64 = 0x2545_f491_4f6c_dd1d ^ cap as u64;
            for step in 0..20_000 {
                // xorshift; a small key space, so keys come back.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let key = (x % (3 * cap as u64 + 5)) + 1;
                let fresh = set.insert(key);
                if fresh {
                    order.push_back(key);
                    if order.len() > cap {
                        set.remove(&order.pop_front().unwrap());
                    }
                }
                assert_eq!(r.insert_key(key), fresh, "cap {cap}, step {step}");
                assert_eq!(r.len(), set.len());
                for k in 1..=(3 * cap as u64 + 5) {
                    assert_eq!(
                        r.contains_key(k),
                        set.contains(&k),
                        "cap {cap} step {step} key {k}"
                    );
                }
            }
            let filled = r.slots.iter().filter(|&&k| k != 0).count();
            assert_eq!(filled, set.len(), "no stale slot left behind");
            assert!(r.heap_bytes() <= RecentIds::worst_bytes(cap));
        }
    }

    #[test]
    fn hashes_restore_in_order_without_counting_evictions() {
        let mut r = RecentIds::new(2);
        for id in ["a", "b", "c"] {
            r.insert(id, Outcome::Success);
        }
        let mut back = RecentIds::new(2);
        back.restore_hashes(r.hashes().iter().copied());
        assert_eq!(back.hashes(), r.hashes());
        assert_eq!(back.evicted(), 0);
        assert!(back.contains("c", Outcome::Success) && !back.contains("a", Outcome::Success));
    }
}
