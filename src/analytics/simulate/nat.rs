//! Addresses that crowds of legitimate users share: offices behind a few
//! corporate NAT addresses, and mobile carriers' carrier-grade NAT. A detector
//! counting users or failures per address sees these crowds every day, typos
//! and all, and must not take them for an attack.
//!
//! Drawn once per run from the seed, before the population: an office's
//! country and time zone become its members'.

use super::addresses::{AddressBook, Net};
use super::geo::{self, COUNTRIES};
use super::random::{chance, log_uniform, uniform, SimRng};
use super::HOUR_MS;
use rand::Rng;

/// Share of the population working in an office (drawn per run in this range).
const OFFICE_SHARE: (f64, f64) = (0.15, 0.20);
/// Seats per office, drawn log-uniformly.
const OFFICE_SEATS: (f64, f64) = (20.0, 500.0);
/// Local hours, on weekdays, when members sign in from the office…
pub(super) const WORKING_HOURS: std::ops::Range<u64> = 8 * HOUR_MS..18 * HOUR_MS;
/// …this share of the time; the rest from home or the phone, as anyone.
pub(super) const AT_THE_OFFICE: f64 = 0.8;
/// A country's residents per carrier address: on a million users, each
/// address carries hundreds of mobile users over a week.
const RESIDENTS_PER_CARRIER_ADDRESS: f64 = 500.0;
/// Fewest carrier addresses a country has, so small populations still spread
/// over a few (tens of users each on a thousand).
const MIN_CARRIER_ADDRESSES: usize = 4;
/// A carrier's addresses come in runs of at most this many neighbours.
const CARRIER_RUN: usize = 64;

/// An office: its members share 1 to 4 public addresses, `first` and the
/// ones after it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Office {
    pub country: u8,
    /// UTC offset, in minutes.
    pub offset_min: i16,
    pub first: u32,
    pub count: u8,
}

impl Office {
    pub fn addr(&self, rng: &mut SimRng) -> u32 {
        self.first + rng.random_range(0..u32::from(self.count))
    }
}

pub(super) struct Nat {
    pub offices: Vec<Office>,
    /// Running total of the offices' seats: office `i` owns seats
    /// `seat_ends[i-1]..seat_ends[i]`.
    seat_ends: Vec<u32>,
    /// Per country (indexed like [`COUNTRIES`]), its carriers' public addresses.
    carriers: Vec<Vec<u32>>,
}

impl Nat {
    pub fn new(rng: &mut SimRng, addrs: &AddressBook, users: u32) -> Nat {
        let seats = (f64::from(users) * uniform(rng, OFFICE_SHARE.0, OFFICE_SHARE.1)) as u32;
        let mut offices = Vec::new();
        let mut seat_ends = Vec::new();
        let mut total = 0;
        // Whole offices only: what is left under the smallest size stays home.
        while seats - total >= OFFICE_SEATS.0 as u32 {
            let size = (log_uniform(rng, OFFICE_SEATS.0, OFFICE_SEATS.1).round() as u32)
                .min(seats - total);
            let country = geo::home_country(rng);
            let offset_min = geo::utc_offset(rng, country);
            let block = addrs.block(rng, country, Net::Residential);
            let count = rng.random_range(1..=4).min(block.size);
            let first = block.base + rng.random_range(0..=block.size - count);
            offices.push(Office {
                country,
                offset_min,
                first,
                count: count as u8,
            });
            total += size;
            seat_ends.push(total);
        }
        let weights: u32 = COUNTRIES.iter().map(|c| c.home_weight).sum();
        let carriers = COUNTRIES
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let residents = f64::from(users) * f64::from(c.home_weight) / f64::from(weights);
                let n = ((residents / RESIDENTS_PER_CARRIER_ADDRESS).ceil() as usize)
                    .max(MIN_CARRIER_ADDRESSES);
                carrier_pool(rng, addrs, i as u8, n)
            })
            .collect();
        Nat {
            offices,
            seat_ends,
            carriers,
        }
    }

    /// The office a newly drawn user of a population of `users` works in, if
    /// any: offices fill in proportion to their seats, so an office of 20
    /// seats gets about 20 members.
    pub fn join(&self, rng: &mut SimRng, users: u32) -> Option<u32> {
        let seats = *self.seat_ends.last()?;
        if !chance(rng, f64::from(seats) / f64::from(users)) {
            return None;
        }
        let seat = rng.random_range(0..seats);
        Some(self.seat_ends.partition_point(|&e| e <= seat) as u32)
    }

    pub fn office(&self, i: u32) -> &Office {
        &self.offices[i as usize]
    }

    /// A mobile sign-in's address: one of the country's carrier addresses.
    pub fn carrier(&self, rng: &mut SimRng, country: u8) -> u32 {
        let pool = &self.carriers[usize::from(country)];
        pool[rng.random_range(0..pool.len())]
    }
}

/// `n` addresses of a country's mobile networks, in runs of neighbours (a
/// carrier's NAT pool is a few prefixes, not addresses scattered over its
/// whole range), without a /24's first and last.
fn carrier_pool(rng: &mut SimRng, addrs: &AddressBook, country: u8, n: usize) -> Vec<u32> {
    let mut pool = Vec::with_capacity(n);
    while pool.len() < n {
        let block = addrs.block(rng, country, Net::Mobile);
        let skip = if block.size >= 4 { 1 } else { 0 };
        let room = (block.size - 2 * skip) as usize;
        let run = (n - pool.len()).min(CARRIER_RUN).min(room);
        let first = block.base + skip + rng.random_range(0..=room - run) as u32;
        pool.extend(first..first + run as u32);
    }
    pool
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn offices_seat_a_sixth_of_the_population_and_carriers_scale() {
        let addrs = AddressBook::new(None);
        let mut rng = SimRng::seed_from_u64(3);
        let nat = Nat::new(&mut rng, &addrs, 100_000);
        let seats = *nat.seat_ends.last().unwrap();
        assert!((14_000..=20_000).contains(&seats), "{seats}");
        let mut last = 0;
        for (o, &end) in nat.offices.iter().zip(&nat.seat_ends) {
            assert!((20..=500).contains(&(end - last)), "{}", end - last);
            assert!((1..=4).contains(&o.count));
            last = end;
        }
        let members = (0..100_000)
            .filter_map(|_| nat.join(&mut rng, 100_000))
            .count();
        assert!((13_000..=21_000).contains(&members), "{members}");
        // The US holds 28 in 96 users: 29,167 / 500, rounded up.
        assert_eq!(nat.carriers[0].len(), 59);
        let small = Nat::new(&mut rng, &addrs, 1000);
        assert!(small
            .carriers
            .iter()
            .all(|p| p.len() == MIN_CARRIER_ADDRESSES));
        let mut all: Vec<u32> = nat.carriers.iter().flatten().copied().collect();
        all.sort_unstable();
        let n = all.len();
        all.dedup();
        assert!(all.len() * 100 >= n * 99, "{} distinct of {n}", all.len());
    }
}
