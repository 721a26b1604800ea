//! Password guessing from one address, in the shapes that sit between a
//! detector's thresholds: a handful of guesses at one to four accounts within
//! minutes ([`moderate_brute_force`]), names no account here has
//! ([`unknown_user_brute_force`]), and one guess every quarter of an hour for
//! most of a day ([`low_and_slow`]). Each kind runs a number of campaigns a
//! day proportional to the population (see [`campaign_count`]).

use super::addresses::AddressBook;
use super::campaigns::{attacker_net, guess, wrong_guess};
use super::geo;
use super::passwords;
use super::population::User;
use super::random::{campaign_count, chance, log_uniform, SimRng};
use super::record::{Label, Rec, Who, DEFAULT_NAMES};
use super::useragents;
use super::{Day, HOUR_MS, MINUTE_MS};
use crate::event::{FailureReason, Outcome};
use rand::Rng;

fn one_address(rng: &mut SimRng, addrs: &AddressBook, hosting_share: f64) -> u32 {
    let country = geo::attack_country(rng);
    let net = attacker_net(rng, hosting_share);
    addrs.addr(rng, country, net)
}

/// Share of moderate campaigns that try several accounts.
const SEVERAL_ACCOUNTS: f64 = 0.3;
/// Share of moderate campaigns that end with the right password: the
/// victim's was guessable (with MFA, the attacker stops at the second factor).
const GUESSABLE: f64 = 0.08;

/// A few bad passwords from one address: 5 to 9 for one account within 1 to
/// 3 minutes, or (in [`SEVERAL_ACCOUNTS`]) 10 to 20 over 2 to 4 accounts
/// within 3 to 5 minutes, taking the accounts in turn. Too few to trip a
/// per-account limit of ten, but an attack all the same.
pub(super) fn moderate_brute_force(
    rng: &mut SimRng,
    users: &[User],
    addrs: &AddressBook,
    day: &Day,
    out: &mut Vec<Rec>,
) {
    let n = users.len() as u32;
    for _ in 0..campaign_count(rng, n, 1_000.0, true) {
        let ip = one_address(rng, addrs, 0.5);
        let agent = useragents::script_or_browser(rng);
        let (accounts, failures, window) = if chance(rng, SEVERAL_ACCOUNTS) {
            let window = rng.random_range(3 * MINUTE_MS..=5 * MINUTE_MS);
            (rng.random_range(2..=4), rng.random_range(10..=20), window)
        } else {
            let window = rng.random_range(MINUTE_MS..=3 * MINUTE_MS);
            (1, rng.random_range(5..=9), window)
        };
        let targets = rand::seq::index::sample(rng, n as usize, accounts.min(n as usize));
        let start = day.slot(rng, window + MINUTE_MS);
        let mut times: Vec<u64> = (0..failures)
            .map(|_| start + rng.random_range(0..window))
            .collect();
        times.sort_unstable();
        let mut tried = vec![0; targets.len()];
        for (i, &t) in times.iter().enumerate() {
            let j = i % targets.len();
            let v = targets.index(j) as u32;
            let sha1 = wrong_guess(users, v, &mut tried[j]);
            let base = Rec::new(
                t,
                Who::Member(v),
                ip,
                0,
                sha1,
                agent,
                Label::ModerateBruteForce,
            );
            out.push(base.failed(FailureReason::BadPassword));
        }
        if chance(rng, GUESSABLE) {
            let v = targets.index(rng.random_range(0..targets.len())) as u32;
            let t = start + window + rng.random_range(2_000..15_000);
            let base = Rec::new(
                t,
                Who::Member(v),
                ip,
                0,
                [0; 20],
                agent,
                Label::ModerateBruteForce,
            );
            out.push(guess(users, v, users[v as usize].sha1, base));
        }
    }
}

/// Share of unknown-user campaigns that go down a list of names; the others
/// hammer one name.
const NAME_LIST: f64 = 0.6;
/// On a list, the share of attempts at its first name (`admin`, mostly).
const FIRST_NAME_SHARE: f64 = 0.6;

/// One address hammering names that are no account here, with a wordlist of
/// passwords: 8 to 60 attempts (log-uniform). Either down a list of 3 to 9
/// default names and their look-alikes, one every 2 to 10 seconds, the first
/// name (`admin` more often than not) taking [`FIRST_NAME_SHARE`] of them: 20
/// failures in two minutes, 12 of them for `admin`; or one name, a default
/// one or some address from elsewhere, every 20 to 40 seconds.
pub(super) fn unknown_user_brute_force(
    rng: &mut SimRng,
    users: &[User],
    addrs: &AddressBook,
    day: &Day,
    out: &mut Vec<Rec>,
) {
    for _ in 0..campaign_count(rng, users.len() as u32, 10_000.0, true) {
        let attempts = log_uniform(rng, 8.0, 60.0).round() as usize;
        let ip = one_address(rng, addrs, 0.7);
        let agent = useragents::script(rng);
        // admin 60%, root 20%, administrator and test 10% each.
        let first = [0, 0, 0, 0, 0, 0, 1, 1, 2, 3][rng.random_range(0..10)];
        let (names, gap) = if chance(rng, NAME_LIST) {
            let mut names = vec![Who::DefaultName(first)];
            let want = rng.random_range(3..=9);
            while names.len() < want {
                let who = Who::DefaultName(rng.random_range(0..DEFAULT_NAMES.len()) as u8);
                if !names.contains(&who) {
                    names.push(who);
                }
            }
            (names, 2_000..10_000)
        } else if chance(rng, 0.5) {
            (vec![Who::DefaultName(first)], 20_000..40_000)
        } else {
            (vec![Who::Stranger(rng.random())], 20_000..40_000)
        };
        let mut t = day.slot(rng, attempts as u64 * gap.end);
        for k in 0..attempts {
            t += rng.random_range(gap.clone());
            let who = if names.len() == 1 || chance(rng, FIRST_NAME_SHARE) {
                names[0]
            } else {
                names[rng.random_range(1..names.len())]
            };
            let sha1 = passwords::guess(k).0;
            let base = Rec::new(t, who, ip, 0, sha1, agent, Label::UnknownUserBruteForce);
            out.push(base.failed(FailureReason::UnknownUser));
        }
    }
}

/// Share of low-and-slow campaigns against names that are no account here.
const SLOW_UNKNOWN: f64 = 0.3;

/// One address, one guess every 5 to 30 minutes for 4 to 20 hours, at one to
/// three accounts in turn (or, in [`SLOW_UNKNOWN`], names that do not
/// exist): about 40 guesses a day, never two close enough to count. A right
/// guess ends it.
pub(super) fn low_and_slow(
    rng: &mut SimRng,
    users: &[User],
    addrs: &AddressBook,
    day: &Day,
    out: &mut Vec<Rec>,
) {
    let n = users.len() as u32;
    for _ in 0..campaign_count(rng, n, 20_000.0, true) {
        let span = rng.random_range(4 * HOUR_MS..=20 * HOUR_MS);
        let start = day.slot(rng, span);
        let ip = one_address(rng, addrs, 0.5);
        let agent = useragents::script_or_browser(rng);
        let unknown = chance(rng, SLOW_UNKNOWN);
        let targets: Vec<Who> = (0..rng.random_range(1..=3))
            .map(|_| {
                if unknown {
                    Who::Stranger(rng.random())
                } else {
                    Who::Member(rng.random_range(0..n))
                }
            })
            .collect();
        let mut t = start + rng.random_range(0..5 * MINUTE_MS);
        let mut k = 0;
        while t < start + span {
            let who = targets[k % targets.len()];
            let sha1 = passwords::guess(k / targets.len()).0;
            let base = Rec::new(t, who, ip, 0, sha1, agent, Label::LowAndSlow);
            let rec = match who {
                Who::Member(v) => guess(users, v, sha1, base),
                _ => base.failed(FailureReason::UnknownUser),
            };
            out.push(rec);
            if rec.outcome == Outcome::Success || rec.failure == Some(FailureReason::MfaFailed) {
                break;
            }
            k += 1;
            t += rng.random_range(5 * MINUTE_MS..=30 * MINUTE_MS);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::simulate::nat::Nat;
    use crate::analytics::simulate::{population, SimulateOptions};
    use rand::SeedableRng;
    use std::collections::BTreeMap;

    #[test]
    fn moderate_campaigns_mostly_fail_and_some_spread_over_accounts() {
        let addrs = AddressBook::new(None);
        let mut rng = SimRng::seed_from_u64(5);
        let nat = Nat::new(&mut rng, &addrs, 20_000);
        let users = population::build(&mut rng, &addrs, &nat, 20_000, 10);
        let mut recs = Vec::new();
        for index in 0..10 {
            let day = Day::new(SimulateOptions::default().start, index);
            moderate_brute_force(&mut rng, &users, &addrs, &day, &mut recs);
        }
        let mut by_ip: BTreeMap<u32, Vec<Rec>> = BTreeMap::new();
        for r in recs {
            by_ip.entry(r.ip).or_default().push(r);
        }
        let campaigns = by_ip.len();
        assert!((180..=220).contains(&campaigns), "{campaigns}");
        let several = by_ip
            .values()
            .filter(|v| v.iter().any(|r| r.who != v[0].who))
            .count();
        let got_in = by_ip
            .values()
            .filter(|v| {
                v.iter()
                    .any(|r| r.failure != Some(FailureReason::BadPassword))
            })
            .count();
        assert!(
            several * 5 > campaigns && several * 5 < campaigns * 2,
            "{several}"
        );
        assert!(
            got_in * 50 > campaigns && got_in * 7 < campaigns,
            "{got_in}"
        );
    }
}
