//! Automated attacks against many accounts or many passwords: credential
//! stuffing, password spraying and brute force. Each kind runs a number of
//! campaigns a day proportional to the population (see [`campaign_count`]).

use super::addresses::{AddressBook, Block, Net};
use super::geo;
use super::passwords::{self, COMMON};
use super::population::{new_device_id, User};
use super::random::{campaign_count, chance, log_uniform, uniform, SimRng};
use super::record::{Label, Rec, Who};
use super::useragents;
use super::{Day, HOUR_MS, MINUTE_MS};
use crate::event::{FailureReason, Outcome};
use rand::Rng;

/// An attacker's guess `sha1` at member `v`'s password: a success when right,
/// unless the victim has MFA, which stops the attacker there.
pub(super) fn guess(users: &[User], v: u32, sha1: [u8; 20], base: Rec) -> Rec {
    let user = &users[v as usize];
    let r = Rec {
        who: Who::Member(v),
        sha1,
        ..base
    };
    if sha1 != user.sha1 {
        r.failed(FailureReason::BadPassword)
    } else if user.mfa {
        r.failed(FailureReason::MfaFailed)
    } else {
        r
    }
}

/// The next wordlist guess at member `v`'s password that is wrong, from the
/// `k`th: `k` moves past the right one, so the attempt is a plain failure.
pub(super) fn wrong_guess(users: &[User], v: u32, k: &mut usize) -> [u8; 20] {
    loop {
        let sha1 = passwords::guess(*k).0;
        *k += 1;
        if sha1 != users[v as usize].sha1 {
            return sha1;
        }
    }
}

pub(super) fn attacker_net(rng: &mut SimRng, hosting_share: f64) -> Net {
    if chance(rng, hosting_share) {
        Net::Hosting
    } else {
        Net::Residential
    }
}

/// Username and password pairs from another site's breach, replayed by a bot
/// from a few /24s: many names do not exist here, most others have another
/// password by now, and about one pair in a hundred still works.
pub(super) fn credential_stuffing(
    rng: &mut SimRng,
    users: &[User],
    addrs: &AddressBook,
    day: &Day,
    out: &mut Vec<Rec>,
) {
    let n = users.len() as u32;
    for _ in 0..campaign_count(rng, n, 100_000.0, true) {
        let attempts = (f64::from(n.min(100_000)) * 0.08 * uniform(rng, 0.5, 1.5)).max(40.0) as u32;
        let origins = [geo::attack_country(rng), geo::attack_country(rng)];
        let blocks: Vec<Block> = (0..rng.random_range(2..=6))
            .map(|k| {
                let net = attacker_net(rng, 0.6);
                addrs.block(rng, origins[k % 2], net)
            })
            .collect();
        let agent = useragents::script(rng);
        let fresh_devices = chance(rng, 0.5);
        let existing = uniform(rng, 0.5, 0.75);
        let span = rng.random_range(1..=4) * HOUR_MS;
        let start = day.slot(rng, span + HOUR_MS);
        let mut left = attempts;
        while left > 0 {
            // One IP's turn: dozens to hundreds of pairs within the hour.
            let k = (log_uniform(rng, 30.0, 250.0) as u32).clamp(1, left);
            left -= k;
            let ip = blocks[rng.random_range(0..blocks.len())].host(rng);
            let from = start + rng.random_range(0..span);
            let len = rng.random_range(10 * MINUTE_MS..=HOUR_MS);
            for _ in 0..k {
                let t = from + rng.random_range(0..len);
                let device = if fresh_devices { new_device_id(rng) } else { 0 };
                let base = Rec::new(
                    t,
                    Who::Stranger(0),
                    ip,
                    device,
                    [0; 20],
                    agent,
                    Label::CredentialStuffing,
                );
                let rec = if chance(rng, existing) {
                    let v = rng.random_range(0..n);
                    let reused = chance(rng, 0.015);
                    let sha1 = if reused {
                        users[v as usize].sha1
                    } else {
                        passwords::breach(rng)
                    };
                    guess(users, v, sha1, base)
                } else {
                    let sha1 = passwords::breach(rng);
                    Rec {
                        who: Who::Stranger(rng.random()),
                        sha1,
                        ..base
                    }
                    .failed(FailureReason::UnknownUser)
                };
                out.push(rec);
            }
        }
    }
}

/// One very common password tried once against each of hundreds of accounts,
/// from a handful of IPs, a few tries a minute each, to stay under per-account
/// lockouts.
pub(super) fn password_spray(
    rng: &mut SimRng,
    users: &[User],
    addrs: &AddressBook,
    day: &Day,
    out: &mut Vec<Rec>,
) {
    let n = users.len() as u32;
    for _ in 0..campaign_count(rng, n, 50_000.0, true) {
        let accounts =
            ((f64::from(n.min(50_000)) * 0.04).max(80.0) * uniform(rng, 1.0, 2.0)) as u32;
        let accounts = accounts.min(n) as usize;
        if accounts == 0 {
            continue;
        }
        let targets = rand::seq::index::sample(rng, n as usize, accounts);
        let sha1 = passwords::sha1(COMMON[rng.random_range(0..COMMON.len())]);
        let country = geo::attack_country(rng);
        let n_ips = 3 + accounts / 500 + rng.random_range(0..4);
        let ips: Vec<u32> = (0..n_ips)
            .map(|_| {
                let net = attacker_net(rng, 0.5);
                addrs.addr(rng, country, net)
            })
            .collect();
        let agent = useragents::bot(rng);
        let per_ip = accounts.div_ceil(n_ips) as u64;
        let mut clocks = vec![day.slot(rng, per_ip * 40_000 + MINUTE_MS); n_ips];
        for (k, v) in targets.iter().enumerate() {
            let i = k % n_ips;
            clocks[i] += rng.random_range(15_000..40_000);
            let base = Rec::new(
                clocks[i],
                Who::Stranger(0),
                ips[i],
                0,
                sha1,
                agent,
                Label::PasswordSpray,
            );
            // Harvested lists are stale: a few names are gone.
            let rec = if chance(rng, 0.05) {
                Rec {
                    who: Who::Stranger(rng.random()),
                    ..base
                }
                .failed(FailureReason::UnknownUser)
            } else {
                guess(users, v as u32, sha1, base)
            };
            out.push(rec);
        }
    }
}

/// Many passwords against one account: fast from one IP (a wordlist in
/// minutes), and a slow variant from a botnet, one or two tries per IP.
pub(super) fn brute_force(
    rng: &mut SimRng,
    users: &[User],
    addrs: &AddressBook,
    day: &Day,
    out: &mut Vec<Rec>,
) {
    let n = users.len() as u32;
    for _ in 0..campaign_count(rng, n, 20_000.0, true) {
        let v = rng.random_range(0..n);
        let country = geo::attack_country_except(rng, &[users[v as usize].country]);
        let net = attacker_net(rng, 0.7);
        let ip = addrs.addr(rng, country, net);
        let agent = useragents::script(rng);
        let tries = log_uniform(rng, 20.0, 200.0) as usize;
        let gap = rng.random_range(300..4_000);
        let mut t = day.slot(rng, tries as u64 * (gap + 1_000));
        for k in 0..tries {
            t += gap + rng.random_range(0..1_000);
            let base = Rec::new(t, Who::Member(v), ip, 0, [0; 20], agent, Label::BruteForce);
            let rec = guess(users, v, passwords::guess(k).0, base);
            out.push(rec);
            if rec.failure != Some(FailureReason::BadPassword) {
                break; // found it
            }
        }
    }
    for _ in 0..campaign_count(rng, n, 50_000.0, false) {
        slow_brute_force(rng, users, addrs, day, out);
    }
}

fn slow_brute_force(
    rng: &mut SimRng,
    users: &[User],
    addrs: &AddressBook,
    day: &Day,
    out: &mut Vec<Rec>,
) {
    let v = rng.random_range(0..users.len() as u32);
    let span = rng.random_range(2..=10) * HOUR_MS;
    let start = day.slot(rng, span + 5 * MINUTE_MS);
    let mut starts: Vec<u64> = (0..rng.random_range(20..=60))
        .map(|_| start + rng.random_range(0..span))
        .collect();
    starts.sort_unstable();
    let mut k = 0;
    for s in starts {
        let country = geo::attack_country(rng);
        let ip = addrs.addr(rng, country, Net::Residential);
        let agent = useragents::any_browser(rng);
        let mut t = s;
        for _ in 0..rng.random_range(1..=2) {
            let base = Rec::new(t, Who::Member(v), ip, 0, [0; 20], agent, Label::BruteForce);
            let rec = guess(users, v, passwords::guess(k).0, base);
            out.push(rec);
            if rec.outcome == Outcome::Success || rec.failure == Some(FailureReason::MfaFailed) {
                return;
            }
            k += 1;
            t += rng.random_range(5_000..60_000);
        }
    }
}
