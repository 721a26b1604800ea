//! Keyed leaky buckets: governor's GCRA, driven by event time.
//!
//! governor computes; we own the clock and the state. The clock is the engine's
//! event time (so a replay of last month behaves as last month did), and the state
//! store is a plain map of 64-bit keys to 24-byte slots, so each key costs well
//! under 64 bytes, can be swept when its bucket is empty, and can be capped.

use crate::state::{retain_counted, Evictions};
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::{Quota, RateLimiter};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::hash_map::Entry;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The engine's clock: nanoseconds since the Unix epoch of the event being
/// evaluated. Shared by every bucket; only the engine sets it.
#[derive(Debug, Clone, Default)]
pub struct EventClock(Arc<AtomicU64>);

/// The latest time the clock shows: 2100-01-01T00:00:00Z. Later times are held
/// there, so governor's nanosecond sums (time plus a bucket's whole drain) stay
/// far from overflowing 64 bits. The event decoder rejects later events anyway.
pub const MAX_CLOCK_MILLIS: u64 = 4_102_444_800_000;

impl EventClock {
    pub fn set_millis(&self, ms: u64) {
        self.0
            .store(ms.min(MAX_CLOCK_MILLIS) * 1_000_000, Ordering::Relaxed);
    }

    pub fn now_nanos(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Clock for EventClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::new(self.now_nanos())
    }
}

/// One key's state: governor's theoretical arrival time, and (for `distinct:`
/// rules) 16-bit fingerprints of the last four values the key counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub tat: u64,
    pub seen: u64,
}

/// Bytes of one key's entry in a bucket's table (key and slot).
pub const SLOT_ENTRY_BYTES: usize = std::mem::size_of::<(u64, Slot)>();

#[derive(Debug, Default)]
struct Slots {
    map: Mutex<FxHashMap<u64, Slot>>,
    /// When set, governor's verdict is computed but its new state is dropped:
    /// the "would this overflow?" question an attempt asks.
    dry_run: AtomicBool,
    /// For a `distinct:` count, the value's fingerprint (0 for none): the
    /// store checks and remembers it in the same probe as governor's update.
    fingerprint: AtomicU32,
    /// Set by the store when the fingerprint was among the key's last four:
    /// the count is a repeat, and nothing was stored.
    repeat: AtomicBool,
    /// The map's length after the latest update, for the cap's check.
    len: AtomicUsize,
}

/// The handle governor holds; the bucket keeps another to the same slots.
#[derive(Debug, Clone, Default)]
struct SlotStore(Arc<Slots>);

impl StateStore for SlotStore {
    type Key = u64;

    fn measure_and_replace<T, F, E>(&self, key: &u64, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        // The engine is the only caller and evaluates one event at a time, so
        // the lock is never contended; it exists to keep the engine Send + Sync.
        let mut map = self.0.map.lock().unwrap_or_else(|p| p.into_inner());
        let dry_run = self.0.dry_run.load(Ordering::Relaxed);
        let fp = self.0.fingerprint.load(Ordering::Relaxed) as u16;
        // One probe of the table, whether the key is there or not, for the
        // repeat check, governor's update and the fingerprint.
        let out = match map.entry(*key) {
            Entry::Occupied(mut slot) => {
                let seen = slot.get().seen;
                // A repeat is one whatever governor says: flagged before it is
                // asked, and nothing is stored.
                let repeat = fp != 0 && (0..4).any(|i| (seen >> (16 * i)) as u16 == fp);
                self.0.repeat.store(repeat, Ordering::Relaxed);
                let (out, tat) = f(Some(Nanos::new(slot.get().tat)))?;
                if !repeat && !dry_run {
                    let s = slot.get_mut();
                    s.tat = tat.as_u64();
                    // Only a counted value is remembered: one that overflowed
                    // (the `?` above) overflows again when it comes back.
                    if fp != 0 {
                        s.seen = (seen << 16) | u64::from(fp);
                    }
                }
                out
            }
            Entry::Vacant(place) => {
                let (out, tat) = f(None)?;
                if !dry_run {
                    place.insert(Slot {
                        tat: tat.as_u64(),
                        seen: u64::from(fp),
                    });
                }
                out
            }
        };
        self.0.len.store(map.len(), Ordering::Relaxed);
        Ok(out)
    }
}

/// What counting one event did to its key's bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// Counted; the bucket has room.
    Counted,
    /// A distinct-value bucket had already counted this value.
    Repeat,
    /// The bucket is full: this event overflows it.
    Overflow,
}

/// A family of leaky buckets, one per key, all with the same capacity and leak.
pub struct KeyedBucket {
    limiter: RateLimiter<u64, SlotStore, BucketClock, NoOpMiddleware<Nanos>>,
    slots: Arc<Slots>,
    clock: EventClock,
    capacity: u32,
    leak: Duration,
    max_keys: usize,
    next_sweep_nanos: u64,
    evicted: Evictions,
    /// Keys the table was sized for ([`KeyedBucket::presize`]): a sweep
    /// does not shrink it below them.
    floor: usize,
}

impl KeyedBucket {
    /// `capacity` counted events fill the bucket (the filling one overflows);
    /// it leaks one every `leak`. Needs `capacity >= 2` and a non-zero leak,
    /// which the rule compiler checks.
    pub fn new(capacity: u32, leak: Duration, clock: EventClock, max_keys: usize) -> KeyedBucket {
        let burst = NonZeroU32::new(capacity.saturating_sub(1).max(1)).expect("max(1) is non-zero");
        let quota = Quota::with_period(leak.max(Duration::from_nanos(1)))
            .expect("period is non-zero")
            .allow_burst(burst);
        let store = SlotStore::default();
        let slots = store.0.clone();
        let bucket_clock = BucketClock {
            shared: clock.clone(),
            started: AtomicBool::new(false),
        };
        let limiter = RateLimiter::new(quota, store, bucket_clock);
        let max_keys = max_keys.max(1);
        KeyedBucket {
            limiter,
            slots,
            clock,
            capacity,
            leak,
            max_keys,
            next_sweep_nanos: 0,
            evicted: Evictions::default(),
            floor: 0,
        }
    }

    /// Sizes the table for `n` keys (at most the cap) now, so it does not
    /// grow (rehashing every key at once) until it holds more, and keeps it
    /// at least that large.
    pub fn presize(&mut self, n: usize) {
        self.floor = n.min(self.max_keys);
        let mut map = self.slots.map.lock().unwrap_or_else(|p| p.into_inner());
        let more = self.floor.saturating_sub(map.len());
        map.reserve(more);
    }

    /// Counts one event for `key`; with `value`, only a value that is not among
    /// the last four values this key counted. Four is what fits the 8 bytes a
    /// slot spares: one user retrying, or a few users behind one NAT taking
    /// turns, do not add up, while a run of new values always does.
    pub fn count(&mut self, key: u64, value: Option<u64>) -> Fill {
        let fp = value.map_or(0, |v| (v >> 48) as u16 | 1); // never 0, which marks an empty place
        self.slots
            .fingerprint
            .store(u32::from(fp), Ordering::Relaxed);
        self.slots.repeat.store(false, Ordering::Relaxed);
        let overflow = self.limiter.check_key(&key).is_err();
        self.slots.fingerprint.store(0, Ordering::Relaxed);
        if self.slots.repeat.load(Ordering::Relaxed) {
            return Fill::Repeat;
        }
        let fill = if overflow {
            Fill::Overflow
        } else {
            Fill::Counted
        };
        self.maybe_sweep();
        fill
    }

    /// Whether counting one more event for `key` now would overflow, without
    /// counting it.
    pub fn would_overflow(&self, key: u64) -> bool {
        self.slots.dry_run.store(true, Ordering::Relaxed);
        let full = self.limiter.check_key(&key).is_err();
        self.slots.dry_run.store(false, Ordering::Relaxed);
        full
    }

    /// Takes `n` counted events back out of the key's bucket, as if they had
    /// leaked: a success from a shared source paying back its crowd's
    /// failures. An emptied bucket goes at the next sweep.
    pub fn drain(&mut self, key: u64, n: u32) {
        let mut map = self.slots.map.lock().unwrap_or_else(|p| p.into_inner());
        // Most successes come from keys with nothing to drain.
        if let Some(s) = map.get_mut(&key) {
            let back = u64::try_from(self.leak.as_nanos())
                .unwrap_or(u64::MAX)
                .saturating_mul(u64::from(n));
            s.tat = s.tat.saturating_sub(back).max(self.clock.now_nanos());
        }
    }

    /// Empties the key's bucket (a success for a key that includes the user).
    pub fn reset(&mut self, key: u64) {
        self.slots
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
    }

    pub fn len(&self) -> usize {
        self.slots
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn evictions(&self) -> Evictions {
        self.evicted
    }

    /// Bytes the slots take, counting the map's empty buckets too.
    pub fn heap_bytes(&self) -> usize {
        let map = self.slots.map.lock().unwrap_or_else(|p| p.into_inner());
        map.capacity() * (std::mem::size_of::<(u64, Slot)>() + 1)
    }

    /// A key whose theoretical arrival time has passed holds an empty bucket:
    /// indistinguishable from a fresh one, so it can go (governor's
    /// `retain_recent`). Sweeps once per full drain time of event time; past the
    /// key cap, the emptiest buckets go first.
    ///
    /// The cap is also checked on every call: a flood of new keys within one
    /// drain time (a spray from millions of addresses) is swept as soon as it
    /// passes the cap by a tenth (at least 64 keys), so at no instant does a
    /// rule hold more than `max_keys + max(max_keys / 10, 64)` keys. Each such
    /// sweep frees a fifth of the cap, so its O(n) cost is spread over that
    /// many new keys.
    fn maybe_sweep(&mut self) {
        let now = self.clock.now_nanos();
        if now < self.next_sweep_nanos {
            let ceiling = self.max_keys + (self.max_keys / 10).max(64);
            // The length the count just left, read without the lock.
            if self.slots.len.load(Ordering::Relaxed) > ceiling {
                self.sweep(now);
            }
            return;
        }
        let drain = self
            .leak
            .saturating_mul(self.capacity)
            .clamp(Duration::from_secs(60), Duration::from_secs(86_400));
        self.next_sweep_nanos = now.saturating_add(drain.as_nanos() as u64);
        self.sweep(now);
    }

    /// Drops every empty bucket, then, if more than `max_keys` remain, the
    /// emptiest until 90% of the cap is left.
    pub fn sweep(&mut self, now_nanos: u64) {
        let mut map = self.slots.map.lock().unwrap_or_else(|p| p.into_inner());
        self.evicted.age += retain_counted(&mut map, |_, s| s.tat > now_nanos);
        if map.len() > self.max_keys {
            let keep = self.max_keys - self.max_keys / 10;
            let mut tats: Vec<u64> = map.values().map(|s| s.tat).collect();
            let cut = tats.len() - keep;
            let (_, threshold, _) = tats.select_nth_unstable(cut);
            let threshold = *threshold;
            // Keys tied at the threshold are kept only while there is room, so
            // a flood counted at one instant cannot hold the cap open.
            let mut room = keep - tats.iter().filter(|&&t| t > threshold).count();
            self.evicted.cap += retain_counted(&mut map, |_, s| {
                if s.tat > threshold {
                    return true;
                }
                if s.tat == threshold && room > 0 {
                    room -= 1;
                    return true;
                }
                false
            });
        }
        // Shrunk only when mostly empty, and to twice what stays: shrinking
        // to fit after every sweep rehashed the whole table, and the next
        // keys grew it again, two pauses a sweep for a table of a million.
        if map.len() < map.capacity() / 4 {
            let keep = self.floor.max(map.len() * 2);
            map.shrink_to(keep);
        }
    }
}

/// The clock one bucket's limiter holds. governor takes its reference instant
/// from the clock's first reading, at construction; that reading is the epoch, so
/// slot times are absolute nanoseconds and do not depend on when a rule loaded.
#[derive(Debug)]
struct BucketClock {
    shared: EventClock,
    started: AtomicBool,
}

impl Clock for BucketClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        // A plain load on every reading after the first, not a swap.
        if self.started.load(Ordering::Relaxed) || self.started.swap(true, Ordering::Relaxed) {
            self.shared.now()
        } else {
            Nanos::new(0)
        }
    }
}

/// What a checkpoint holds of a bucket family: the slots and when it sweeps
/// next. Capacity, leak and cap come from the rule.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct BucketState {
    pub slots: FxHashMap<u64, Slot>,
    pub next_sweep_nanos: u64,
}

#[derive(Serialize)]
struct BucketStateRef<'a> {
    slots: &'a FxHashMap<u64, Slot>,
    next_sweep_nanos: u64,
}

impl KeyedBucket {
    /// Serializes the bucket's [`BucketState`] without copying its slots.
    pub fn serialize_state<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let map = self.slots.map.lock().unwrap_or_else(|p| p.into_inner());
        BucketStateRef {
            slots: &map,
            next_sweep_nanos: self.next_sweep_nanos,
        }
        .serialize(s)
    }

    /// Takes a checkpoint's state, keeping this rule's capacity, leak and cap.
    pub fn restore_state(&mut self, saved: BucketState) {
        *self.slots.map.lock().unwrap_or_else(|p| p.into_inner()) = saved.slots;
        self.next_sweep_nanos = saved.next_sweep_nanos;
    }
}

impl KeyedBucket {
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    pub fn leak(&self) -> Duration {
        self.leak
    }
}

#[cfg(test)]
mod presize_tests {
    use super::*;

    fn bucket() -> KeyedBucket {
        KeyedBucket::new(5, Duration::from_secs(60), EventClock::default(), 1_000_000)
    }

    fn capacity(b: &KeyedBucket) -> usize {
        b.slots.map.lock().unwrap().capacity()
    }

    #[test]
    fn a_presized_table_keeps_its_room_through_sweeps_and_a_plain_one_shrinks_once_mostly_empty() {
        let mut sized = bucket();
        sized.presize(50_000);
        let room = capacity(&sized);
        assert!(room >= 50_000, "{room}");
        for k in 0..50_000u64 {
            sized.count(k, None);
        }
        assert_eq!(sized.len(), 50_000);
        assert_eq!(capacity(&sized), room, "filled without growing");
        sized.sweep(u64::MAX);
        assert_eq!(sized.len(), 0);
        assert_eq!(capacity(&sized), room, "a sweep keeps the presized room");

        let mut plain = bucket();
        for k in 0..50_000u64 {
            plain.count(k, None);
        }
        let grown = capacity(&plain);
        // Most keys still live: no shrink, so no rehash to grow again.
        plain.sweep(0);
        assert_eq!(capacity(&plain), grown);
        plain.sweep(u64::MAX);
        assert!(
            capacity(&plain) < grown / 4,
            "{} of {grown}",
            capacity(&plain)
        );
    }
}
