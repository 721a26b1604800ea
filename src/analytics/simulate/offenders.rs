//! Repeat offenders: an attacker who keeps coming back, from the same address
//! or a neighbour in its /24, with a burst of 8 to 15 guesses every 2 to 8
//! hours for about six days, at a few accounts. Each burst is too short to
//! trip much; the address's record over the days is the tell.
//!
//! The one attack that spans days, so it is planned once, up front from the
//! seed, and each day writes the bursts that fall in it. Its wordlist never
//! holds the targets' passwords: every guess fails, and the offender comes
//! back until it gives up.

use super::addresses::{AddressBook, Block};
use super::campaigns::{attacker_net, wrong_guess};
use super::geo;
use super::population::User;
use super::random::{campaign_count, chance, uniform, SimRng};
use super::record::{Label, Rec, Who};
use super::useragents;
use super::{Day, DAY_MS, HOUR_MS, MINUTE_MS};
use crate::event::{FailureReason, Timestamp};
use rand::Rng;

/// How long an offender keeps at it, in days (drawn in this range).
const CAMPAIGN_DAYS: (f64, f64) = (5.5, 6.5);
/// The longest a burst lasts: 15 attempts at most 15 seconds apart.
const BURST_MAX: u64 = 4 * MINUTE_MS;
/// Share of bursts sent from another address in the offender's /24.
const MOVES: f64 = 0.3;

#[derive(Debug, Clone)]
pub(super) struct Offender {
    /// When the next burst starts, and when the offender gives up.
    next: u64,
    until: u64,
    block: Block,
    ip: u32,
    targets: [u32; 4],
    n_targets: u8,
    agent: u8,
    /// Guesses so far, over all targets, which are taken in turn.
    tried: usize,
    /// Each target's place in the wordlist.
    places: [usize; 4],
}

/// The run's offenders: on each day with six more days of the run after its
/// start (day 0 alone in a shorter run), one per 20,000 users starts, at
/// least one from 1,000 users. An offender's first six days fall inside the
/// run (a seventh may not), and each has a burst unless a guess got in.
pub(super) fn plan(
    rng: &mut SimRng,
    users: &[User],
    addrs: &AddressBook,
    first: Timestamp,
    days: u32,
) -> Vec<Offender> {
    let n = users.len() as u32;
    let mut offenders = Vec::new();
    if days == 0 {
        return offenders;
    }
    for index in 0..=days.saturating_sub(6) {
        let day = Day::new(first, index);
        for _ in 0..campaign_count(rng, n, 20_000.0, true) {
            let next = day.start + rng.random_range(0..DAY_MS);
            let length = uniform(rng, CAMPAIGN_DAYS.0, CAMPAIGN_DAYS.1) * DAY_MS as f64;
            let country = geo::attack_country(rng);
            let net = attacker_net(rng, 0.5);
            let block = addrs.block(rng, country, net);
            let accounts = rng.random_range(2..=4).min(n as usize);
            let picked = rand::seq::index::sample(rng, n as usize, accounts);
            let mut targets = [0; 4];
            for (slot, v) in targets.iter_mut().zip(picked.iter()) {
                *slot = v as u32;
            }
            offenders.push(Offender {
                next,
                until: next + length as u64,
                block,
                ip: block.host(rng),
                targets,
                n_targets: picked.len() as u8,
                agent: useragents::script_or_browser(rng),
                tried: 0,
                places: [0; 4],
            });
        }
    }
    offenders
}

/// The day's bursts of every offender, in plan order. A burst that would run
/// past midnight starts early enough to end before it.
pub(super) fn day(
    rng: &mut SimRng,
    offenders: &mut [Offender],
    users: &[User],
    day: &Day,
    out: &mut Vec<Rec>,
) {
    for o in offenders {
        while o.next < day.end() && o.next < o.until {
            let start = o.next.min(day.end() - BURST_MAX);
            burst(rng, o, users, start, out);
            o.next += rng.random_range(2 * HOUR_MS..=8 * HOUR_MS);
        }
    }
}

/// 8 to 15 wrong guesses 2 to 15 seconds apart, the targets in turn.
fn burst(rng: &mut SimRng, o: &mut Offender, users: &[User], start: u64, out: &mut Vec<Rec>) {
    if chance(rng, MOVES) {
        o.ip = o.block.host(rng);
    }
    let mut t = start;
    for _ in 0..rng.random_range(8..=15) {
        let j = o.tried % usize::from(o.n_targets);
        let v = o.targets[j];
        let sha1 = wrong_guess(users, v, &mut o.places[j]);
        let base = Rec::new(
            t,
            Who::Member(v),
            o.ip,
            0,
            sha1,
            o.agent,
            Label::RepeatOffender,
        );
        out.push(base.failed(FailureReason::BadPassword));
        o.tried += 1;
        t += rng.random_range(2_000..15_000);
    }
}
