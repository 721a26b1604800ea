//! Properties of the keyed leaky bucket (`state::limiter::KeyedBucket`) on a fake
//! event-time clock: the capacity semantics ("the event that fills it
//! overflows"), leaking one event per `leak`, the exact GCRA bound on counted
//! events in any window, `would_overflow` as a pure question, distinct counting,
//! `reset`, `sweep` (drops only empty buckets, holds the key cap) and robustness
//! against event times that go backwards.
//!
//! Throughout, with capacity `c` and leak `L`, governor runs with burst `c - 1`,
//! so its tolerance is `tau = (c - 2) * L`. An event at `t` is counted iff
//! `t >= tat - tau`, and a counted event moves `tat` to `max(tat, t) + L`.

use palisade::state::limiter::{EventClock, Fill, KeyedBucket};
use proptest::prelude::*;
use std::time::Duration;

/// 2026-01-01T00:00:00Z, so event times look like real ones.
const BASE_MS: u64 = 1_767_225_600_000;
const BIG_CAP: usize = 1 << 20;

fn bucket(capacity: u32, leak_ms: u64, max_keys: usize) -> (KeyedBucket, EventClock) {
    let clock = EventClock::default();
    let b = KeyedBucket::new(
        capacity,
        Duration::from_millis(leak_ms),
        clock.clone(),
        max_keys,
    );
    (b, clock)
}

/// Counts `key` at the current time until it overflows (at most `limit` tries);
/// returns how many were counted first.
fn room(b: &mut KeyedBucket, key: u64, limit: u32) -> u32 {
    for n in 0..limit {
        if b.count(key, None) == Fill::Overflow {
            return n;
        }
    }
    limit
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// (a) From a fresh key, `c - 1` events at one instant count and the `c`-th
    /// overflows; so do all later ones at that instant.
    #[test]
    fn a_fresh_key_holds_capacity_minus_one(
        capacity in 2u32..60,
        leak_ms in 1u64..3_600_000,
        at in 0u64..10_000_000_000,
        key: u64,
    ) {
        let (mut b, clock) = bucket(capacity, leak_ms, BIG_CAP);
        clock.set_millis(BASE_MS + at);
        for i in 1..capacity {
            prop_assert_eq!(b.count(key, None), Fill::Counted, "event {} of {}", i, capacity);
        }
        for _ in 0..3 {
            prop_assert_eq!(b.count(key, None), Fill::Overflow);
        }
        // Another key is untouched.
        prop_assert_eq!(b.count(key.wrapping_add(1), None), Fill::Counted);
    }

    /// (b) A full bucket leaks one event per `leak`: after `k` leaks exactly
    /// `min(k, c - 1)` more fit, one millisecond earlier one fewer; after
    /// `c * leak` (indeed `(c - 1) * leak`) the key behaves as a fresh one.
    #[test]
    fn a_full_bucket_leaks_one_event_per_leak(
        capacity in 2u32..40,
        leak_ms in 2u64..600_000,
        k in 0u32..50,
        key: u64,
    ) {
        let (mut b, clock) = bucket(capacity, leak_ms, BIG_CAP);
        clock.set_millis(BASE_MS);
        prop_assert_eq!(room(&mut b, key, capacity + 1), capacity - 1);
        if k > 0 {
            let (mut early, early_clock) = bucket(capacity, leak_ms, BIG_CAP);
            early_clock.set_millis(BASE_MS);
            room(&mut early, key, capacity + 1);
            early_clock.set_millis(BASE_MS + u64::from(k) * leak_ms - 1);
            prop_assert_eq!(room(&mut early, key, capacity + 1), (k - 1).min(capacity - 1));
        }
        clock.set_millis(BASE_MS + u64::from(k) * leak_ms);
        prop_assert_eq!(room(&mut b, key, capacity + 1), k.min(capacity - 1));

        let (mut fresh, fresh_clock) = bucket(capacity, leak_ms, BIG_CAP);
        fresh_clock.set_millis(BASE_MS);
        room(&mut fresh, key, capacity + 1);
        fresh_clock.set_millis(BASE_MS + u64::from(capacity) * leak_ms);
        prop_assert_eq!(room(&mut fresh, key, capacity + 1), capacity - 1);
    }

    /// (c) Over any non-decreasing event times, the counted events inside any
    /// window of length `W` number at most `c - 1 + floor(W / L)`: the GCRA
    /// bound `1 + (W + tau) / L`. Checked for every pair of counted events.
    #[test]
    fn counted_events_never_exceed_the_gcra_bound(
        capacity in 2u32..12,
        leak_ms in 1u64..5_000,
        gaps in prop::collection::vec(
            prop_oneof![3 => Just(0u64), 5 => 0u64..2_000, 1 => 0u64..60_000],
            1..250,
        ),
    ) {
        let (mut b, clock) = bucket(capacity, leak_ms, BIG_CAP);
        let mut t = BASE_MS;
        let mut counted: Vec<u64> = Vec::new();
        for g in gaps {
            t += g;
            clock.set_millis(t);
            if b.count(7, None) == Fill::Counted {
                counted.push(t);
            }
        }
        let c = u64::from(capacity);
        for p in 0..counted.len() {
            for q in p..counted.len() {
                let n = (q - p + 1) as u64;
                let bound = c - 1 + (counted[q] - counted[p]) / leak_ms;
                prop_assert!(
                    n <= bound,
                    "{} counted in [{}, {}] ms, bound {}", n, counted[p], counted[q], bound
                );
            }
        }
    }

    /// (c, tight) The bound is reached: a burst of `c - 1`, then one event per
    /// `leak`, all count, and one more at any instant overflows.
    #[test]
    fn the_gcra_bound_is_reached(
        capacity in 2u32..30,
        leak_ms in 1u64..100_000,
        steps in 0u64..40,
    ) {
        let (mut b, clock) = bucket(capacity, leak_ms, BIG_CAP);
        clock.set_millis(BASE_MS);
        prop_assert_eq!(room(&mut b, 1, capacity + 1), capacity - 1);
        for s in 1..=steps {
            clock.set_millis(BASE_MS + s * leak_ms);
            prop_assert_eq!(b.count(1, None), Fill::Counted, "step {}", s);
            prop_assert_eq!(b.count(1, None), Fill::Overflow, "step {}", s);
        }
    }

    /// (d) `would_overflow` changes nothing, however often it is asked, and
    /// answers what `count` then does.
    #[test]
    fn would_overflow_is_a_pure_question(
        capacity in 2u32..10,
        leak_ms in 1u64..10_000,
        ops in prop::collection::vec((0u64..4, 0u64..3_000, 0usize..4), 1..200),
    ) {
        let (mut asked, asked_clock) = bucket(capacity, leak_ms, BIG_CAP);
        let (mut plain, plain_clock) = bucket(capacity, leak_ms, BIG_CAP);
        let mut t = BASE_MS;
        for (key, gap, questions) in ops {
            t += gap;
            asked_clock.set_millis(t);
            plain_clock.set_millis(t);
            let len = asked.len();
            let mut answers = Vec::new();
            for _ in 0..questions {
                answers.push(asked.would_overflow(key));
            }
            prop_assert!(answers.windows(2).all(|w| w[0] == w[1]), "{:?}", answers);
            prop_assert_eq!(asked.len(), len, "a question added or dropped a key");
            let got = asked.count(key, None);
            prop_assert_eq!(got, plain.count(key, None));
            if let Some(&full) = answers.first() {
                prop_assert_eq!(full, got == Fill::Overflow);
            }
        }
    }

    /// (e) Distinct counting: a value among the last four the key counted is a
    /// `Repeat` and changes nothing; an older one, or one that overflowed
    /// (never remembered), counts again.
    #[test]
    fn distinct_counting_remembers_the_last_four_values(
        capacity in 2u32..12,
        leak_ms in 1u64..10_000,
        n in 1usize..12,
        back in 0usize..6,
        gap in 0u64..5_000,
    ) {
        // Values that differ in their top 15 bits, where the fingerprint lives.
        let value = |i: usize| ((i as u64 + 1) << 49) | 0x1234;
        let (mut b, clock) = bucket(capacity, leak_ms, BIG_CAP);
        let (mut twin, twin_clock) = bucket(capacity, leak_ms, BIG_CAP);
        clock.set_millis(BASE_MS);
        twin_clock.set_millis(BASE_MS);
        let mut counted = Vec::new();
        for i in 0..n {
            let got = b.count(9, Some(value(i)));
            prop_assert_ne!(got, Fill::Repeat, "value {} is new", i);
            prop_assert_eq!(got, twin.count(9, Some(value(i))));
            if got == Fill::Counted {
                counted.push(i);
            }
        }
        clock.set_millis(BASE_MS + gap);
        twin_clock.set_millis(BASE_MS + gap);
        if back < n {
            let i = n - 1 - back;
            let got = b.count(9, Some(value(i)));
            let recent = counted.iter().rev().take(4).any(|&c| c == i);
            if recent {
                prop_assert_eq!(got, Fill::Repeat);
                // The repeat left the bucket as the twin's, which never saw it.
                prop_assert_eq!(b.would_overflow(9), twin.would_overflow(9));
                let fresh = value(100);
                prop_assert_eq!(b.count(9, Some(fresh)), twin.count(9, Some(fresh)));
            } else {
                prop_assert_ne!(got, Fill::Repeat, "value {} was not among the last four counted {:?}", i, counted);
            }
        }
    }

    /// (f) `reset` makes a key fresh, whatever it held.
    #[test]
    fn reset_makes_a_key_fresh(
        capacity in 2u32..40,
        leak_ms in 1u64..100_000,
        fill in 0u32..50,
        key: u64,
    ) {
        let (mut b, clock) = bucket(capacity, leak_ms, BIG_CAP);
        clock.set_millis(BASE_MS);
        for _ in 0..fill {
            b.count(key, Some(u64::from(fill) << 48));
            b.count(key, None);
        }
        b.count(key ^ 1, None);
        b.reset(key);
        prop_assert_eq!(b.len(), 1, "only the other key is left");
        prop_assert_eq!(room(&mut b, key, capacity + 1), capacity - 1);
    }

    /// (g) `sweep` drops only empty buckets: against a twin that never swept,
    /// every key then has exactly the same room.
    #[test]
    fn sweep_drops_only_empty_buckets(
        capacity in 2u32..8,
        leak_ms in 1u64..20_000,
        events in prop::collection::vec((0u64..12, 0u64..4_000), 1..120),
        later in 0u64..100_000,
    ) {
        let (mut swept, clock) = bucket(capacity, leak_ms, BIG_CAP);
        let (mut twin, twin_clock) = bucket(capacity, leak_ms, BIG_CAP);
        let mut t = BASE_MS;
        for &(key, gap) in &events {
            t += gap;
            clock.set_millis(t);
            twin_clock.set_millis(t);
            swept.count(key, None);
            twin.count(key, None);
        }
        let now = t + later;
        clock.set_millis(now);
        twin_clock.set_millis(now);
        let full: Vec<u64> = (0..12).filter(|&k| twin.would_overflow(k)).collect();
        swept.sweep(now * 1_000_000);
        let kept = swept.len();
        prop_assert!(kept <= twin.len());
        for k in full {
            prop_assert!(swept.would_overflow(k), "key {} was full before the sweep", k);
        }
        let mut not_empty = 0;
        for k in 0..12 {
            let left = room(&mut twin, k, capacity + 1);
            prop_assert_eq!(room(&mut swept, k, capacity + 1), left, "key {}", k);
            not_empty += usize::from(left < capacity - 1);
        }
        prop_assert_eq!(kept, not_empty, "the sweep kept exactly the non-empty buckets");
    }

    /// (g) Past the key cap, a sweep keeps 90% of the cap and drops the emptiest
    /// first. Each key fills once at its own millisecond, so no two keys share
    /// a theoretical arrival time (see `sweep_with_tied_keys_holds_the_cap`).
    #[test]
    fn sweep_holds_the_key_cap(
        fills in prop::collection::vec(1u32..6, 1..80),
        max_keys in 17usize..40,
    ) {
        let (capacity, leak_ms) = (6u32, 10_000u64);
        // All events within a minute: no sweep runs on its own after the first
        // (the drain time has not passed, and at most 80 keys stay under the
        // ceiling of max_keys + 64 that sweeps between drain times), so the
        // explicit sweep below is the one under test.
        let (mut capped, clock) = bucket(capacity, leak_ms, max_keys);
        let (mut twin, twin_clock) = bucket(capacity, leak_ms, BIG_CAP);
        for (i, &fill) in fills.iter().enumerate() {
            clock.set_millis(BASE_MS + i as u64);
            twin_clock.set_millis(BASE_MS + i as u64);
            for _ in 0..fill {
                capped.count(i as u64, None);
                twin.count(i as u64, None);
            }
        }
        let now = BASE_MS + fills.len() as u64;
        clock.set_millis(now);
        twin_clock.set_millis(now);
        capped.sweep(now * 1_000_000);
        prop_assert!(capped.len() <= max_keys, "{} keys, cap {}", capped.len(), max_keys);
        if fills.len() > max_keys {
            prop_assert_eq!(capped.len(), max_keys - max_keys / 10);
        } else {
            prop_assert_eq!(capped.len(), fills.len());
        }
        // Room left per key: kept keys match the twin, dropped ones are fresh.
        let keys = 0..fills.len() as u64;
        let before: Vec<u32> = keys.clone().map(|k| room(&mut twin, k, capacity)).collect();
        let after: Vec<u32> = keys.map(|k| room(&mut capped, k, capacity)).collect();
        let dropped: Vec<usize> = (0..fills.len()).filter(|&i| after[i] != before[i]).collect();
        for &d in &dropped {
            prop_assert_eq!(after[d], capacity - 1, "a dropped key is fresh");
            for k in (0..fills.len()).filter(|k| !dropped.contains(k)) {
                prop_assert!(before[d] >= before[k], "key {} went before the emptier {}", d, k);
            }
        }
    }

    /// Events whose times go backwards (late events in a replay, a clock set
    /// back) never panic, and a key never counts more than it could at the
    /// latest time seen.
    #[test]
    fn out_of_order_times_never_panic(
        capacity in 2u32..10,
        leak_ms in 1u64..100_000,
        ops in prop::collection::vec((0u64..5, 0u64..10_000_000_000_000, any::<bool>(), 0u8..4), 1..200),
        max_keys in 1usize..8,
    ) {
        let (mut b, clock) = bucket(capacity, leak_ms, max_keys);
        for (key, at, distinct, op) in ops {
            clock.set_millis(at);
            match op {
                0 => { b.would_overflow(key); }
                1 => b.reset(key),
                2 => b.sweep(clock.now_nanos()),
                _ => { b.count(key, distinct.then_some(at << 40)); }
            }
        }
        // One instant: no more than c - 1 fit, whatever came before.
        prop_assert!(room(&mut b, 3, capacity + 1) < capacity);
    }
}

/// The same, pinned: a late event inside a full bucket's window overflows, and
/// the bucket does not forget the later events it counted.
#[test]
fn a_late_event_meets_a_full_bucket() {
    let (mut b, clock) = bucket(3, 60_000, BIG_CAP);
    clock.set_millis(BASE_MS + 600_000);
    assert_eq!(room(&mut b, 1, 5), 2);
    clock.set_millis(BASE_MS);
    assert_eq!(b.count(1, None), Fill::Overflow);
    assert!(b.would_overflow(1));
    clock.set_millis(BASE_MS + 600_000 + 60_000);
    assert_eq!(room(&mut b, 1, 5), 1);
}

/// Many keys counted once at the same instant share one theoretical arrival
/// time; a sweep past the cap must still bring them down to the cap.
#[test]
fn sweep_with_tied_keys_holds_the_cap() {
    let (mut b, clock) = bucket(10, 60_000, 10);
    clock.set_millis(BASE_MS);
    for key in 0..100 {
        assert_eq!(b.count(key, None), Fill::Counted);
    }
    b.sweep(clock.now_nanos());
    assert!(b.len() <= 10, "{} keys left, the cap is 10", b.len());
}

/// Event times past 2554-07-21 (accepted by the event parser up to year 9999)
/// saturate the nanosecond clock; counting must still not panic.
#[test]
fn a_far_future_event_time_does_not_panic() {
    let (mut b, clock) = bucket(10, 60_000, BIG_CAP);
    // 9999-12-31T23:59:59Z.
    clock.set_millis(253_402_300_799_000);
    b.count(1, None);
    b.count(1, None);
}

/// The key cap holds between sweeps too: a flood of new keys within one
/// drain time (a spray from millions of addresses) is swept as soon as it
/// passes the cap by a tenth (at least 64 keys).
#[test]
fn a_flood_of_new_keys_within_one_drain_time_stays_near_the_cap() {
    // Capacity 5 leaking one a minute: 5 minutes of drain, far longer than
    // the flood below.
    let (mut b, clock) = bucket(5, 60_000, 1000);
    let mut most = 0;
    for key in 0..50_000u64 {
        clock.set_millis(BASE_MS + key / 100); // 50,000 keys in 0.5 s
        b.count(key, None);
        most = most.max(b.len());
    }
    assert!(most <= 1100, "{most} keys held against a cap of 1000");
    assert!(b.len() >= 900, "a sweep keeps nine tenths: {}", b.len());
    // The newest keys are the ones kept: the last one's bucket still counts.
    assert_eq!(room(&mut b, 49_999, 10), 3);
}
