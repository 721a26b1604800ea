//! Fraud marks: the feature values of sign-ins that feedback reported as
//! fraudulent, per user, so the same device, network or country counts against
//! that user afterwards (`reported_fraud`). A handful of marks per user, aged
//! out after the model's forget horizon; the number of users is capped.

use crate::state::{retain_counted, Evictions};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// Marks kept per user; a further one replaces the oldest.
pub const MARKS_PER_USER: usize = 8;

/// A feature of a sign-in that state remembers, named in feedback effects and
/// reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    Device,
    Network,
    Country,
    Asn,
    Browser,
    Os,
    /// The hour of day.
    Hour,
    /// Where and when the user last signed in (impossible travel's origin).
    Place,
}

impl Feature {
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::Device => "device",
            Feature::Network => "network",
            Feature::Country => "country",
            Feature::Asn => "asn",
            Feature::Browser => "browser",
            Feature::Os => "os",
            Feature::Hour => "hour",
            Feature::Place => "place",
        }
    }
}

/// One reported value: 8 bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Mark {
    /// `Feature as u8 + 1`; 0 = empty slot.
    feature: u8,
    /// Day (since the epoch) of the report.
    day: u16,
    /// The value's 32-bit fingerprint, as in the profile.
    id: u32,
}

type Marks = [Mark; MARKS_PER_USER];

/// Bytes of one user's entry in the marks table (key and marks).
pub const USER_ENTRY_BYTES: usize = std::mem::size_of::<(u64, Marks)>();

fn tag(f: Feature) -> u8 {
    f as u8 + 1
}

/// Fraud marks per user key, for at most `max_users` users. A checkpoint
/// holds the marks; the cap is configuration and not written.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct FraudMarks {
    users: FxHashMap<u64, Marks>,
    #[serde(skip)]
    max_users: usize,
    #[serde(skip)]
    evicted: Evictions,
}

impl FraudMarks {
    pub fn new(max_users: usize) -> FraudMarks {
        FraudMarks {
            users: FxHashMap::default(),
            max_users: max_users.max(1),
            evicted: Evictions::default(),
        }
    }

    /// Marks `id` of `feature` as reported for `user` on `day`. A value marked
    /// again is renewed; a full user's oldest mark makes room.
    pub fn mark(&mut self, user: u64, feature: Feature, id: u32, day: u16) {
        if self.users.len() >= self.max_users && !self.users.contains_key(&user) {
            self.make_room();
        }
        let marks = self.users.entry(user).or_default();
        let t = tag(feature);
        let slot = match marks.iter().position(|m| m.feature == t && m.id == id) {
            Some(i) => i,
            None => {
                // Empty slots have feature 0 and sort first by (used, day).
                let mut best = 0;
                for (i, m) in marks.iter().enumerate() {
                    let key = (m.feature != 0, m.day);
                    if key < (marks[best].feature != 0, marks[best].day) {
                        best = i;
                    }
                }
                best
            }
        };
        marks[slot] = Mark {
            feature: t,
            day,
            id,
        };
    }

    /// Removes the mark of `id` of `feature` for `user`; whether there was one.
    pub fn unmark(&mut self, user: u64, feature: Feature, id: u32) -> bool {
        let Some(marks) = self.users.get_mut(&user) else {
            return false;
        };
        let t = tag(feature);
        let Some(m) = marks.iter_mut().find(|m| m.feature == t && m.id == id) else {
            return false;
        };
        *m = Mark::default();
        if marks.iter().all(|m| m.feature == 0) {
            self.users.remove(&user);
        }
        true
    }

    /// The user's marks, for checking an event's values; `None` for a user
    /// without any (one probe of a map that is usually empty or small).
    pub fn of(&self, user: u64) -> Option<UserMarks<'_>> {
        if self.users.is_empty() {
            return None;
        }
        self.users.get(&user).map(UserMarks)
    }

    /// Drops marks made before `horizon_day` and users left without any.
    pub fn expire(&mut self, horizon_day: u16) {
        self.evicted.age += retain_counted(&mut self.users, |_, marks| {
            for m in marks.iter_mut() {
                if m.day < horizon_day {
                    *m = Mark::default();
                }
            }
            marks.iter().any(|m| m.feature != 0)
        });
    }

    /// At the cap: about a tenth of users go, those whose latest mark is
    /// oldest first (of users last marked on the same day, arbitrary ones).
    fn make_room(&mut self) {
        let newest = |marks: &Marks| marks.iter().map(|m| m.day).max().unwrap_or(0);
        let room = self.max_users - 1;
        let cut = self.users.len().saturating_sub(room - room / 10).max(1);
        let mut days: Vec<u16> = self.users.values().map(newest).collect();
        let (_, t, _) = days.select_nth_unstable(cut - 1);
        let t = *t;
        let mut drop_at_t = cut - days.iter().filter(|&&d| d < t).count();
        self.evicted.cap += retain_counted(&mut self.users, |_, marks| {
            let day = newest(marks);
            if day == t && drop_at_t > 0 {
                drop_at_t -= 1;
                return false;
            }
            day >= t
        });
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn evictions(&self) -> Evictions {
        self.evicted
    }

    /// Takes the marks of `saved` (a checkpoint's), keeping this cap.
    pub fn restore_from(&mut self, saved: FraudMarks) {
        self.users = saved.users;
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    pub fn heap_bytes(&self) -> usize {
        self.users.capacity() * (std::mem::size_of::<(u64, Marks)>() + 1)
    }
}

/// One user's marks.
#[derive(Debug, Clone, Copy)]
pub struct UserMarks<'a>(&'a Marks);

impl UserMarks<'_> {
    /// The day `id` of `feature` was reported, if it was on or after
    /// `horizon_day`.
    pub fn reported(&self, feature: Feature, id: u32, horizon_day: u16) -> Option<u16> {
        let t = tag(feature);
        self.0
            .iter()
            .find(|m| m.feature == t && m.id == id && m.day >= horizon_day)
            .map(|m| m.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_is_found_until_it_ages_out_or_is_removed() {
        let mut f = FraudMarks::new(10);
        assert!(f.of(1).is_none());
        f.mark(1, Feature::Device, 42, 100);
        let m = f.of(1).unwrap();
        assert_eq!(m.reported(Feature::Device, 42, 0), Some(100));
        assert_eq!(m.reported(Feature::Network, 42, 0), None, "per feature");
        assert_eq!(m.reported(Feature::Device, 43, 0), None);
        assert_eq!(m.reported(Feature::Device, 42, 101), None, "too old");
        assert!(f.of(2).is_none(), "per user");
        assert!(f.unmark(1, Feature::Device, 42));
        assert!(!f.unmark(1, Feature::Device, 42));
        assert!(f.is_empty(), "a user without marks is dropped");
    }

    #[test]
    fn a_full_user_replaces_the_oldest_mark_and_renews_a_repeated_one() {
        let mut f = FraudMarks::new(10);
        for i in 0..MARKS_PER_USER as u32 {
            f.mark(1, Feature::Network, i, 100 + i as u16);
        }
        f.mark(1, Feature::Network, 0, 200);
        f.mark(1, Feature::Country, 99, 201);
        let m = f.of(1).unwrap();
        assert_eq!(m.reported(Feature::Network, 0, 0), Some(200), "renewed");
        assert_eq!(m.reported(Feature::Network, 1, 0), None, "the oldest went");
        assert_eq!(m.reported(Feature::Network, 2, 0), Some(102));
        assert_eq!(m.reported(Feature::Country, 99, 0), Some(201));
    }

    #[test]
    fn expiry_and_the_user_cap() {
        let mut f = FraudMarks::new(10);
        for u in 0..10u64 {
            f.mark(u, Feature::Device, 1, 10 + u as u16);
        }
        f.mark(100, Feature::Device, 1, 50);
        assert!(f.len() <= 10, "{}", f.len());
        assert!(f.of(0).is_none(), "the user marked longest ago went");
        assert!(f.of(9).is_some() && f.of(100).is_some());
        f.expire(15);
        assert!(f.of(4).is_none() && f.of(5).is_some());
        let mut same_day = FraudMarks::new(5);
        for u in 0..50u64 {
            same_day.mark(u, Feature::Device, 1, 7);
            assert!(same_day.len() <= 5);
        }
        assert!(same_day.of(49).is_some(), "the newest is kept");
    }
}
