//! Keycloak's brute-force detector, per user, exactly: the algorithm of
//! `DefaultBruteForceProtector.failure` and `success` in Keycloak main at
//! commit 2bbd447b (2026), held to the timelines of its `BruteForceTest` in
//! `tests/keycloak_lockout.rs`.
//!
//! Keycloak checks the lock before it checks the password, so while the
//! account is locked every sign-in is refused and no failure is counted. A
//! failure `d` ms after the previous one first forgets everything (count,
//! temporary lockouts, lock) if `d` exceeds `max_delta_time`, then counts. With
//! `n` failures the wait is `wait_increment × ⌊n / failure_factor⌋`
//! (`multiple`) or `wait_increment × (1 + n − failure_factor)` (`linear`); if
//! that is not positive and `d` is under `quick_login_check`, the wait is
//! `minimum_quick_login_wait` instead. A positive wait is capped at
//! `max_failure_wait` and locks the account until `⌊now in s⌋ + wait` seconds
//! (Keycloak keeps the lock in whole seconds). Every lock that is not a quick
//! login's is a temporary lockout. With `permanent_lockout`, the failure that
//! makes the temporary lockouts exceed `max_temporary_lockouts` locks the
//! account for good instead, and with `max_temporary_lockouts` 0 there are no
//! temporary lockouts and no forgetting: the `failure_factor`-th failure locks
//! it for good. A success clears it all.
//!
//! Not taken from Keycloak: counters per user property
//! (`bruteForceLockPolicy`), the separate OTP failure limit
//! (`maxSecondaryAuthFailures`), and two corners. Keycloak's record expires
//! `max_delta_time` after the last failure even while a longer lock holds;
//! here the lock holds to its end. Keycloak clamps a lock's end to 2038 (a
//! 32-bit second); here to the year 9999.

use crate::state::prefilter::Prefilter;
use crate::state::{retain_counted, Evictions};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// Until when a permanent lockout holds: the last instant an RFC 3339 time
/// with a four-digit year can name (9999-12-31T23:59:59.999Z), so reasons and
/// enforcements can write it. Only a success (feedback that the sign-in was
/// the user's) lifts it, as only an administrator re-enables a Keycloak user.
pub const PERMANENT_UNTIL_MS: u64 = 253_402_300_799_999;

/// How the engine applies the lock; both count with Keycloak's algorithm.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LockoutMode {
    /// As Keycloak: a lock refuses every sign-in to the account.
    Keycloak,
    /// The lock spares the account owner's known device (the engine decides which).
    #[default]
    OwnerAware,
}

impl LockoutMode {
    pub const NAMES: &'static str = "keycloak, owner_aware";

    pub fn parse(s: &str) -> Option<LockoutMode> {
        match s {
            "keycloak" => Some(LockoutMode::Keycloak),
            "owner_aware" => Some(LockoutMode::OwnerAware),
            _ => None,
        }
    }
}

/// How the wait grows with the failures: Keycloak's `bruteForceStrategy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WaitStrategy {
    /// `wait_increment × ⌊failures / failure_factor⌋`.
    #[default]
    Multiple,
    /// `wait_increment × (1 + failures − failure_factor)`.
    Linear,
}

impl WaitStrategy {
    pub const NAMES: &'static str = "multiple, linear";

    pub fn parse(s: &str) -> Option<WaitStrategy> {
        match s {
            "multiple" => Some(WaitStrategy::Multiple),
            "linear" => Some(WaitStrategy::Linear),
            _ => None,
        }
    }
}

/// The compiled `[lockout]` table. Durations are in Keycloak's units: seconds,
/// and milliseconds for the quick-login check. The default is Keycloak's
/// realm default (and the `owner_aware` mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutParams {
    pub mode: LockoutMode,
    pub strategy: WaitStrategy,
    pub failure_factor: u32,
    pub wait_increment_s: u64,
    pub max_failure_wait_s: u64,
    pub quick_login_check_ms: u64,
    pub minimum_quick_login_wait_s: u64,
    pub max_delta_time_s: u64,
    pub permanent_lockout: bool,
    pub max_temporary_lockouts: u32,
}

impl Default for LockoutParams {
    fn default() -> LockoutParams {
        LockoutParams {
            mode: LockoutMode::default(),
            strategy: WaitStrategy::default(),
            failure_factor: 30,
            wait_increment_s: 60,
            max_failure_wait_s: 900,
            quick_login_check_ms: 1_000,
            minimum_quick_login_wait_s: 60,
            max_delta_time_s: 43_200,
            permanent_lockout: false,
            max_temporary_lockouts: 0,
        }
    }
}

impl LockoutParams {
    /// Permanent lockout without temporary ones: Keycloak then neither
    /// computes waits from the count nor forgets failures with time.
    fn permanent_only(&self) -> bool {
        self.permanent_lockout && self.max_temporary_lockouts == 0
    }

    /// The wait the count asks for, in seconds; zero or less is none.
    fn count_wait_s(&self, failures: u32) -> i128 {
        let (n, factor) = (i128::from(failures), i128::from(self.failure_factor));
        let steps = match self.strategy {
            WaitStrategy::Multiple => n / factor,
            WaitStrategy::Linear => 1 + n - factor,
        };
        i128::from(self.wait_increment_s) * steps
    }
}

/// One user's record: Keycloak's `UserLoginFailureModel`, less the address.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct UserFailures {
    failures: u32,
    temporary_lockouts: u32,
    /// Event time of the latest failure; 0 for none since the record was
    /// cleared, as in Keycloak.
    last_failure_ms: u64,
    /// Keycloak's `failedLoginNotBefore` in ms (a whole second), or
    /// [`PERMANENT_UNTIL_MS`]; locked while the time is before it.
    locked_until_ms: u64,
}

impl UserFailures {
    /// What the cap keeps longest: a lock in force by its end, otherwise the
    /// latest failure; ties go by the latest failure.
    fn activity(&self) -> (u64, u64) {
        (
            self.last_failure_ms.max(self.locked_until_ms),
            self.last_failure_ms,
        )
    }
}

/// Bytes of one user's entry in the failure table (key and record).
pub const ENTRY_BYTES: usize = std::mem::size_of::<(u64, UserFailures)>();

/// Failure records per user key, bounded by `max_keys`. A checkpoint holds the
/// records; parameters and cap come from the rule.
#[derive(Debug, Serialize, Deserialize)]
pub struct Lockout {
    #[serde(skip)]
    params: LockoutParams,
    users: FxHashMap<u64, UserFailures>,
    /// The users whose record holds a lock (`locked_until_ms`), which may
    /// have ended: what every sign-in checks, small beside `users`, which
    /// holds every user with a failure in the last `max_delta_time`.
    #[serde(skip)]
    locks: FxHashMap<u64, u64>,
    /// A bit per user in `users`: most successes are of users who have not
    /// failed lately.
    #[serde(skip)]
    filter: Prefilter,
    #[serde(skip)]
    max_keys: usize,
    #[serde(skip)]
    evicted: Evictions,
}

impl Lockout {
    pub fn new(params: LockoutParams, max_keys: usize) -> Lockout {
        Lockout {
            params: LockoutParams {
                failure_factor: params.failure_factor.max(1),
                ..params
            },
            users: FxHashMap::default(),
            locks: FxHashMap::default(),
            filter: Prefilter::default(),
            max_keys: max_keys.max(1),
            evicted: Evictions::default(),
        }
    }

    /// Sizes the failure table for `n` users (at most the cap) now.
    pub fn presize(&mut self, n: usize) {
        let more = n.min(self.max_keys).saturating_sub(self.users.len());
        self.users.reserve(more);
    }

    /// Starts fetching what a sign-in of the user reads first.
    #[inline]
    pub fn prefetch(&self, key: u64) {
        self.filter.prefetch(key);
    }

    /// Until when (event time, ms) the user is locked at `now_ms`, if locked:
    /// [`PERMANENT_UNTIL_MS`] for a permanent lockout.
    pub fn locked_until(&self, key: u64, now_ms: u64) -> Option<u64> {
        let until = *self.locks.get(&key)?;
        (until > now_ms).then_some(until)
    }

    /// Records a failed sign-in at `now_ms`; until when it locks the user, if
    /// it does. A failure while the user is locked is not counted.
    pub fn failure(&mut self, key: u64, now_ms: u64) -> Option<u64> {
        self.failure_at(key, now_ms, now_ms)
    }

    /// [`Lockout::failure`] for an event dated `event_ms`, applied at the
    /// engine's clock `now_ms` (later, for a late event). The gap to the
    /// user's previous failure, which decides a quick login and a reset, is
    /// between their event times either way round, as if the two had come
    /// in order; the lock runs from the clock, and the latest failure's time
    /// never moves back.
    pub fn failure_at(&mut self, key: u64, now_ms: u64, event_ms: u64) -> Option<u64> {
        if self.locked_until(key, now_ms).is_some() {
            return None;
        }
        if self.users.len() >= self.max_keys && !self.users.contains_key(&key) {
            self.expire(now_ms);
        }
        let p = self.params;
        if self.filter.insert(key) {
            self.filter.rebuild(self.users.keys().copied());
            self.filter.insert(key);
        }
        let f = self.users.entry(key).or_default();
        let had_lock = f.locked_until_ms > 0;
        let last = f.last_failure_ms;
        let delta = if last > 0 { event_ms.abs_diff(last) } else { 0 };
        if !p.permanent_only() && delta > p.max_delta_time_s.saturating_mul(1000) {
            *f = UserFailures::default();
        }
        f.last_failure_ms = f.last_failure_ms.max(event_ms);
        f.failures = f.failures.saturating_add(1);

        let mut wait_s = if p.permanent_only() {
            0
        } else {
            p.count_wait_s(f.failures)
        };
        let quick = wait_s <= 0 && last > 0 && delta < p.quick_login_check_ms;
        if quick {
            wait_s = i128::from(p.minimum_quick_login_wait_s);
        }
        if wait_s > 0 {
            if !p.permanent_only() {
                wait_s = wait_s.min(i128::from(p.max_failure_wait_s));
            }
            if !quick {
                f.temporary_lockouts = f.temporary_lockouts.saturating_add(1);
            }
            if quick || !p.permanent_lockout || f.temporary_lockouts <= p.max_temporary_lockouts {
                let until_s = i128::from(now_ms / 1000) + wait_s;
                f.locked_until_ms = (until_s * 1000).min(i128::from(PERMANENT_UNTIL_MS)) as u64;
            }
        }
        if p.permanent_lockout
            && (f.temporary_lockouts > p.max_temporary_lockouts
                || (p.max_temporary_lockouts == 0 && f.failures >= p.failure_factor))
        {
            f.locked_until_ms = PERMANENT_UNTIL_MS;
        }
        let until = f.locked_until_ms;
        if until > now_ms {
            self.locks.insert(key, until);
            Some(until)
        } else {
            // A lock that has ended (or was forgotten with the count).
            if had_lock {
                self.locks.remove(&key);
            }
            None
        }
    }

    /// A successful sign-in: forgets the user's failures, temporary lockouts
    /// and lock, as Keycloak's `clearFailures`. Whether a lock had been set
    /// (it may have ended already).
    pub fn success(&mut self, key: u64) -> bool {
        let locked = self
            .users
            .remove(&key)
            .is_some_and(|f| f.locked_until_ms > 0);
        if locked {
            self.locks.remove(&key);
        }
        locked
    }

    /// A successful sign-in at `now_ms`, in this rule's mode: as
    /// [`Lockout::success`], except that in owner-aware mode the owner signs
    /// in during a lock held against everyone else, and that success must
    /// not lift it for the attacker. One lookup either way.
    pub fn success_at(&mut self, key: u64, now_ms: u64) -> bool {
        if !self.filter.may_contain(key) {
            return false;
        }
        let std::collections::hash_map::Entry::Occupied(f) = self.users.entry(key) else {
            return false;
        };
        if self.params.mode == LockoutMode::OwnerAware && f.get().locked_until_ms > now_ms {
            return false;
        }
        let locked = f.remove().locked_until_ms > 0;
        if locked {
            self.locks.remove(&key);
        }
        locked
    }

    pub fn params(&self) -> LockoutParams {
        self.params
    }

    pub fn mode(&self) -> LockoutMode {
        self.params.mode
    }

    /// Takes the records of `saved` (a checkpoint's), keeping this rule's
    /// parameters and cap.
    pub fn restore_from(&mut self, saved: Lockout) {
        self.users = saved.users;
        self.filter.rebuild(self.users.keys().copied());
        self.locks = self
            .users
            .iter()
            .filter(|(_, f)| f.locked_until_ms > 0)
            .map(|(&k, f)| (k, f.locked_until_ms))
            .collect();
    }

    /// Failures counted for the user since the record was last cleared.
    pub fn failures(&self, key: u64) -> u32 {
        self.users.get(&key).map_or(0, |f| f.failures)
    }

    /// Temporary lockouts since the record was last cleared.
    pub fn temporary_lockouts(&self, key: u64) -> u32 {
        self.users.get(&key).map_or(0, |f| f.temporary_lockouts)
    }

    /// Forgets records the next failure would clear anyway, and at the cap
    /// the tenth idlest (locks in force last, permanent ones never before
    /// the rest). A record goes for age when its lock has ended and its last
    /// failure is older than both `max_delta_time` (the next failure would
    /// clear it) and `quick_login_check` (nor would it be a quick login).
    /// Permanent-only lockouts never forget, so their records go only at the
    /// cap.
    pub fn expire(&mut self, now_ms: u64) {
        let p = self.params;
        if !p.permanent_only() {
            let keep_ms = p
                .max_delta_time_s
                .saturating_mul(1000)
                .max(p.quick_login_check_ms);
            let horizon = now_ms.saturating_sub(keep_ms);
            self.evicted.age += retain_counted(&mut self.users, |_, f| {
                f.locked_until_ms > now_ms || f.last_failure_ms >= horizon
            });
        }
        if self.users.len() >= self.max_keys {
            let mut seen: Vec<(u64, u64)> =
                self.users.values().map(UserFailures::activity).collect();
            let cut = seen.len() / 10;
            let (_, t, _) = seen.select_nth_unstable(cut);
            let t = *t;
            self.evicted.cap += retain_counted(&mut self.users, |_, f| f.activity() > t);
        }
        self.filter.rebuild(self.users.keys().copied());
        // Ended locks, and those whose record went, go from the index.
        let users = &self.users;
        self.locks
            .retain(|k, until| *until > now_ms && users.contains_key(k));
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn evictions(&self) -> Evictions {
        self.evicted
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    pub fn heap_bytes(&self) -> usize {
        self.users.capacity() * (ENTRY_BYTES + 1)
            + self.locks.capacity() * (std::mem::size_of::<(u64, u64)>() + 1)
            + Prefilter::BYTES
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Timestamp;

    /// 2026-01-05T10:00:00Z, a whole second.
    const T: u64 = 1_767_607_200_000;

    fn defaults() -> Lockout {
        Lockout::new(LockoutParams::default(), 100)
    }

    #[test]
    fn the_defaults_are_keycloaks_realm_defaults() {
        let p = LockoutParams::default();
        assert_eq!(
            (p.failure_factor, p.wait_increment_s, p.max_failure_wait_s),
            (30, 60, 900)
        );
        assert_eq!(
            (
                p.quick_login_check_ms,
                p.minimum_quick_login_wait_s,
                p.max_delta_time_s
            ),
            (1_000, 60, 43_200)
        );
        assert_eq!(
            (p.permanent_lockout, p.max_temporary_lockouts, p.strategy),
            (false, 0, WaitStrategy::Multiple)
        );
        assert_eq!(p.mode, LockoutMode::OwnerAware);
    }

    #[test]
    fn from_the_failure_factor_on_every_failure_locks_not_every_thirtieth() {
        let mut l = defaults();
        for i in 0..29 {
            assert_eq!(l.failure(1, T + i * 5_000), None, "failure {}", i + 1);
        }
        // The 30th at T+145s: ⌊30/30⌋ × 60 s.
        assert_eq!(l.failure(1, T + 145_000), Some(T + 205_000));
        // The 31st, once the lock ended, locks again: ⌊31/30⌋ × 60 s. The
        // old code locked only at multiples of 30.
        assert_eq!(l.failure(1, T + 205_000), Some(T + 265_000));
        assert_eq!(l.failures(1), 31);
        assert_eq!(l.temporary_lockouts(1), 2);
    }

    #[test]
    fn a_failure_while_locked_is_not_counted() {
        let mut l = defaults();
        l.failure(1, T);
        assert_eq!(l.failure(1, T + 500), Some(T + 60_000), "a quick login");
        assert_eq!(l.failure(1, T + 30_000), None);
        assert_eq!(l.failure(1, T + 59_999), None);
        assert_eq!(l.failures(1), 2);
        assert_eq!(l.locked_until(1, T + 59_999), Some(T + 60_000));
        assert_eq!(l.locked_until(1, T + 60_000), None, "open at the second");
    }

    #[test]
    fn the_lock_index_follows_the_records() {
        let mut l = defaults();
        l.failure(1, T);
        l.failure(1, T + 500); // a quick login: locked to T+60s
        l.failure(2, T);
        l.failure(2, T + 400);
        assert_eq!(l.locks.len(), 2);
        // A success clears the lock with the record.
        assert!(l.success(2));
        assert_eq!((l.locks.len(), l.locked_until(2, T + 1_000)), (1, None));
        // An ended lock leaves the index at expiry; the record stays until
        // its failures age out.
        l.expire(T + 60_000);
        assert!(l.locks.is_empty());
        assert_eq!((l.len(), l.failures(1)), (1, 2));
        // A checkpoint rebuilds the index from the records.
        l.failure(1, T + 60_100);
        l.failure(1, T + 60_500); // quick again: locked to T+120s
        let mut back = defaults();
        back.restore_from(serde_json::from_str(&serde_json::to_string(&l).unwrap()).unwrap());
        assert_eq!(back.locked_until(1, T + 60_200), Some(T + 120_000));
    }

    #[test]
    fn the_lock_ends_on_a_whole_second() {
        let mut l = defaults();
        l.failure(1, T + 400);
        // 700 ms later: a quick login at T+1.1s locks until ⌊T+1.1s⌋ + 60 s.
        assert_eq!(l.failure(1, T + 1_100), Some(T + 61_000));
    }

    #[test]
    fn a_success_clears_the_record_and_says_whether_it_held_a_lock() {
        let mut l = defaults();
        l.failure(1, T);
        assert!(!l.success(1), "a count without a lock");
        l.failure(1, T);
        l.failure(1, T + 100);
        assert!(l.success(1));
        assert_eq!((l.failures(1), l.locked_until(1, T + 100)), (0, None));
    }

    #[test]
    fn a_checkpoint_keeps_counts_temporary_lockouts_and_locks() {
        let p = LockoutParams {
            failure_factor: 3,
            permanent_lockout: true,
            max_temporary_lockouts: 2,
            ..LockoutParams::default()
        };
        let mut l = Lockout::new(p, 100);
        for at in [0, 2_000, 4_000] {
            l.failure(1, T + at);
        }
        l.failure(2, T + 4_000);
        let bytes = postcard::to_stdvec(&l).unwrap();
        let mut back = Lockout::new(p, 100);
        back.restore_from(postcard::from_bytes(&bytes).unwrap());
        assert_eq!(back.locked_until(1, T + 4_000), Some(T + 64_000));
        assert_eq!((back.failures(1), back.temporary_lockouts(1)), (3, 1));
        assert_eq!(back.failures(2), 1);
        // The last failure came back too: 500 ms later is a quick login.
        assert_eq!(back.failure(2, T + 4_500), Some(T + 64_000));
        assert_eq!(back.temporary_lockouts(2), 0);
    }

    #[test]
    fn the_permanent_lock_writes_as_the_last_four_digit_year() {
        let mut out = String::new();
        Timestamp(PERMANENT_UNTIL_MS).write_rfc3339(&mut out);
        assert_eq!(out, "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn records_go_only_when_the_next_failure_would_clear_them() {
        let p = LockoutParams {
            max_delta_time_s: 60,
            minimum_quick_login_wait_s: 120,
            ..LockoutParams::default()
        };
        let mut l = Lockout::new(p, 100);
        l.failure(1, T);
        l.failure(2, T + 1_000);
        assert_eq!(l.failure(2, T + 1_500), Some(T + 121_000), "quick");
        l.expire(T + 61_501);
        assert_eq!(l.failures(1), 0, "idle past max_delta_time");
        assert_eq!(l.failures(2), 2, "idle as long, but locked");
        l.expire(T + 121_000);
        assert_eq!(l.len(), 0, "the lock has ended");
        assert_eq!(l.evictions().age, 2);
    }

    #[test]
    fn permanent_lockouts_survive_age_and_go_last_at_the_cap() {
        let p = LockoutParams {
            failure_factor: 1,
            permanent_lockout: true,
            ..LockoutParams::default()
        };
        let mut l = Lockout::new(p, 10);
        assert_eq!(l.failure(0, T), Some(PERMANENT_UNTIL_MS));
        // Nine more users, one failure each, fill the table.
        l.params.failure_factor = 5;
        for k in 1..10 {
            l.failure(k, T + k * 1_000);
        }
        l.failure(10, T + 100_000_000);
        assert_eq!(l.locked_until(0, T + 100_000_000), Some(PERMANENT_UNTIL_MS));
        assert_eq!((l.failures(1), l.failures(2), l.failures(3)), (0, 0, 1));
        assert_eq!(
            l.evictions(),
            Evictions { cap: 2, age: 0 },
            "the idlest made way"
        );
    }
}
