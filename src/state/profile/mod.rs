//! Per-user profiles: the habits a user's successful sign-ins taught.
//!
//! A profile is 196 bytes: a handful of habit slots per feature (devices,
//! countries, ASNs, networks, browser and OS families) and the time and place of
//! the last successful sign-in. Slots age: a habit's weight halves every
//! `half_life_days` without use, a habit unused for `forget_after_days` is gone,
//! and a full feature replaces its lightest habit. Only successes and feedback
//! write here (a fraudulent verdict forgets the reported values); failures and
//! attempts never do.

use crate::state::index::KeyIndex;
use crate::state::Evictions;
use serde::{Deserialize, Serialize};

/// One remembered value of a feature.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Habit {
    /// The value's 32-bit fingerprint (0 = empty slot).
    pub id: u32,
    /// Day (since the epoch) the value was last seen.
    pub last_day: u16,
    /// How often it was seen, in 1/16ths, decayed to `last_day`.
    pub weight: u16,
}

/// How habits age. Part of the model parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Ageing {
    pub half_life_days: f32,
    pub forget_after_days: u16,
    /// Decay factor per age in days, `0.5^(age / half_life)`, up to the forget
    /// horizon: the hot path reads a habit's weight for every feature of every
    /// event, and a table is much cheaper than `exp`.
    decay: Box<[f32]>,
}

impl Ageing {
    pub fn new(half_life_days: f32, forget_after_days: u16) -> Ageing {
        let decay = (0..forget_after_days)
            .map(|age| (-(age as f32) * std::f32::consts::LN_2 / half_life_days).exp())
            .collect();
        Ageing {
            half_life_days,
            forget_after_days,
            decay,
        }
    }
}

const WEIGHT_UNIT: f32 = 16.0;

impl Habit {
    /// The weight today, in sightings.
    pub fn weight_on(&self, day: u16, ageing: &Ageing) -> f32 {
        if self.id == 0 {
            return 0.0;
        }
        let age = day.saturating_sub(self.last_day) as usize;
        match ageing.decay.get(age) {
            Some(factor) => self.weight as f32 / WEIGHT_UNIT * factor,
            None => 0.0,
        }
    }
}

/// The habits of one feature: N slots.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Habits<const N: usize>(pub [Habit; N]);

impl<const N: usize> Default for Habits<N> {
    fn default() -> Self {
        Habits([Habit::default(); N])
    }
}

// serde implements arrays only for literal lengths; a habit list is a tuple of
// its N slots (no length written, none allocated when read back).
impl<const N: usize> Serialize for Habits<N> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(N)?;
        for h in &self.0 {
            t.serialize_element(h)?;
        }
        t.end()
    }
}

impl<'de, const N: usize> Deserialize<'de> for Habits<N> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Slots<const N: usize>;
        impl<'de, const N: usize> serde::de::Visitor<'de> for Slots<N> {
            type Value = Habits<N>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "{N} habits")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Habits<N>, A::Error> {
                let mut out = Habits::<N>::default();
                for (i, h) in out.0.iter_mut().enumerate() {
                    *h = seq
                        .next_element()?
                        .ok_or_else(|| serde::de::Error::invalid_length(i, &self))?;
                }
                Ok(out)
            }
        }
        d.deserialize_tuple(N, Slots::<N>)
    }
}

impl<const N: usize> Habits<N> {
    /// (weight of `id`, total weight of the feature) today, in sightings.
    pub fn lookup(&self, id: u32, day: u16, ageing: &Ageing) -> (f32, f32) {
        let mut this = 0.0;
        let mut total = 0.0;
        for h in &self.0 {
            let w = h.weight_on(day, ageing);
            total += w;
            if h.id == id && id != 0 {
                this = w;
            }
        }
        (this, total)
    }

    /// Records one sighting of `id` today.
    pub fn learn(&mut self, id: u32, day: u16, ageing: &Ageing) {
        let id = id.max(1); // 0 marks an empty slot
        let slot = match self.0.iter().position(|h| h.id == id) {
            Some(i) => i,
            None => {
                // The lightest (or forgotten, or empty) habit makes room.
                let mut best = 0;
                let mut best_w = f32::INFINITY;
                for (i, h) in self.0.iter().enumerate() {
                    let w = h.weight_on(day, ageing);
                    if w < best_w {
                        best = i;
                        best_w = w;
                    }
                }
                self.0[best] = Habit {
                    id,
                    last_day: day,
                    weight: 0,
                };
                best
            }
        };
        let h = &mut self.0[slot];
        let w = h.weight_on(day, ageing) + 1.0;
        h.weight = (w * WEIGHT_UNIT).min(u16::MAX as f32) as u16;
        h.last_day = day;
    }

    /// Forgets `id` (a value reported as an attacker's): its slot is emptied.
    /// Whether it was there.
    pub fn forget(&mut self, id: u32) -> bool {
        let id = id.max(1); // as `learn` stores it
        match self.0.iter_mut().find(|h| h.id == id) {
            Some(h) => {
                *h = Habit::default();
                true
            }
            None => false,
        }
    }
}

/// Where and when the user last signed in successfully.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LastSuccess {
    /// Seconds since the epoch; 0 = never.
    pub secs: u32,
    /// NaN when the sign-in had no location.
    pub latitude: f32,
    pub longitude: f32,
    /// The GeoIP database's accuracy radius for that sign-in.
    pub accuracy_km: u16,
    /// ISO country code bytes; zeros when unknown.
    pub country: [u8; 2],
}

impl Default for LastSuccess {
    fn default() -> LastSuccess {
        LastSuccess {
            secs: 0,
            latitude: f32::NAN,
            longitude: f32::NAN,
            accuracy_km: 0,
            country: [0; 2],
        }
    }
}

impl LastSuccess {
    pub fn has_location(&self) -> bool {
        self.latitude.is_finite() && self.longitude.is_finite()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub last: LastSuccess,
    pub devices: Habits<4>,
    pub countries: Habits<4>,
    pub asns: Habits<4>,
    pub networks: Habits<4>,
    pub browsers: Habits<3>,
    pub oses: Habits<3>,
    pub hours: Hours,
}

/// The UTC hours a user signs in during (bits 0-23) and how many successful
/// sign-ins taught them (bits 24-31, saturating at 255), in one word.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hours(pub u32);

impl Hours {
    pub fn mask(self) -> u32 {
        self.0 & 0x00ff_ffff
    }

    pub fn sign_ins(self) -> u32 {
        self.0 >> 24
    }

    pub fn learn(&mut self, hour: u32) {
        let count = (self.sign_ins() + 1).min(255);
        self.0 = count << 24 | self.mask() | 1 << (hour % 24);
    }
}

impl Profile {
    /// Whether `hour` (UTC) is more than `tolerance` hours from every hour the
    /// user has signed in during, once the user has `min_sign_ins` to judge by.
    pub fn unusual_hour(&self, hour: u32, tolerance: u32, min_sign_ins: u32) -> bool {
        if self.hours.sign_ins() < min_sign_ins {
            return false;
        }
        let near =
            (0..=2 * tolerance).fold(0u32, |m, d| m | 1 << ((hour + 24 - tolerance + d) % 24));
        self.hours.mask() & near == 0
    }

    /// The day of the most recent habit: what the store ages whole profiles by.
    pub fn last_day(&self) -> u16 {
        (self.last.secs / 86_400) as u16
    }
}

/// Profiles per chunk: chunks never move or grow, so the store never copies its
/// profiles to grow and wastes at most one partly filled chunk (12 MiB).
const CHUNK: usize = 1 << 16;

/// Profiles in fixed-size chunks, addressed by a dense 32-bit index.
#[derive(Debug, Default)]
struct Chunks {
    chunks: Vec<Vec<Profile>>,
    len: usize,
}

impl Chunks {
    fn get(&self, i: u32) -> &Profile {
        &self.chunks[i as usize / CHUNK][i as usize % CHUNK]
    }

    fn get_mut(&mut self, i: u32) -> &mut Profile {
        &mut self.chunks[i as usize / CHUNK][i as usize % CHUNK]
    }

    fn push(&mut self, p: Profile) -> u32 {
        if self.len == self.chunks.len() * CHUNK {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        self.chunks[self.len / CHUNK].push(p);
        self.len += 1;
        (self.len - 1) as u32
    }

    fn iter(&self) -> impl Iterator<Item = &Profile> {
        self.chunks.iter().flatten()
    }

    fn bytes(&self) -> usize {
        self.chunks.len() * CHUNK * std::mem::size_of::<Profile>()
    }
}

/// Every profile, keyed by the user's 64-bit key. Profiles sit in dense chunks
/// with a small index beside them ([`KeyIndex`]), so a profile costs its 196
/// bytes plus 17 to 34 of index, not a sparse map's worth of empty 200-byte
/// buckets.
#[derive(Debug, Default)]
pub struct ProfileStore {
    index: KeyIndex,
    profiles: Chunks,
    max_profiles: usize,
    evicted: Evictions,
}

impl ProfileStore {
    pub fn new(max_profiles: usize) -> ProfileStore {
        ProfileStore {
            max_profiles: max_profiles.clamp(1, u32::MAX as usize),
            ..Default::default()
        }
    }

    pub fn get(&self, key: u64) -> Option<&Profile> {
        self.index.get(key).map(|i| self.profiles.get(i))
    }

    /// Sizes the index for `n` profiles (at most the cap) now: see
    /// [`KeyIndex::presize`]. The profiles themselves are kept in chunks,
    /// which never move.
    pub fn presize(&mut self, n: usize) {
        self.index.presize(n.min(self.max_profiles));
    }

    /// Starts fetching the index's line for the user: the first step of
    /// [`ProfileStore::prefetch`], taken as soon as the user's key is known.
    #[inline]
    pub fn prefetch_index(&self, key: u64) {
        self.index.prefetch(key);
    }

    /// Starts fetching the user's profile, if there is one, into cache:
    /// the index is read now, the profile's lines arrive while the engine
    /// does other work (see [`crate::state::prefilter::prefetch`]).
    #[inline]
    pub fn prefetch(&self, key: u64) {
        if let Some(i) = self.index.get(key) {
            crate::state::prefilter::prefetch(self.profiles.get(i));
        }
    }

    pub fn get_mut(&mut self, key: u64) -> Option<&mut Profile> {
        self.index.get(key).map(|i| self.profiles.get_mut(i))
    }

    /// The user's profile, created empty if needed. At the cap, the tenth of
    /// profiles unused longest are dropped first.
    pub fn get_or_insert(&mut self, key: u64) -> &mut Profile {
        if let Some(i) = self.index.get(key) {
            return self.profiles.get_mut(i);
        }
        if self.profiles.len >= self.max_profiles {
            let keep = self.max_profiles - self.max_profiles / 10;
            self.evicted.cap += self.evict_to(keep, 0);
        }
        let i = self.profiles.push(Profile::default());
        self.index.insert(key, i);
        self.profiles.get_mut(i)
    }

    /// Drops profiles idle since before `forget_before_day`.
    pub fn expire(&mut self, forget_before_day: u16) {
        if self
            .profiles
            .iter()
            .any(|p| p.last_day() < forget_before_day)
        {
            self.evicted.age += self.evict_to(usize::MAX, forget_before_day);
        }
    }

    /// Keeps at most `keep` profiles, none idle since before `forget_before_day`;
    /// the idlest go first, and of profiles last used on the same day, only as
    /// many as there is room for stay. Returns how many went.
    fn evict_to(&mut self, keep: usize, forget_before_day: u16) -> u64 {
        let mut threshold = forget_before_day;
        let mut room_at_threshold = usize::MAX;
        if self.profiles.len > keep {
            let mut days: Vec<u16> = self.profiles.iter().map(Profile::last_day).collect();
            let cut = days.len() - keep;
            let (_, nth, _) = days.select_nth_unstable(cut);
            if *nth >= threshold {
                threshold = *nth;
                room_at_threshold = keep - days.iter().filter(|&&d| d > threshold).count();
            }
        }
        let mut kept = Chunks::default();
        let old = std::mem::take(&mut self.profiles);
        self.index.retain(|_, i| {
            let p = *old.get(*i);
            let day = p.last_day();
            if day < threshold || (day == threshold && room_at_threshold == 0) {
                return false;
            }
            if day == threshold {
                room_at_threshold = room_at_threshold.saturating_sub(1);
            }
            *i = kept.push(p);
            true
        });
        let gone = old.len - kept.len;
        self.profiles = kept;
        gone as u64
    }

    pub fn len(&self) -> usize {
        self.profiles.len
    }

    pub fn is_empty(&self) -> bool {
        self.profiles.len == 0
    }

    pub fn evictions(&self) -> Evictions {
        self.evicted
    }

    /// Bytes held: the chunks' capacity and the index's buckets.
    pub fn heap_bytes(&self) -> usize {
        self.profiles.bytes() + self.index.heap_bytes()
    }
}

/// For checkpoints: the profiles as a sequence of (user key, profile), written
/// straight from the store. The cap is configuration, not state: it is not
/// written, and [`ProfileStore::restore_from`] keeps the running one.
impl Serialize for ProfileStore {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The length first: the checkpoint's format needs it before the
        // entries, and the index's iterator cannot tell it.
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.index.len()))?;
        for (k, i) in self.index.iter() {
            seq.serialize_element(&(k, self.profiles.get(i)))?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for ProfileStore {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> serde::de::Visitor<'de> for Pairs {
            type Value = ProfileStore;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a sequence of (user key, profile)")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ProfileStore, A::Error> {
                let mut store = ProfileStore::new(usize::MAX);
                // The length is the writer's claim: trust it only so far.
                store
                    .index
                    .reserve(seq.size_hint().unwrap_or(0).min(1 << 20));
                while let Some((key, p)) = seq.next_element::<(u64, Profile)>()? {
                    if store.index.contains_key(key) {
                        return Err(serde::de::Error::custom(format_args!(
                            "user key {key:#x} twice"
                        )));
                    }
                    let i = store.profiles.push(p);
                    store.index.insert(key, i);
                }
                Ok(store)
            }
        }
        d.deserialize_seq(Pairs)
    }
}

impl ProfileStore {
    /// Takes the profiles of `saved` (a checkpoint's), keeping this store's
    /// cap; past the cap, the idlest go as they would at an insert.
    pub fn restore_from(&mut self, saved: ProfileStore) {
        self.index = saved.index;
        self.profiles = saved.profiles;
        if self.profiles.len > self.max_profiles {
            let keep = self.max_profiles - self.max_profiles / 10;
            self.evicted.cap += self.evict_to(keep, 0);
        }
    }
}

#[cfg(test)]
mod tests;
