//! Lockout abuse: failures sent for someone else's account, not to get in but
//! to keep its owner locked out. Pairs of failures under a second apart (a
//! quick-login lock trips on those), again every minute or two, for 10 to 60
//! minutes, from an address (or a few) that has nothing to do with the owner,
//! while the owner keeps signing in: those sign-ins stay `legit`, and
//! blocking them is exactly what the attacker wants.

use super::addresses::AddressBook;
use super::campaigns::{attacker_net, wrong_guess};
use super::geo;
use super::population::User;
use super::random::{campaign_count, SimRng};
use super::record::{Label, Rec, Who};
use super::takeover::WELL_KNOWN;
use super::useragents;
use super::{Day, MINUTE_MS};
use crate::event::{FailureReason, Outcome};
use rand::Rng;

/// Owners sign in at least this often (a weekday's mean): the abuse is aimed
/// at people who use the account.
const REGULAR_RATE: f32 = 1.0;

/// Picks owners among the day's legitimate successes (`out[..legit]`) and
/// builds each abuse window around one of them, so the owner signs in while
/// being locked out. Owners seen on earlier days (`history`, as for the
/// takeovers) who sign in regularly are preferred.
pub(super) fn lockout_abuse(
    rng: &mut SimRng,
    users: &[User],
    history: &[u8],
    addrs: &AddressBook,
    day: &Day,
    legit: usize,
    out: &mut Vec<Rec>,
) {
    let n = users.len() as u32;
    for _ in 0..campaign_count(rng, n, 5_000.0, true) {
        if legit == 0 {
            return;
        }
        // Enough history for the day: none on day 0, WELL_KNOWN from day 3.
        let known = WELL_KNOWN.min(day.index.min(255) as u8);
        let mut best: Option<(u64, u32, u8)> = None;
        for _ in 0..50 {
            let r = &out[rng.random_range(0..legit)];
            let Who::Member(v) = r.who else { continue };
            // Room after the sign-in for the rest of the window.
            if r.outcome != Outcome::Success || r.ts + 5 * MINUTE_MS >= day.end() {
                continue;
            }
            let seen = history[v as usize];
            if best.is_none_or(|(_, _, b)| seen > b) {
                best = Some((r.ts, v, seen));
            }
            if seen >= known && users[v as usize].rate >= REGULAR_RATE {
                best = Some((r.ts, v, seen));
                break;
            }
        }
        let Some((signed_in, v, _)) = best else {
            continue;
        };
        let len = rng.random_range(10 * MINUTE_MS..=60 * MINUTE_MS);
        let start = signed_in
            .saturating_sub(rng.random_range(0..len))
            .max(day.start);
        // Pairs come at most two minutes apart until `end`: the last after
        // the owner's sign-in.
        let end = (start + len)
            .min(day.end() - 2 * MINUTE_MS)
            .max(signed_in + 2 * MINUTE_MS + 1);
        let ips: Vec<u32> = (0..rng.random_range(1..=3))
            .map(|_| {
                let country = geo::attack_country(rng);
                let net = attacker_net(rng, 0.6);
                addrs.addr(rng, country, net)
            })
            .collect();
        let agent = useragents::bot(rng);
        // Any wrong password will do; the point is the failure.
        let sha1 = wrong_guess(users, v, &mut rng.random_range(0..1_000));
        let mut t = start;
        while t < end {
            let ip = ips[rng.random_range(0..ips.len())];
            for at in [t, t + rng.random_range(100..900)] {
                let base = Rec::new(at, Who::Member(v), ip, 0, sha1, agent, Label::LockoutAbuse);
                out.push(base.failed(FailureReason::BadPassword));
            }
            t += rng.random_range(MINUTE_MS..=2 * MINUTE_MS);
        }
    }
}
