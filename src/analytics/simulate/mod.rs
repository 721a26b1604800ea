//! `palisade simulate`: labelled synthetic sign-in traffic, for replays,
//! benchmarks and evaluating detectors against ground truth.
//!
//! A seeded population of users signs in by habit ([`legit`]), many of them
//! from addresses they share with tens or hundreds of others: an office's NAT
//! or a mobile carrier's ([`nat`]). Every day, attacks scaled to the
//! population run alongside: mass campaigns ([`campaigns`]), sign-ins with the
//! victim's own password ([`takeover`]), guessing from one address at rates
//! that sit between thresholds ([`guessing`]), failures that keep an owner
//! locked out while they sign in ([`lockout`]), and offenders who return for
//! six days ([`offenders`]: the one attack spanning days, planned up front).
//! Output is one contract [`Event`](crate::event::Event) per line, `label`
//! set, timestamps non-decreasing, each day's events inside its 24 hours. The
//! run is one ChaCha8 stream drawn in a fixed order, so the same options give
//! the same bytes.
//!
//! Memory: the population (128 bytes a user, and a byte counting each one's
//! legitimate successes so far), the offices and carrier pools (a few
//! thousand addresses on a million users) and the offenders (88 bytes each),
//! plus one day of compact records (64 bytes each, and the stable sort's
//! scratch half as large): a million users over a week peak at about 410 MB
//! resident.

mod addresses;
mod campaigns;
mod geo;
mod guessing;
mod legit;
mod lockout;
mod nat;
mod offenders;
mod passwords;
mod population;
mod random;
mod record;
mod takeover;
mod useragents;

pub use geo::SIM_COUNTRIES;

use crate::event::Timestamp;
use addresses::AddressBook;
use rand::{Rng, SeedableRng};
use random::SimRng;
use record::{Label, Renderer};
use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};

/// Real IPv4 networks per ISO country code, e.g. from a GeoIP City database.
pub type CountryNetworks = BTreeMap<String, Vec<ipnet::Ipv4Net>>;

/// What to simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulateOptions {
    /// Size of the legitimate population; attack campaigns scale with it.
    pub users: u32,
    /// Number of days, each 24 hours from `start`.
    pub days: u32,
    /// Seeds the one generator the whole run draws from.
    pub seed: u64,
    /// Start of the first day (default 2026-01-05T00:00:00Z, a Monday).
    pub start: Timestamp,
    /// Networks to draw addresses from, for the countries in [`SIM_COUNTRIES`];
    /// a country missing here uses its synthetic range (public /8s carved
    /// deterministically from 1.0.0.0–126.255.255.255).
    pub networks: Option<CountryNetworks>,
}

impl Default for SimulateOptions {
    fn default() -> SimulateOptions {
        SimulateOptions {
            users: 1000,
            days: 7,
            seed: 1,
            start: Timestamp(1_767_571_200_000),
            networks: None,
        }
    }
}

/// What a run wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimulateStats {
    pub events: u64,
    /// Events per label; every label is present, with 0 when none was written.
    pub by_label: BTreeMap<String, u64>,
}

/// The labels a run writes, in the order of [`Label`].
pub const LABELS: &[&str] = &[
    "legit",
    "credential_stuffing",
    "password_spray",
    "brute_force",
    "account_takeover",
    "impossible_travel",
    "unknown_user_brute_force",
    "low_and_slow",
    "repeat_offender",
    "moderate_brute_force",
    "lockout_abuse",
];

const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 60 * MINUTE_MS;
const DAY_MS: u64 = 24 * HOUR_MS;

/// One day of the run: the window `[start, start + 24h)`.
struct Day {
    /// 0-based day of the run.
    pub index: u32,
    pub start: u64,
    pub weekend: bool,
}

impl Day {
    fn new(first: Timestamp, index: u32) -> Day {
        let start = first.millis() + u64::from(index) * DAY_MS;
        // 1970-01-01 was a Thursday: (days + 3) % 7 is 0 on Mondays.
        let weekday = (start / DAY_MS + 3) % 7;
        Day {
            index,
            start,
            weekend: weekday >= 5,
        }
    }

    pub fn end(&self) -> u64 {
        self.start + DAY_MS
    }

    /// The instant in this day's window when a clock at UTC offset
    /// `offset_min` reads `local_ms` after midnight.
    pub fn at_local(&self, offset_min: i16, local_ms: u64) -> u64 {
        let utc = (local_ms as i64 - i64::from(offset_min) * MINUTE_MS as i64)
            .rem_euclid(DAY_MS as i64) as u64;
        self.start + (utc + DAY_MS - self.start % DAY_MS) % DAY_MS
    }

    /// A start time for something lasting `len` that must end within the day.
    pub fn slot(&self, rng: &mut SimRng, len: u64) -> u64 {
        self.start + rng.random_range(0..DAY_MS.saturating_sub(len).max(1))
    }
}

/// Writes `opts.days` days of labelled traffic to `out`, one JSON event per
/// line, a day at a time.
pub fn simulate(opts: &SimulateOptions, out: &mut dyn Write) -> io::Result<SimulateStats> {
    let mut rng = SimRng::seed_from_u64(opts.seed);
    let addrs = AddressBook::new(opts.networks.as_ref());
    let nat = nat::Nat::new(&mut rng, &addrs, opts.users);
    let mut users = population::build(&mut rng, &addrs, &nat, opts.users, opts.days);
    let mut offenders = offenders::plan(&mut rng, &users, &addrs, opts.start, opts.days);
    let nets = legit::Networks {
        addrs: &addrs,
        nat: &nat,
    };
    let mut out = BufWriter::with_capacity(1 << 20, out);
    let mut renderer = Renderer::new(opts.users);
    let mut counts = [0u64; Label::ALL.len()];
    let mut recs = Vec::new();
    // Legitimate successes per user on the days already written, saturating:
    // attacks that need the victim's habits pick victims the engine has seen.
    let mut history = vec![0u8; opts.users as usize];
    for index in 0..opts.days {
        let day = Day::new(opts.start, index);
        recs.clear();
        legit::day(&mut rng, &mut users, &nets, &day, &mut recs);
        let legit = recs.len();
        takeover::impossible_travel(&mut rng, &users, &history, &addrs, &day, legit, &mut recs);
        takeover::account_takeover(&mut rng, &users, &history, &addrs, &day, &mut recs);
        lockout::lockout_abuse(&mut rng, &users, &history, &addrs, &day, legit, &mut recs);
        record_history(&recs[..legit], &mut history);
        campaigns::credential_stuffing(&mut rng, &users, &addrs, &day, &mut recs);
        campaigns::password_spray(&mut rng, &users, &addrs, &day, &mut recs);
        campaigns::brute_force(&mut rng, &users, &addrs, &day, &mut recs);
        guessing::unknown_user_brute_force(&mut rng, &users, &addrs, &day, &mut recs);
        guessing::low_and_slow(&mut rng, &users, &addrs, &day, &mut recs);
        guessing::moderate_brute_force(&mut rng, &users, &addrs, &day, &mut recs);
        offenders::day(&mut rng, &mut offenders, &users, &day, &mut recs);
        // Stable: ties keep generation order, which the ids then follow.
        recs.sort_by_key(|r| r.ts);
        for (n, r) in recs.iter().enumerate() {
            debug_assert!(
                r.ts >= day.start && r.ts < day.end(),
                "{r:?} outside day {index}"
            );
            renderer.write(&mut out, index, n, r)?;
            counts[r.label as usize] += 1;
        }
    }
    out.flush()?;
    let by_label = Label::ALL
        .iter()
        .map(|l| (l.as_str().to_string(), counts[*l as usize]))
        .collect();
    Ok(SimulateStats {
        events: counts.iter().sum(),
        by_label,
    })
}

/// Counts the day's legitimate successes into `history`.
fn record_history(legit: &[record::Rec], history: &mut [u8]) {
    for r in legit {
        if let (Label::Legit, crate::event::Outcome::Success, record::Who::Member(v)) =
            (r.label, r.outcome, r.who)
        {
            let h = &mut history[v as usize];
            *h = h.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests;
