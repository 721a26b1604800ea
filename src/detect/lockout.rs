//! Keycloak's brute-force detector: a per-user failure count that locks the
//! account for a wait growing with every `failure_factor` failures, a short
//! lockout for failures in quick succession, and a reset after `max_delta_time`
//! without failures or on a successful sign-in.

use crate::state::{retain_counted, Evictions};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LockoutParams {
    pub failure_factor: u32,
    pub wait_increment_ms: u64,
    pub max_failure_wait_ms: u64,
    pub quick_login_check_ms: u64,
    pub minimum_quick_login_wait_ms: u64,
    pub max_delta_time_ms: u64,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct UserFailures {
    failures: u32,
    last_failure_ms: u64,
}

/// Bytes of one user's entry in the failure table (key and counts).
pub const ENTRY_BYTES: usize = std::mem::size_of::<(u64, UserFailures)>();

/// Failure counts per user key, bounded by `max_keys` (idle users go first).
/// A checkpoint holds the counts; parameters and cap come from the rule.
#[derive(Debug, Serialize, Deserialize)]
pub struct Lockout {
    #[serde(skip)]
    params: LockoutParams,
    users: FxHashMap<u64, UserFailures>,
    #[serde(skip)]
    max_keys: usize,
    #[serde(skip)]
    evicted: Evictions,
}

impl Lockout {
    pub fn new(params: LockoutParams, max_keys: usize) -> Lockout {
        Lockout {
            params,
            users: FxHashMap::default(),
            max_keys: max_keys.max(1),
            evicted: Evictions::default(),
        }
    }

    /// Records a failure at `now_ms`; returns how long the user is locked out
    /// from now, if this failure locks.
    pub fn failure(&mut self, key: u64, now_ms: u64) -> Option<u64> {
        if self.users.len() >= self.max_keys && !self.users.contains_key(&key) {
            self.expire(now_ms);
        }
        let p = self.params;
        let f = self.users.entry(key).or_default();
        let since_last = now_ms.saturating_sub(f.last_failure_ms);
        if f.failures > 0 && since_last > p.max_delta_time_ms {
            f.failures = 0;
        }
        let quick = f.failures > 0 && since_last < p.quick_login_check_ms;
        f.failures += 1;
        f.last_failure_ms = now_ms;
        let mut wait = if quick {
            p.minimum_quick_login_wait_ms
        } else {
            0
        };
        if f.failures % p.failure_factor == 0 {
            let grown = p
                .wait_increment_ms
                .saturating_mul((f.failures / p.failure_factor) as u64);
            wait = wait.max(grown.min(p.max_failure_wait_ms));
        }
        (wait > 0).then_some(wait)
    }

    pub fn params(&self) -> LockoutParams {
        self.params
    }

    /// Takes the counts of `saved` (a checkpoint's), keeping this rule's
    /// parameters and cap.
    pub fn restore_from(&mut self, saved: Lockout) {
        self.users = saved.users;
    }

    pub fn success(&mut self, key: u64) {
        self.users.remove(&key);
    }

    pub fn failures(&self, key: u64) -> u32 {
        self.users.get(&key).map_or(0, |f| f.failures)
    }

    /// Forgets users whose last failure is older than `max_delta_time`, and at
    /// the cap the idlest tenth.
    pub fn expire(&mut self, now_ms: u64) {
        let horizon = now_ms.saturating_sub(self.params.max_delta_time_ms);
        self.evicted.age += retain_counted(&mut self.users, |_, f| f.last_failure_ms >= horizon);
        if self.users.len() >= self.max_keys {
            let mut times: Vec<u64> = self.users.values().map(|f| f.last_failure_ms).collect();
            let cut = times.len() / 10;
            let (_, t, _) = times.select_nth_unstable(cut);
            let t = *t;
            self.evicted.cap += retain_counted(&mut self.users, |_, f| f.last_failure_ms > t);
        }
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
        self.users.capacity() * (std::mem::size_of::<(u64, UserFailures)>() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keycloak_defaults() -> LockoutParams {
        LockoutParams {
            failure_factor: 30,
            wait_increment_ms: 60_000,
            max_failure_wait_ms: 900_000,
            quick_login_check_ms: 1_000,
            minimum_quick_login_wait_ms: 60_000,
            max_delta_time_ms: 43_200_000,
        }
    }

    #[test]
    fn locks_every_failure_factor_with_a_growing_capped_wait() {
        let mut l = Lockout::new(keycloak_defaults(), 100);
        let mut waits = vec![];
        for i in 0..600u64 {
            if let Some(w) = l.failure(1, i * 5_000) {
                waits.push((i + 1, w));
            }
        }
        assert_eq!(waits[0], (30, 60_000));
        assert_eq!(waits[1], (60, 120_000));
        assert_eq!(
            waits.last().unwrap(),
            &(600, 900_000),
            "capped at max_failure_wait"
        );
    }

    #[test]
    fn quick_failures_lock_briefly_and_old_ones_are_forgotten() {
        let mut l = Lockout::new(keycloak_defaults(), 100);
        assert_eq!(l.failure(1, 10_000), None);
        assert_eq!(l.failure(1, 10_500), Some(60_000));
        assert_eq!(l.failures(1), 2);
        l.failure(1, 10_500 + 43_200_001);
        assert_eq!(
            l.failures(1),
            1,
            "a failure after max_delta_time starts over"
        );
        l.success(1);
        assert_eq!(l.failures(1), 0);
    }
}
