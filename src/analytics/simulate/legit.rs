//! A day of the population's own sign-ins: mostly one success from a known
//! device at home or, on a weekday's working hours, at the office, with the
//! mess real users make: typos, forgotten passwords, phones behind the
//! carrier's NAT, trips abroad, new devices, MFA.

use super::addresses::{AddressBook, Net};
use super::nat::{Nat, AT_THE_OFFICE, WORKING_HOURS};
use super::passwords;
use super::population::User;
use super::random::{chance, poisson, SimRng};
use super::record::{Label, Rec, Who};
use super::useragents;
use super::{Day, HOUR_MS, MINUTE_MS};
use crate::event::{FailureReason, Mfa};
use rand::Rng;

/// Where addresses come from: the country's pools, and the shared ones.
pub(super) struct Networks<'a> {
    pub addrs: &'a AddressBook,
    pub nat: &'a Nat,
}

pub(super) fn day(
    rng: &mut SimRng,
    users: &mut [User],
    nets: &Networks,
    day: &Day,
    out: &mut Vec<Rec>,
) {
    let factor = if day.weekend { 0.7 } else { 1.0 };
    for (i, user) in users.iter_mut().enumerate() {
        for _ in 0..poisson(rng, f64::from(user.rate) * factor) {
            session(rng, i as u32, user, nets, day, out);
        }
    }
}

/// One sign-in, with whatever failures precede the success.
fn session(
    rng: &mut SimRng,
    index: u32,
    user: &mut User,
    nets: &Networks,
    day: &Day,
    out: &mut Vec<Rec>,
) {
    let (country, offset) = user.whereabouts(day.index);
    // Waking hours, with an occasional early or late one.
    let (from, to) = if chance(rng, 0.08) {
        (user.active_from - 1, (user.active_to + 1).min(24))
    } else {
        (user.active_from, user.active_to)
    };
    let local = rng.random_range(u64::from(from) * HOUR_MS..u64::from(to) * HOUR_MS);
    let mut t = day.at_local(offset, local);
    if t + 10 * MINUTE_MS > day.end() {
        t -= 10 * MINUTE_MS; // room for retries before the day's output is cut
    }
    let slot = if chance(rng, 0.01) {
        let mobile = chance(rng, 0.5);
        user.add_device(rng, mobile)
    } else if user.n_devices == 1 || chance(rng, 0.6) {
        0
    } else {
        rng.random_range(1..usize::from(user.n_devices))
    };
    let agent = user.agents[slot];
    let at_work = !day.weekend && WORKING_HOURS.contains(&local);
    let ip = address(rng, user, nets, day.index, at_work, country, agent);
    let ok = Rec::new(
        t,
        Who::Member(index),
        ip,
        user.devices[slot],
        user.sha1,
        agent,
        Label::Legit,
    );
    let r = rng.random::<f64>();
    if r < 0.04 {
        let typo = passwords::typo(rng, &user.password.text());
        out.push(
            Rec {
                sha1: passwords::sha1(&typo),
                ..ok
            }
            .failed(FailureReason::BadPassword),
        );
        t += rng.random_range(3_000..20_000);
    } else if r < 0.05 {
        // Forgot which one it was: older passwords first, then (mostly) the right one.
        let text = user.password.text();
        for k in 0..rng.random_range(2..=4) {
            let old = passwords::sha1(&format!("{text}{k}"));
            out.push(
                Rec { sha1: old, ..ok }
                    .at(t)
                    .failed(FailureReason::BadPassword),
            );
            t += rng.random_range(5_000..40_000);
        }
        if chance(rng, 0.3) {
            return; // gave up, or went to reset it
        }
    }
    if user.mfa {
        if chance(rng, 0.02) {
            out.push(ok.at(t).failed(FailureReason::MfaFailed));
            t += rng.random_range(15_000..60_000);
        }
        out.push(ok.at(t).with_mfa(Mfa::Passed));
    } else {
        out.push(ok.at(t));
    }
}

/// Where a sign-in comes from: the office on working hours, home, the phone's
/// carrier, some other network in the country (a café, a friend's), or, away,
/// the lodging or roaming on the home carrier. Office and carrier addresses
/// are shared with many others.
fn address(
    rng: &mut SimRng,
    user: &User,
    nets: &Networks,
    day: u32,
    at_work: bool,
    country: u8,
    agent: u8,
) -> u32 {
    let mobile = useragents::is_mobile(agent);
    if let Some(trip) = user.trip_on(day) {
        return if mobile && chance(rng, 0.3) {
            nets.nat.carrier(rng, user.country)
        } else {
            trip.lodging.host(rng)
        };
    }
    if let Some(office) = user.office.filter(|_| at_work) {
        // Phones too: on the office's Wi-Fi.
        if chance(rng, AT_THE_OFFICE) {
            return nets.nat.office(office).addr(rng);
        }
    }
    if mobile && chance(rng, 0.45) {
        return nets.nat.carrier(rng, country);
    }
    if chance(rng, 0.06) {
        return nets.addrs.addr(rng, country, Net::Residential);
    }
    if chance(rng, 0.85) {
        user.home_ip
    } else {
        user.home.host(rng)
    }
}
