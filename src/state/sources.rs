//! Recent failed and successful sign-ins per source, and the sources blocked
//! before: what the risk model's graded source evidence and the escalating
//! bans read (see `engine::evidence`).
//!
//! A source is one user from one address, an address, its network or its ASN;
//! each kind has its own [`SourceTable`]. A source's [`Tally`] keeps the event
//! times of its latest [`RING`] failures, so "failures in the last 10
//! minutes" is an exact count up to that many (past it, every source is
//! blocked anyway), and its let-through successes as counts decayed over each
//! window, so a shared address (an office, a carrier's NAT) that signs many
//! people in is credited with the failures its crowd makes. A source gets a
//! tally at its first failure: sources that never fail cost nothing.
//!
//! [`Offenders`] remembers the addresses blocked before, as an offence count
//! that decays over days, and the ban each is serving.

use crate::state::{retain_counted, Evictions};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// Failure times kept per source.
pub const RING: usize = 16;
/// The windows failures and successes are counted over (the model names
/// their lengths).
pub const WINDOWS: usize = 4;

/// One source's recent sign-ins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    /// Event times (seconds) of the latest failures; 0 marks an empty place.
    failures: [u32; RING],
    /// Where the next failure goes.
    next: u8,
    /// Successes let through, decayed by each window's mean life to `ok_secs`.
    ok: [f32; WINDOWS],
    ok_secs: u32,
    /// The latest failure or success: what expiry and the cap go by.
    last_secs: u32,
}

/// Bytes of one entry in a source table (key and tally).
pub const ENTRY_BYTES: usize = std::mem::size_of::<(u64, Tally)>();

impl Tally {
    fn fail(&mut self, now: u32) {
        self.failures[self.next as usize] = now.max(1);
        self.next = (self.next + 1) % RING as u8;
        self.last_secs = self.last_secs.max(now);
    }

    fn succeed(&mut self, now: u32, windows: &[u32; WINDOWS]) {
        self.ok = self.successes(now, windows);
        for ok in &mut self.ok {
            *ok += 1.0;
        }
        self.ok_secs = self.ok_secs.max(now);
        self.last_secs = self.last_secs.max(now);
    }

    /// Failures within each window before `now` (a failure at `now` counts;
    /// one dated after it, from a late event, counts as at `now`).
    pub fn failures(&self, now: u32, windows: &[u32; WINDOWS]) -> [u32; WINDOWS] {
        let mut out = [0; WINDOWS];
        for &t in &self.failures {
            if t == 0 {
                continue;
            }
            let age = now.saturating_sub(t);
            for (n, &w) in out.iter_mut().zip(windows) {
                *n += u32::from(age < w);
            }
        }
        out
    }

    /// Failures within `window` seconds before `now`.
    pub fn failures_within(&self, now: u32, window: u32) -> u32 {
        self.failures
            .iter()
            .filter(|&&t| t != 0 && now.saturating_sub(t) < window)
            .count() as u32
    }

    /// Let-through successes per window, decayed to `now`.
    pub fn successes(&self, now: u32, windows: &[u32; WINDOWS]) -> [f32; WINDOWS] {
        let age = now.saturating_sub(self.ok_secs) as f32;
        let mut out = self.ok;
        if age > 0.0 {
            for (ok, &w) in out.iter_mut().zip(windows) {
                *ok *= (-age / w.max(1) as f32).exp();
            }
        }
        out
    }

    fn clear_failures(&mut self) {
        self.failures = [0; RING];
        self.next = 0;
    }

    /// The times of the failures within `window` seconds before `now`.
    fn failure_times(&self, now: u32, window: u32) -> impl Iterator<Item = u32> + '_ {
        self.failures
            .iter()
            .copied()
            .filter(move |&t| t != 0 && now.saturating_sub(t) < window)
    }

    /// Forgets one failure at exactly `at`, if it holds one.
    fn forget_failure_at(&mut self, at: u32) {
        if let Some(t) = self.failures.iter_mut().find(|t| **t == at) {
            *t = 0;
        }
    }
}

/// The tallies of one kind of source, capped.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SourceTable {
    map: FxHashMap<u64, Tally>,
    #[serde(skip)]
    max_keys: usize,
    #[serde(skip)]
    evicted: Evictions,
}

impl SourceTable {
    pub fn new(max_keys: usize) -> SourceTable {
        SourceTable {
            map: FxHashMap::default(),
            max_keys: max_keys.max(1),
            evicted: Evictions::default(),
        }
    }

    pub fn get(&self, key: u64) -> Option<&Tally> {
        self.map.get(&key)
    }

    /// Counts a failure of `key` at `now`. At the cap, sources idle past
    /// `horizon` seconds go, then the idlest tenth.
    pub fn fail(&mut self, key: u64, now: u32, horizon: u32) -> &Tally {
        if self.map.len() >= self.max_keys && !self.map.contains_key(&key) {
            self.make_room(now, horizon);
        }
        let t = self.map.entry(key).or_default();
        t.fail(now);
        t
    }

    /// Credits a let-through success to a source that has failed recently
    /// (a source without a tally has nothing to credit).
    pub fn succeed(&mut self, key: u64, now: u32, windows: &[u32; WINDOWS]) {
        if let Some(t) = self.map.get_mut(&key) {
            t.succeed(now, windows);
        }
    }

    /// Forgets a source's failures (the user it stands for signed in),
    /// returning the times of those within `window` seconds before `now`.
    pub fn clear_failures(&mut self, key: u64, now: u32, window: u32) -> Vec<u32> {
        match self.map.get_mut(&key) {
            Some(t) => {
                let times = t.failure_times(now, window).collect();
                t.clear_failures();
                times
            }
            None => Vec::new(),
        }
    }

    /// Forgets one failure of the source at each of `times` (failures another
    /// table proved to be typos).
    pub fn forget_failures(&mut self, key: u64, times: &[u32]) {
        if let Some(t) = self.map.get_mut(&key) {
            for &at in times {
                t.forget_failure_at(at);
            }
        }
    }

    /// Drops sources idle for `horizon` seconds.
    pub fn expire(&mut self, now: u32, horizon: u32) {
        let since = now.saturating_sub(horizon);
        self.evicted.age += retain_counted(&mut self.map, |_, t| t.last_secs >= since);
    }

    fn make_room(&mut self, now: u32, horizon: u32) {
        self.expire(now, horizon);
        if self.map.len() < self.max_keys {
            return;
        }
        let mut times: Vec<u32> = self.map.values().map(|t| t.last_secs).collect();
        let cut = times.len() / 10;
        let (_, nth, _) = times.select_nth_unstable(cut);
        let nth = *nth;
        self.evicted.cap += retain_counted(&mut self.map, |_, t| t.last_secs > nth);
    }

    /// Takes a checkpoint's tallies, keeping this table's cap.
    pub fn restore_from(&mut self, saved: SourceTable) {
        self.map = saved.map;
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn evictions(&self) -> Evictions {
        self.evicted
    }

    pub fn heap_bytes(&self) -> usize {
        self.map.capacity() * (ENTRY_BYTES + 1)
    }
}

/// An address's record of bans.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Offence {
    /// Bans so far, decayed by the model's half-life to `level_secs`.
    level: f32,
    level_secs: u32,
    /// When the ban it is serving ends (seconds); 0 when none ever was.
    pub banned_until: u32,
}

/// Bytes of one entry in the offenders table (key and record).
pub const OFFENCE_ENTRY_BYTES: usize = std::mem::size_of::<(u64, Offence)>();

impl Offence {
    /// The decayed count of bans at `now`, for a half-life in seconds.
    pub fn level(&self, now: u32, half_life: u32) -> f32 {
        let age = now.saturating_sub(self.level_secs) as f32;
        self.level * (-age * std::f32::consts::LN_2 / half_life.max(1) as f32).exp()
    }

    pub fn banned(&self, now: u32) -> bool {
        now < self.banned_until
    }
}

/// The addresses blocked before, capped; the least offending go first.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Offenders {
    map: FxHashMap<u64, Offence>,
    #[serde(skip)]
    max_keys: usize,
    #[serde(skip)]
    evicted: Evictions,
}

impl Offenders {
    pub fn new(max_keys: usize) -> Offenders {
        Offenders {
            map: FxHashMap::default(),
            max_keys: max_keys.max(1),
            evicted: Evictions::default(),
        }
    }

    pub fn get(&self, key: u64) -> Option<&Offence> {
        self.map.get(&key)
    }

    /// Records a new ban of `key` at `now`, its length chosen by `ban_secs`
    /// from the decayed count of bans before it (0 for a first offence).
    /// Returns the count, this ban included, and when the ban ends.
    pub fn ban(
        &mut self,
        key: u64,
        now: u32,
        half_life: u32,
        ban_secs: impl FnOnce(f32) -> u32,
    ) -> (f32, u32) {
        if self.map.len() >= self.max_keys && !self.map.contains_key(&key) {
            self.make_room(now, half_life);
        }
        let o = self.map.entry(key).or_default();
        let before = o.level(now, half_life);
        o.level = before + 1.0;
        o.level_secs = now;
        o.banned_until = now.saturating_add(ban_secs(before)).max(o.banned_until);
        (o.level, o.banned_until)
    }

    /// Drops records whose count has decayed below a twentieth of a ban and
    /// whose ban has ended.
    pub fn expire(&mut self, now: u32, half_life: u32) {
        self.evicted.age += retain_counted(&mut self.map, |_, o| {
            o.banned(now) || o.level(now, half_life) >= 0.05
        });
    }

    fn make_room(&mut self, now: u32, half_life: u32) {
        self.expire(now, half_life);
        if self.map.len() < self.max_keys {
            return;
        }
        let mut levels: Vec<f32> = self.map.values().map(|o| o.level(now, half_life)).collect();
        let cut = levels.len() / 10;
        let (_, nth, _) = levels.select_nth_unstable_by(cut, f32::total_cmp);
        let nth = *nth;
        self.evicted.cap += retain_counted(&mut self.map, |_, o| o.level(now, half_life) > nth);
    }

    pub fn restore_from(&mut self, saved: Offenders) {
        self.map = saved.map;
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn evictions(&self) -> Evictions {
        self.evicted
    }

    pub fn heap_bytes(&self) -> usize {
        self.map.capacity() * (OFFENCE_ENTRY_BYTES + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: [u32; WINDOWS] = [10, 600, 3600, 86_400];

    #[test]
    fn failures_are_counted_exactly_per_window_up_to_the_ring() {
        let mut t = SourceTable::new(10);
        for s in [1_000, 1_100, 1_500, 3_000, 4_000] {
            t.fail(7, s, 86_400);
        }
        let tally = *t.get(7).unwrap();
        assert_eq!(tally.failures(4_000, &W), [1, 1, 5, 5]);
        assert_eq!(tally.failures(4_599, &W), [0, 1, 5, 5]);
        assert_eq!(
            tally.failures(4_600, &W),
            [0, 0, 4, 5],
            "a window is open at its far end"
        );
        for s in 0..40 {
            t.fail(7, 5_000 + s, 86_400);
        }
        assert_eq!(t.get(7).unwrap().failures(5_040, &W), [9, 16, 16, 16]);
        assert_eq!(t.clear_failures(7, 5_040, 600).len(), 16);
        assert_eq!(t.get(7).unwrap().failures(5_040, &W), [0; WINDOWS]);
    }

    #[test]
    fn successes_decay_per_window_and_only_sources_that_failed_are_credited() {
        let mut t = SourceTable::new(10);
        t.succeed(1, 100, &W);
        assert!(t.get(1).is_none());
        t.fail(1, 100, 86_400);
        for s in 0..10 {
            t.succeed(1, 100 + s, &W);
        }
        let ok = t.get(1).unwrap().successes(109 + 600, &W);
        assert!(ok[0] < 1e-6, "{ok:?}");
        assert!((3.6..3.8).contains(&ok[1]), "{ok:?}: one mean life later");
        assert!(ok[3] > 9.8, "{ok:?}");
    }

    #[test]
    fn tables_stay_within_their_cap() {
        let mut t = SourceTable::new(100);
        for k in 0..1_000u64 {
            t.fail(k, k as u32 + 1, 86_400);
            assert!(t.len() <= 100);
        }
        assert!(t.get(999).is_some(), "the newest stays");
        assert!(t.evictions().cap >= 900);
        t.expire(1_000 + 86_400 + 1, 86_400);
        assert!(t.is_empty());
    }

    #[test]
    fn bans_grow_with_the_decayed_count_and_records_fade() {
        let day = 86_400;
        let mut o = Offenders::new(10);
        let ban = |before: f32| (600.0 * 2f32.powf(before)) as u32;
        assert_eq!(o.ban(1, 1_000, 2 * day, ban), (1.0, 1_600));
        let (level, until) = o.ban(1, 2_000, 2 * day, ban);
        assert!((1.99..2.0).contains(&level), "{level}");
        assert!((3_190..3_200).contains(&until), "{until}: twice the first");
        assert!(o.get(1).unwrap().banned(3_000));
        let later = 2_000 + 2 * day;
        assert!((0.99..1.0).contains(&o.get(1).unwrap().level(later, 2 * day)));
        o.expire(2_000 + 12 * day, 2 * day);
        assert!(o.is_empty(), "forgotten once the count fades");
    }
}
