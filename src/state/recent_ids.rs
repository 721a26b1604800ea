//! The event ids decided lately, so a redelivered event (Kafka's at-least-once
//! delivery, a client's retry of `POST /v1/events`) is recognised and neither
//! changes state nor yields a second decision.
//!
//! Each id is kept as a 64-bit hash of the id and its outcome (an attempt and
//! its outcome share an id but are two events), in a set and in a ring that
//! remembers arrival order: at the cap the oldest id is forgotten. About 26
//! bytes per id; with a million ids a collision (a new event taken for a
//! redelivery) has a chance of about one in 36 million.

use crate::event::Outcome;
use rustc_hash::FxHashSet;
use std::collections::VecDeque;
use std::hash::{BuildHasher, Hash, Hasher};

pub struct RecentIds {
    set: FxHashSet<u64>,
    order: VecDeque<u64>,
    cap: usize,
    hasher: ahash::RandomState,
    /// Ids forgotten at the cap (not saved).
    evicted: u64,
}

impl RecentIds {
    pub fn new(cap: usize) -> RecentIds {
        RecentIds {
            set: FxHashSet::default(),
            order: VecDeque::new(),
            cap: cap.max(1),
            // Fixed seeds: the hashes never leave the process, but a fixed
            // seed keeps runs reproducible.
            hasher: ahash::RandomState::with_seeds(0x7061_6c69, 0x7361_6465, 0x6964_7321, 0x2121),
            evicted: 0,
        }
    }

    fn key(&self, event_id: &str, outcome: Outcome) -> u64 {
        let mut h = self.hasher.build_hasher();
        event_id.hash(&mut h);
        (outcome as u8).hash(&mut h);
        h.finish()
    }

    pub fn contains(&self, event_id: &str, outcome: Outcome) -> bool {
        self.set.contains(&self.key(event_id, outcome))
    }

    /// Remembers the id; `false` when it was already remembered.
    pub fn insert(&mut self, event_id: &str, outcome: Outcome) -> bool {
        let key = self.key(event_id, outcome);
        if !self.set.insert(key) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
                self.evicted += 1;
            }
        }
        true
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Bytes the set and the ring hold, by capacity.
    pub fn heap_bytes(&self) -> usize {
        self.set.capacity() * (std::mem::size_of::<u64>() + 1) + self.order.capacity() * 8
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
        for key in hashes {
            if !self.set.insert(key) {
                continue;
            }
            self.order.push_back(key);
            if self.order.len() > self.cap {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
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
}
