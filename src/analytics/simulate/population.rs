//! The legitimate population: each user's habits (home network, devices, time
//! zone and waking hours, password, how often they sign in, MFA, a trip, an
//! office), drawn once per run from the seed.

use super::addresses::{AddressBook, Block, Net};
use super::geo;
use super::nat::Nat;
use super::passwords::{self, Password};
use super::random::{chance, normal, SimRng};
use super::useragents;
use rand::Rng;

pub(super) const MAX_DEVICES: usize = 4;

/// A few days in another country.
#[derive(Debug, Clone, Copy)]
pub(super) struct Trip {
    /// Run day (0-based) of the first day away, and of the last.
    pub first_day: u32,
    pub last_day: u32,
    pub country: u8,
    /// The hotel's (or friend's, or office's) network.
    pub lodging: Block,
}

#[derive(Debug, Clone)]
pub(super) struct User {
    pub country: u8,
    /// UTC offset at home, in minutes.
    pub offset_min: i16,
    /// Local hours [from, to) the user is awake and may sign in.
    pub active_from: u8,
    pub active_to: u8,
    pub home: Block,
    /// The home router's usual address, inside `home`.
    pub home_ip: u32,
    /// Device ids (never 0) and their user agents; the first is the one most used.
    pub devices: [u64; MAX_DEVICES],
    pub agents: [u8; MAX_DEVICES],
    pub n_devices: u8,
    pub password: Password,
    pub sha1: [u8; 20],
    /// Mean sign-ins per weekday.
    pub rate: f32,
    pub mfa: bool,
    pub trip: Option<Trip>,
    /// The office the user works in (an index into [`Nat::offices`]), if any.
    pub office: Option<u32>,
}

impl User {
    fn draw(rng: &mut SimRng, addrs: &AddressBook, nat: &Nat, users: u32, days: u32) -> User {
        let office = nat.join(rng, users);
        let (country, offset_min) = match office {
            Some(i) => (nat.office(i).country, nat.office(i).offset_min),
            None => {
                let country = geo::home_country(rng);
                (country, geo::utc_offset(rng, country))
            }
        };
        let home = addrs.block(rng, country, Net::Residential);
        let password = Password::draw(rng);
        let mut user = User {
            country,
            offset_min,
            active_from: rng.random_range(6..=9),
            active_to: rng.random_range(20..=24),
            home,
            home_ip: home.host(rng),
            devices: [0; MAX_DEVICES],
            agents: [0; MAX_DEVICES],
            n_devices: 0,
            password,
            sha1: passwords::sha1(&password.text()),
            // Log-normal: median one sign-in a day, four in five users between
            // 0.3 and 3, a long tail of heavy users.
            rate: (0.9 * normal(rng)).exp().clamp(0.02, 40.0) as f32,
            mfa: chance(rng, 0.25),
            trip: None,
            office,
        };
        let phone_first = chance(rng, 0.35);
        user.add_device(rng, phone_first);
        let extra = if chance(rng, 0.45) { 1 } else { 0 } + if chance(rng, 0.15) { 1 } else { 0 };
        for _ in 0..extra {
            let mobile = !user.has_mobile() || chance(rng, 0.3);
            user.add_device(rng, mobile);
        }
        // About one user in thirty travels during a week-long run.
        if chance(rng, f64::from(days.min(60)) * 0.005) {
            let first_day = rng.random_range(0..days);
            let length = rng.random_range(2..=6);
            let dest = geo::travel_country(rng, country);
            user.trip = Some(Trip {
                first_day,
                last_day: first_day + length - 1,
                country: dest,
                lodging: addrs.block(rng, dest, Net::Residential),
            });
        }
        user
    }

    /// A new device (a new phone, a cleared cookie jar): appended, or replacing
    /// the least used when the user already has the most we keep. Returns its slot.
    pub fn add_device(&mut self, rng: &mut SimRng, mobile: bool) -> usize {
        let slot = if usize::from(self.n_devices) < MAX_DEVICES {
            self.n_devices += 1;
            usize::from(self.n_devices) - 1
        } else {
            MAX_DEVICES - 1
        };
        self.devices[slot] = new_device_id(rng);
        self.agents[slot] = useragents::browser(rng, mobile);
        slot
    }

    pub fn has_mobile(&self) -> bool {
        self.agents[..usize::from(self.n_devices)]
            .iter()
            .any(|&a| useragents::is_mobile(a))
    }

    pub fn trip_on(&self, day: u32) -> Option<&Trip> {
        self.trip
            .as_ref()
            .filter(|t| (t.first_day..=t.last_day).contains(&day))
    }

    /// The country the user is in on `day`, and the UTC offset they live by.
    pub fn whereabouts(&self, day: u32) -> (u8, i16) {
        match self.trip_on(day) {
            Some(t) => (t.country, geo::main_offset(t.country)),
            None => (self.country, self.offset_min),
        }
    }
}

/// A device id: 64 random bits, never 0 (which means "none sent").
pub(super) fn new_device_id(rng: &mut SimRng) -> u64 {
    rng.random::<u64>() | 1
}

pub(super) fn build(
    rng: &mut SimRng,
    addrs: &AddressBook,
    nat: &Nat,
    users: u32,
    days: u32,
) -> Vec<User> {
    (0..users)
        .map(|_| User::draw(rng, addrs, nat, users, days))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn habits_are_plausible() {
        let addrs = AddressBook::new(None);
        let mut rng = SimRng::seed_from_u64(11);
        let nat = Nat::new(&mut rng, &addrs, 5000);
        let users = build(&mut rng, &addrs, &nat, 5000, 7);
        let rates: Vec<f32> = users.iter().map(|u| u.rate).collect();
        let typical = rates.iter().filter(|&&r| (0.3..=3.0).contains(&r)).count();
        assert!(typical > 3500 && typical < 4600, "{typical}");
        let travellers = users.iter().filter(|u| u.trip.is_some()).count();
        assert!((80..300).contains(&travellers), "{travellers}");
        for u in &users {
            assert!((1..=3).contains(&u.n_devices));
            assert!(u.devices[..u.n_devices as usize].iter().all(|&d| d != 0));
            assert!(u.home.base <= u.home_ip && u.home_ip < u.home.base + u.home.size);
            assert!(u.active_from >= 6 && u.active_to <= 24);
            if let Some(t) = u.trip {
                assert_ne!(t.country, u.country);
            }
            if let Some(o) = u.office {
                assert_eq!(nat.office(o).country, u.country);
            }
        }
        let workers = users.iter().filter(|u| u.office.is_some()).count();
        assert!((600..1100).contains(&workers), "{workers}");
    }
}
