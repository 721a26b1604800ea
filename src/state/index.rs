//! The profile store's index: 64-bit user keys to 32-bit profile numbers, in
//! buckets of one 64-byte cache line. A key's home bucket follows from the key
//! alone, so the line can be fetched ahead ([`KeyIndex::prefetch`]) while the
//! engine does other work, and a lookup then reads that one line. A SwissTable
//! (hashbrown, the standard map) offers no such hint, and a lookup in one too
//! large for the cache misses twice in a row: its control bytes, then its
//! entry.
//!
//! Buckets hold [`SLOTS`] entries; a key whose home bucket is full goes to the
//! next bucket with room (linear probing by bucket). Keys are never removed
//! one at a time, only by [`KeyIndex::retain`], which rebuilds, so a lookup
//! may stop at the first bucket with room. At most [`LOAD`] of the slots are
//! used: in the tables this is sized for, about nine keys in ten sit in their
//! home bucket.

/// Entries per bucket: five keys and their numbers fill a 64-byte line.
const SLOTS: usize = 5;
/// The share of slots in use past which the table doubles.
const LOAD: (usize, usize) = (3, 4);
/// Buckets in the smallest table.
const MIN_BUCKETS: usize = 8;

/// Bytes per key at worst, in a large table that has just doubled (half of
/// [`LOAD`] of its slots in use): for the memory budget.
pub const WORST_BYTES_PER_KEY: f64 =
    std::mem::size_of::<Bucket>() as f64 / (SLOTS as f64 * LOAD.0 as f64 / LOAD.1 as f64 / 2.0);

#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(64))]
struct Bucket {
    keys: [u64; SLOTS],
    values: [u32; SLOTS],
    /// Slots in use, the first `len`.
    len: u32,
}

const _: () = assert!(std::mem::size_of::<Bucket>() == 64);

impl Bucket {
    fn find(&self, key: u64) -> Option<usize> {
        (0..self.len as usize).find(|&s| self.keys[s] == key)
    }

    fn full(&self) -> bool {
        self.len as usize == SLOTS
    }
}

/// User keys to profile numbers; see the module's text.
#[derive(Debug, Clone, Default)]
pub struct KeyIndex {
    /// A power of two of them, or none before the first insert.
    buckets: Vec<Bucket>,
    len: usize,
    /// Buckets [`KeyIndex::presize`] asked for: a rebuild keeps at least
    /// these, so a table sized ahead never shrinks to grow again.
    floor: usize,
}

impl KeyIndex {
    /// An index with room for `n` keys before it grows.
    pub fn with_capacity(n: usize) -> KeyIndex {
        KeyIndex {
            buckets: vec![Bucket::default(); buckets_for(n)],
            len: 0,
            floor: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held by the buckets.
    pub fn heap_bytes(&self) -> usize {
        self.buckets.capacity() * std::mem::size_of::<Bucket>()
    }

    /// The bucket a key's search starts at: the high bits of a Fibonacci
    /// product (every bit of the key counts, whatever made it).
    #[inline]
    fn home(&self, key: u64) -> usize {
        let bits = self.buckets.len().trailing_zeros();
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize
    }

    /// Where `key` is: its bucket and slot.
    #[inline]
    fn locate(&self, key: u64) -> Option<(usize, usize)> {
        if self.buckets.is_empty() {
            return None;
        }
        let mask = self.buckets.len() - 1;
        let mut b = self.home(key);
        // Ends: the table is never full, so some bucket has room.
        loop {
            let bucket = &self.buckets[b];
            if let Some(s) = bucket.find(key) {
                return Some((b, s));
            }
            if !bucket.full() {
                return None;
            }
            b = (b + 1) & mask;
        }
    }

    #[inline]
    pub fn get(&self, key: u64) -> Option<u32> {
        self.locate(key).map(|(b, s)| self.buckets[b].values[s])
    }

    pub fn contains_key(&self, key: u64) -> bool {
        self.locate(key).is_some()
    }

    /// Starts fetching the line [`KeyIndex::get`] of `key` reads first.
    #[inline]
    pub fn prefetch(&self, key: u64) {
        if !self.buckets.is_empty() {
            crate::state::prefilter::prefetch(&self.buckets[self.home(key)]);
        }
    }

    /// Maps `key` to `value`, replacing what it was mapped to.
    pub fn insert(&mut self, key: u64, value: u32) {
        if let Some((b, s)) = self.locate(key) {
            self.buckets[b].values[s] = value;
            return;
        }
        self.reserve(1);
        self.place(key, value);
        self.len += 1;
    }

    /// Puts a key known to be absent in the first bucket with room.
    fn place(&mut self, key: u64, value: u32) {
        let mask = self.buckets.len() - 1;
        let mut b = self.home(key);
        while self.buckets[b].full() {
            b = (b + 1) & mask;
        }
        let bucket = &mut self.buckets[b];
        let s = bucket.len as usize;
        bucket.keys[s] = key;
        bucket.values[s] = value;
        bucket.len += 1;
    }

    /// Makes room for `more` keys beyond those held.
    pub fn reserve(&mut self, more: usize) {
        let want = self.len.saturating_add(more);
        if buckets_for(want) > self.buckets.len() {
            self.rebuild(buckets_for(want), |_, _| true);
        }
    }

    /// Sizes the table for `n` keys now, once, and keeps it at least that
    /// large: it will not double (copying every key at once) until it holds
    /// more.
    pub fn presize(&mut self, n: usize) {
        self.floor = buckets_for(n);
        self.reserve(n.saturating_sub(self.len));
    }

    /// Keeps the keys `keep` says to, in the order [`KeyIndex::iter`] gives
    /// them; `keep` may change a kept key's number. It rebuilds the table
    /// anyway, so the table shrinks to the smallest that holds what stays
    /// (and no smaller than [`KeyIndex::presize`] asked).
    pub fn retain(&mut self, keep: impl FnMut(u64, &mut u32) -> bool) {
        self.rebuild(self.floor.max(MIN_BUCKETS), keep);
    }

    /// The table again, with `buckets` buckets (more if the kept keys need
    /// them) and the keys `keep` says to.
    fn rebuild(&mut self, buckets: usize, mut keep: impl FnMut(u64, &mut u32) -> bool) {
        let old = std::mem::take(&mut self.buckets);
        let mut kept = Vec::with_capacity(self.len);
        for bucket in &old {
            for s in 0..bucket.len as usize {
                let mut value = bucket.values[s];
                if keep(bucket.keys[s], &mut value) {
                    kept.push((bucket.keys[s], value));
                }
            }
        }
        drop(old);
        self.buckets = vec![Bucket::default(); buckets.max(buckets_for(kept.len()))];
        self.len = kept.len();
        for (key, value) in kept {
            self.place(key, value);
        }
    }

    /// Every key and its number, in bucket order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.buckets
            .iter()
            .flat_map(|b| (0..b.len as usize).map(move |s| (b.keys[s], b.values[s])))
    }
}

/// The buckets a table of `n` keys needs: a power of two, with at most
/// [`LOAD`] of the slots in use.
fn buckets_for(n: usize) -> usize {
    let slots = n.saturating_mul(LOAD.1).div_ceil(LOAD.0);
    slots
        .div_ceil(SLOTS)
        .max(MIN_BUCKETS)
        .checked_next_power_of_two()
        .unwrap_or(1 << (usize::BITS - 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn holds_what_a_map_holds_as_it_grows_and_shrinks_when_keys_go() {
        let mut index = KeyIndex::default();
        let mut map = HashMap::new();
        assert_eq!(index.get(7), None);
        // Keys that share their high bits crowd into few home buckets: the
        // probing past full buckets is exercised, not only the home case.
        for i in 0..50_000u64 {
            let key = if i % 3 == 0 {
                i << 40
            } else {
                i.wrapping_mul(0x2545_F491_4F6C_DD1D)
            };
            index.insert(key, i as u32);
            map.insert(key, i as u32);
        }
        assert_eq!(index.len(), map.len());
        for (&k, &v) in &map {
            assert_eq!(index.get(k), Some(v), "key {k:#x}");
        }
        assert_eq!(index.get(u64::MAX - 1), None);
        // Replacing keeps one entry.
        let (&k, _) = map.iter().next().unwrap();
        index.insert(k, 9);
        assert_eq!((index.get(k), index.len()), (Some(9), map.len()));
        map.insert(k, 9);

        let grown = index.heap_bytes();
        index.retain(|k, v| {
            *v += 1;
            k % 10 == 0
        });
        map.retain(|k, _| k % 10 == 0);
        assert!(
            index.heap_bytes() < grown / 4,
            "{} of {grown}",
            index.heap_bytes()
        );
        assert_eq!(index.len(), map.len());
        let mut held: Vec<_> = index.iter().collect();
        held.sort_unstable();
        let mut want: Vec<_> = map.iter().map(|(&k, &v)| (k, v + 1)).collect();
        want.sort_unstable();
        assert_eq!(held, want);
    }

    #[test]
    fn a_presized_index_neither_grows_while_filling_nor_shrinks_after_a_retain() {
        let mut index = KeyIndex::default();
        index.presize(100_000);
        let sized = index.heap_bytes();
        assert!(sized >= buckets_for(100_000) * 64, "{sized}");
        for k in 0..100_000u64 {
            index.insert(k.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1, k as u32);
        }
        assert_eq!(
            index.heap_bytes(),
            sized,
            "no doubling up to the presized count"
        );
        index.retain(|_, v| *v < 10);
        assert_eq!(index.len(), 10);
        assert_eq!(index.heap_bytes(), sized, "kept at the presized size");
        for k in 0..10u64 {
            assert_eq!(
                index.get(k.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
                Some(k as u32)
            );
        }
        // Not presized: a retain shrinks it to fit.
        let mut plain = KeyIndex::default();
        for k in 0..100_000u64 {
            plain.insert(k | 1 << 40, k as u32);
        }
        plain.retain(|_, v| *v < 10);
        assert!(plain.heap_bytes() < sized / 100, "{}", plain.heap_bytes());
    }

    #[test]
    fn stays_within_its_load_and_mostly_home() {
        let mut index = KeyIndex::default();
        for i in 0..100_000u64 {
            index.insert(i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i << 7), i as u32);
        }
        let slots = index.buckets.len() * SLOTS;
        assert!(index.len() * LOAD.1 <= slots * LOAD.0);
        let home = index
            .buckets
            .iter()
            .enumerate()
            .flat_map(|(b, bucket)| {
                bucket.keys[..bucket.len as usize]
                    .iter()
                    .map(move |&k| (b, k))
            })
            .filter(|&(b, k)| index.home(k) == b)
            .count();
        assert!(
            home * 10 >= index.len() * 8,
            "{home} of {} at home",
            index.len()
        );
    }

    proptest! {
        #[test]
        fn agrees_with_a_map(ops in proptest::collection::vec((0u64..64, any::<u32>(), 0u8..10), 0..400)) {
            let mut index = KeyIndex::default();
            let mut map = HashMap::new();
            for (key, value, op) in ops {
                // Few distinct keys, spread over the whole range: many
                // replacements, some crowding.
                let key = key.wrapping_mul(0x0100_0000_0000_0001).rotate_left(value % 64);
                match op {
                    0 => {
                        index.retain(|k, _| k % 2 == 0);
                        map.retain(|k, _| k % 2 == 0);
                    }
                    1 => index.retain(|_, _| true),
                    _ => {
                        index.insert(key, value);
                        map.insert(key, value);
                    }
                }
                prop_assert_eq!(index.len(), map.len());
                prop_assert_eq!(index.get(key), map.get(&key).copied());
            }
            for (&k, &v) in &map {
                prop_assert_eq!(index.get(k), Some(v));
            }
        }
    }
}
