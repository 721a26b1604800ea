//! A bit per key hash in front of a large table: most events' keys are not in
//! the tables of failing sources or failing users, and a bit array small
//! enough to stay in the processor's cache says so without a probe that
//! misses it. A set bit may be another key's (a false positive costs the
//! probe it would have cost anyway); a key in the table always has its bit.

/// Bits per filter: 2^22, 512 KiB.
const BITS_LOG2: u32 = 22;

/// Asks the processor to fetch `value`'s memory into cache without waiting
/// for it. An event's keys are known before its tables are read: the fetches
/// of its filters and profile, started together, arrive while the rules run,
/// not one after another.
#[inline]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        // Every 64-byte line the value touches, its last included.
        let start: *const u8 = (value as *const T).cast();
        let size = std::mem::size_of::<T>().max(1);
        let lines = (start as usize % 64 + size).div_ceil(64);
        for line in 0..lines {
            // SAFETY: a prefetch is only a hint: it reads nothing into the
            // program and cannot fault. The address may lie past `value`'s
            // end within its last line (`wrapping_add`: not dereferenced).
            unsafe {
                use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(line * 64).cast());
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

#[derive(Debug, Clone)]
pub struct Prefilter {
    words: Box<[u64]>,
    /// Keys inserted since the bits were last rebuilt from the table: past
    /// an eighth of the bits, and past as many as the rebuild set, stale
    /// bits (of keys since removed) are cleared by a rebuild. The second
    /// bound keeps rebuilds of a large table rare: each reads every key, so
    /// one per insert once the table passed an eighth of the bits (as
    /// before, with a million failing sources) made each insert cost the
    /// whole table.
    inserted: usize,
    /// Keys set by the last rebuild.
    rebuilt_with: usize,
}

impl Default for Prefilter {
    fn default() -> Prefilter {
        Prefilter {
            words: vec![0; 1 << (BITS_LOG2 - 6)].into_boxed_slice(),
            inserted: 0,
            rebuilt_with: 0,
        }
    }
}

impl Prefilter {
    /// Bytes it holds.
    pub const BYTES: usize = 1 << (BITS_LOG2 - 3);

    #[inline]
    fn slot(key: u64) -> (usize, u64) {
        let h = key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - BITS_LOG2);
        ((h >> 6) as usize, 1 << (h & 63))
    }

    /// Whether the key may be in the table; `false` means it is not.
    #[inline]
    pub fn may_contain(&self, key: u64) -> bool {
        let (w, bit) = Prefilter::slot(key);
        self.words[w] & bit != 0
    }

    /// Starts fetching the key's bit into cache (see [`prefetch`]).
    #[inline]
    pub fn prefetch(&self, key: u64) {
        let (w, _) = Prefilter::slot(key);
        prefetch(&self.words[w]);
    }

    /// Marks a key added to the table. `true` when enough keys came since
    /// the last rebuild that the caller should rebuild now: an eighth of
    /// the bits, and at least as many as the rebuild set, so that a rebuild
    /// (which reads every key) costs a constant per insert however large the
    /// table.
    #[inline]
    pub fn insert(&mut self, key: u64) -> bool {
        let (w, bit) = Prefilter::slot(key);
        if self.words[w] & bit == 0 {
            self.words[w] |= bit;
            self.inserted += 1;
        }
        self.inserted > Prefilter::BYTES.max(self.rebuilt_with)
    }

    /// Sets exactly the bits of `keys` (the table's keys, after removals).
    pub fn rebuild(&mut self, keys: impl Iterator<Item = u64>) {
        self.words.fill(0);
        self.inserted = 0;
        for k in keys {
            self.insert(k);
        }
        self.rebuilt_with = std::mem::take(&mut self.inserted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let mut f = Prefilter::default();
        let keys: Vec<u64> = (0..100_000u64)
            .map(|i| i.wrapping_mul(0x2545_f491_4f6c_dd1d))
            .collect();
        for &k in &keys {
            f.insert(k);
        }
        assert!(keys.iter().all(|&k| f.may_contain(k)));
        let others = (100_000..200_000u64)
            .map(|i| i.wrapping_mul(0x2545_f491_4f6c_dd1d))
            .filter(|&k| f.may_contain(k))
            .count();
        // 100,000 keys in 4,194,304 bits: about 2.4% of other keys collide.
        assert!(others < 4_000, "{others} false positives");
        f.rebuild(keys[..10].iter().copied());
        assert!(keys[..10].iter().all(|&k| f.may_contain(k)));
        let stale = keys[10..].iter().filter(|&&k| f.may_contain(k)).count();
        assert!(
            stale < 10,
            "a rebuild clears the removed keys' bits: {stale}"
        );
    }

    #[test]
    fn asks_for_a_rebuild_once_an_eighth_of_the_bits_came_in() {
        let mut f = Prefilter::default();
        let mut asked = None;
        for i in 0..1_000_000u64 {
            if f.insert(i.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17)) {
                asked = Some(i);
                break;
            }
        }
        let at = asked.expect("asked") as usize;
        assert!(at > Prefilter::BYTES && at < Prefilter::BYTES * 2, "{at}");
    }

    /// A table far past an eighth of the bits (3,000,000 keys, as a cap of
    /// millions allows) is rebuilt a few times as it grows, not at every
    /// insert.
    #[test]
    fn rebuilds_of_a_growing_table_stay_rare() {
        let mut f = Prefilter::default();
        let mut keys = Vec::new();
        let mut rebuilds = 0;
        for i in 0..3_000_000u64 {
            let k = i.wrapping_mul(0x2545_f491_4f6c_dd1d);
            keys.push(k);
            if f.insert(k) {
                rebuilds += 1;
                assert!(rebuilds <= 8, "rebuilt {rebuilds} times by key {i}");
                f.rebuild(keys.iter().copied());
            }
        }
        assert!(rebuilds >= 1, "never asked for a rebuild");
        assert!(keys.iter().all(|&k| f.may_contain(k)));
    }
}
