//! Global frequencies: how often each value of a feature appears across all
//! allowed successful sign-ins. The risk model's "attacker" side reads them, so a
//! value common everywhere is less alarming than a rare one.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// Counts per value of one feature, capped at `max_values` distinct values
/// (further new values count towards the total only, so they stay "rare").
/// A checkpoint holds the counts; the cap is configuration and not written.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Frequencies {
    counts: FxHashMap<u32, u32>,
    total: u64,
    #[serde(skip)]
    max_values: usize,
}

impl Frequencies {
    pub fn new(max_values: usize) -> Frequencies {
        Frequencies {
            max_values,
            ..Default::default()
        }
    }

    pub fn observe(&mut self, id: u32) {
        self.total += 1;
        if let Some(c) = self.counts.get_mut(&id) {
            *c = c.saturating_add(1);
        } else if self.counts.len() < self.max_values {
            self.counts.insert(id, 1);
        }
    }

    /// (count of `id`, total observations, distinct values known).
    pub fn get(&self, id: u32) -> (u32, u64, usize) {
        (
            self.counts.get(&id).copied().unwrap_or(0),
            self.total,
            self.counts.len(),
        )
    }

    /// Distinct values counted.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    pub fn heap_bytes(&self) -> usize {
        self.counts.capacity() * 9
    }

    /// Takes the counts of `saved` (a checkpoint's), keeping this cap.
    pub fn restore_from(&mut self, saved: Frequencies) {
        self.counts = saved.counts;
        self.total = saved.total;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_until_the_cap_then_only_the_total() {
        let mut f = Frequencies::new(2);
        for id in [1, 1, 2, 3, 3] {
            f.observe(id);
        }
        assert_eq!(f.get(1), (2, 5, 2));
        assert_eq!(f.get(3), (0, 5, 2));
    }
}
