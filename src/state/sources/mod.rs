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

use crate::state::prefilter::Prefilter;
use crate::state::{retain_counted, Evictions};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// Failure times kept per source.
pub const RING: usize = 16;
/// Of those, the places held in the tally itself: most failing sources fail
/// a few times (a typo, a user who gives up), so the rest of the ring is
/// made apart only for a source that fails more, and a tally fits in one
/// 64-byte cache line with its key.
const NEAR: usize = 4;
/// The windows failures and successes are counted over (the model names
/// their lengths).
pub const WINDOWS: usize = 4;

/// The ring's places past [`NEAR`], made at a source's fifth failure.
type Far = [u32; RING - NEAR];

/// One source's recent sign-ins.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "SavedTally", into = "SavedTally")]
pub struct Tally {
    /// Event times (seconds) of the latest failures, the ring's first
    /// [`NEAR`] places; 0 marks an empty place.
    near: [u32; NEAR],
    /// The ring's other places, once the source has failed more.
    far: Option<Box<Far>>,
    /// Where the next failure goes.
    next: u8,
    /// Successes let through, decayed by each window's mean life to `ok_secs`.
    ok: [f32; WINDOWS],
    ok_secs: u32,
    /// The latest failure or success: what expiry and the cap go by.
    last_secs: u32,
}

const _: () = assert!(std::mem::size_of::<(u64, Tally)>() == 64);

/// A tally as checkpoints hold it: the whole ring in one array, as before
/// the ring was split, so checkpoints keep their format.
#[derive(Serialize, Deserialize)]
struct SavedTally {
    failures: [u32; RING],
    next: u8,
    ok: [f32; WINDOWS],
    ok_secs: u32,
    last_secs: u32,
}

impl From<SavedTally> for Tally {
    fn from(t: SavedTally) -> Tally {
        let mut near = [0; NEAR];
        near.copy_from_slice(&t.failures[..NEAR]);
        let mut far: Far = [0; RING - NEAR];
        far.copy_from_slice(&t.failures[NEAR..]);
        Tally {
            near,
            far: (far != [0; RING - NEAR]).then(|| Box::new(far)),
            next: t.next % RING as u8,
            ok: t.ok,
            ok_secs: t.ok_secs,
            last_secs: t.last_secs,
        }
    }
}

impl From<Tally> for SavedTally {
    fn from(t: Tally) -> SavedTally {
        let mut failures = [0; RING];
        failures[..NEAR].copy_from_slice(&t.near);
        if let Some(far) = &t.far {
            failures[NEAR..].copy_from_slice(&far[..]);
        }
        SavedTally {
            failures,
            next: t.next,
            ok: t.ok,
            ok_secs: t.ok_secs,
            last_secs: t.last_secs,
        }
    }
}

/// Bytes of one entry in a source table (key and tally).
pub const ENTRY_BYTES: usize = std::mem::size_of::<(u64, Tally)>();

/// Bytes a source that failed more than [`NEAR`] times holds outside its
/// table: the rest of its ring.
pub const FAR_BYTES: usize = std::mem::size_of::<Far>();

impl Tally {
    /// Every failure time held, empty places (0) included.
    fn times(&self) -> impl Iterator<Item = u32> + '_ {
        self.near
            .iter()
            .chain(self.far.iter().flat_map(|f| f.iter()))
            .copied()
    }

    /// A failure dated `at`, counted at `now` (later, for a late event): it
    /// ages from its own time, and the latest time never moves back.
    fn fail(&mut self, at: u32, now: u32) {
        let t = at.min(now).max(1);
        let i = self.next as usize;
        if i < NEAR {
            self.near[i] = t;
        } else {
            self.far.get_or_insert_with(Box::default)[i - NEAR] = t;
        }
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
        // Each part in a plain loop: read for most events, and a chained
        // iterator over the two costs more than the loop's work.
        let mut out = [0; WINDOWS];
        let mut count = |times: &[u32]| {
            for &t in times {
                if t == 0 {
                    continue;
                }
                let age = now.saturating_sub(t);
                for (n, &w) in out.iter_mut().zip(windows) {
                    *n += u32::from(age < w);
                }
            }
        };
        count(&self.near);
        if let Some(far) = &self.far {
            count(&far[..]);
        }
        out
    }

    /// Failures within `window` seconds before `now`.
    pub fn failures_within(&self, now: u32, window: u32) -> u32 {
        let count = |times: &[u32]| {
            times
                .iter()
                .filter(|&&t| t != 0 && now.saturating_sub(t) < window)
                .count() as u32
        };
        count(&self.near) + self.far.as_deref().map_or(0, |f| count(&f[..]))
    }

    /// Let-through successes per window, decayed to `now`.
    pub fn successes(&self, now: u32, windows: &[u32; WINDOWS]) -> [f32; WINDOWS] {
        let age = now.saturating_sub(self.ok_secs) as f32;
        let mut out = self.ok;
        // Most failing sources were never let through: no decay to compute.
        if age > 0.0 && out != [0.0; WINDOWS] {
            for (ok, &w) in out.iter_mut().zip(windows) {
                *ok *= (-age / w.max(1) as f32).exp();
            }
        }
        out
    }

    fn clear_failures(&mut self) {
        self.near = [0; NEAR];
        self.far = None;
        self.next = 0;
    }

    /// Forgets one failure at exactly `at`, if it holds one.
    fn forget_failure_at(&mut self, at: u32) {
        let far = self.far.iter_mut().flat_map(|f| f.iter_mut());
        if let Some(t) = self.near.iter_mut().chain(far).find(|t| **t == at) {
            *t = 0;
        }
    }

    /// Bytes it holds apart from its table entry.
    fn held_bytes(&self) -> usize {
        if self.far.is_some() {
            FAR_BYTES
        } else {
            0
        }
    }
}

/// What an entry holds outside its table, for [`Capped::heap_bytes`].
pub trait Held {
    fn held_bytes(&self) -> usize {
        0
    }
}

impl Held for Tally {
    fn held_bytes(&self) -> usize {
        Tally::held_bytes(self)
    }
}

/// 64-bit keys to entries, at most `max_keys` of them, for the two tables
/// below: what they share (the cap, what goes when it is reached, sizes and
/// checkpoints); what an entry means is theirs.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Capped<V> {
    map: FxHashMap<u64, V>,
    /// A bit per key in `map`, for a table most lookups miss and too large
    /// to stay in cache; `None` for a small one, which the filter would
    /// only slow.
    #[serde(skip)]
    filter: Option<Box<Prefilter>>,
    #[serde(skip)]
    max_keys: usize,
    #[serde(skip)]
    evicted: Evictions,
    /// Bytes the entries hold outside the table ([`Held`]).
    #[serde(skip)]
    held: usize,
}

impl<V: Held> Capped<V> {
    fn new(max_keys: usize, filtered: bool) -> Capped<V> {
        Capped {
            map: FxHashMap::default(),
            filter: filtered.then(Box::default),
            max_keys: max_keys.max(1),
            evicted: Evictions::default(),
            held: 0,
        }
    }

    /// Sizes the table for `n` keys (at most the cap) now, so it does not
    /// grow (rehashing every key at once) until it holds more.
    pub fn presize(&mut self, n: usize) {
        let more = n.min(self.max_keys).saturating_sub(self.map.len());
        self.map.reserve(more);
    }

    /// Counts what the entries hold outside the table again, after some went.
    fn recount(&mut self) {
        self.held = self.map.values().map(Held::held_bytes).sum();
    }

    #[inline]
    pub fn get(&self, key: u64) -> Option<&V> {
        if self.filter.as_ref().is_some_and(|f| !f.may_contain(key)) {
            return None;
        }
        self.map.get(&key)
    }

    /// Starts fetching what [`Capped::get`] of `key` reads first.
    #[inline]
    pub fn prefetch(&self, key: u64) {
        if let Some(f) = &self.filter {
            f.prefetch(key);
        }
    }

    #[inline]
    fn get_mut(&mut self, key: u64) -> Option<&mut V> {
        if self.filter.as_ref().is_some_and(|f| !f.may_contain(key)) {
            return None;
        }
        self.map.get_mut(&key)
    }

    /// Clears the bits of keys no longer in the table.
    fn refilter(&mut self) {
        if let Some(f) = &mut self.filter {
            f.rebuild(self.map.keys().copied());
        }
    }

    /// The entry for `key`, made (with `V::default()`) if it is new. At the
    /// cap, the entries `alive` rejects go first, then the tenth lowest by
    /// `rank`, so the new one always has room. With it, the count of bytes
    /// held outside the table, for the caller to keep up to date.
    fn entry(
        &mut self,
        key: u64,
        alive: impl Fn(&V) -> bool,
        rank: impl Fn(&V) -> f64,
    ) -> (&mut V, &mut usize)
    where
        V: Default,
    {
        if self.map.len() >= self.max_keys && !self.map.contains_key(&key) {
            self.expire(&alive);
            if self.map.len() >= self.max_keys {
                let mut ranks: Vec<f64> = self.map.values().map(&rank).collect();
                let cut = ranks.len() / 10;
                let (_, nth, _) = ranks.select_nth_unstable_by(cut, f64::total_cmp);
                let nth = *nth;
                self.evicted.cap += retain_counted(&mut self.map, |_, v| rank(v) > nth);
                self.refilter();
                self.recount();
            }
        }
        if self.filter.as_mut().is_some_and(|f| f.insert(key)) {
            self.refilter();
            if let Some(f) = &mut self.filter {
                f.insert(key);
            }
        }
        (self.map.entry(key).or_default(), &mut self.held)
    }

    /// Drops the entries `alive` rejects.
    fn expire(&mut self, alive: impl Fn(&V) -> bool) {
        self.evicted.age += retain_counted(&mut self.map, |_, v| alive(v));
        self.refilter();
        self.recount();
    }

    /// Takes a checkpoint's entries, keeping this table's cap.
    pub fn restore_from(&mut self, saved: Capped<V>) {
        self.map = saved.map;
        self.refilter();
        self.recount();
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

    /// Bytes held, counting the table's spare capacity and what its
    /// entries hold outside it.
    pub fn heap_bytes(&self) -> usize {
        self.map.capacity() * (std::mem::size_of::<(u64, V)>() + 1)
            + self.filter.as_ref().map_or(0, |_| Prefilter::BYTES)
            + self.held
    }
}

/// The tallies of one kind of source: the idlest go first.
pub type SourceTable = Capped<Tally>;

impl SourceTable {
    pub fn tallies(max_keys: usize) -> SourceTable {
        Capped::new(max_keys, true)
    }

    /// Counts a failure of `key` at `now`. At the cap, sources idle past
    /// `horizon` seconds go, then the idlest tenth.
    pub fn fail(&mut self, key: u64, now: u32, horizon: u32) -> &Tally {
        self.fail_at(key, now, now, horizon)
    }

    /// [`SourceTable::fail`] for a failure dated `at`, before `now` when the
    /// event came late.
    pub fn fail_at(&mut self, key: u64, at: u32, now: u32, horizon: u32) -> &Tally {
        let since = now.saturating_sub(horizon);
        let (t, held) = self.entry(key, |t| t.last_secs >= since, |t| t.last_secs as f64);
        let before = t.held_bytes();
        t.fail(at, now);
        *held += t.held_bytes() - before;
        t
    }

    /// Forgets a source's failures (the user it stands for signed in).
    /// The times of those within `window` seconds before `now` are written
    /// to `times`; returns how many. A tally with no successes (one user's
    /// from one address is never credited any) then holds nothing, and goes:
    /// most users who mistype sign in a moment later.
    pub fn clear_failures(
        &mut self,
        key: u64,
        now: u32,
        window: u32,
        times: &mut [u32; RING],
    ) -> usize {
        if self.filter.as_ref().is_some_and(|f| !f.may_contain(key)) {
            return 0;
        }
        // One probe, for the read and the removal.
        let std::collections::hash_map::Entry::Occupied(mut o) = self.map.entry(key) else {
            return 0;
        };
        let t = o.get_mut();
        let mut n = 0;
        for at in t.times() {
            if at != 0 && now.saturating_sub(at) < window {
                times[n] = at;
                n += 1;
            }
        }
        self.held -= t.held_bytes();
        if t.ok == [0.0; WINDOWS] {
            o.remove();
        } else {
            t.clear_failures();
        }
        n
    }

    /// A success from a source that has failed recently (a source without a
    /// tally has nothing to forget or credit): forgets one failure at each
    /// of `typos` (failures another table proved to be typos) and, when
    /// given the time, credits the success.
    pub fn resolve(&mut self, key: u64, typos: &[u32], credit: Option<(u32, &[u32; WINDOWS])>) {
        let Some(t) = self.get_mut(key) else {
            return;
        };
        for &at in typos {
            t.forget_failure_at(at);
        }
        if let Some((now, windows)) = credit {
            t.succeed(now, windows);
        }
    }

    /// Drops sources idle for `horizon` seconds.
    pub fn forget_idle(&mut self, now: u32, horizon: u32) {
        let since = now.saturating_sub(horizon);
        self.expire(|t| t.last_secs >= since);
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

impl Held for Offence {}

impl Offence {
    /// The decayed count of bans at `now`, for a half-life in seconds.
    pub fn level(&self, now: u32, half_life: u32) -> f32 {
        let age = now.saturating_sub(self.level_secs) as f32;
        self.level * (-age * std::f32::consts::LN_2 / half_life.max(1) as f32).exp()
    }

    pub fn banned(&self, now: u32) -> bool {
        now < self.banned_until
    }

    /// Whether the record still says anything: a ban in force, or a count
    /// of at least a twentieth of a ban.
    fn alive(&self, now: u32, half_life: u32) -> bool {
        self.banned(now) || self.level(now, half_life) >= 0.05
    }
}

/// The addresses banned before: the least offending go first.
pub type Offenders = Capped<Offence>;

impl Offenders {
    pub fn records(max_keys: usize) -> Offenders {
        Capped::new(max_keys, false)
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
        let (o, _) = self.entry(
            key,
            |o| o.alive(now, half_life),
            |o| o.level(now, half_life) as f64,
        );
        let before = o.level(now, half_life);
        o.level = before + 1.0;
        o.level_secs = now;
        o.banned_until = now.saturating_add(ban_secs(before)).max(o.banned_until);
        (o.level, o.banned_until)
    }

    /// Drops records whose ban has ended and whose count has faded below a
    /// twentieth of a ban.
    pub fn forget_faded(&mut self, now: u32, half_life: u32) {
        self.expire(|o| o.alive(now, half_life));
    }
}

#[cfg(test)]
mod tests;
