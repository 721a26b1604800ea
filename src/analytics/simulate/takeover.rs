//! Sign-ins with the victim's real password by someone else: an account
//! takeover from a new country, device and address at an hour the victim is
//! asleep, and a sign-in from another continent within the hour of the
//! victim's own.

use super::addresses::{AddressBook, Net};
use super::geo;
use super::population::{new_device_id, User};
use super::random::{campaign_count, chance, SimRng};
use super::record::{Label, Rec, Who};
use super::useragents;
use super::{Day, HOUR_MS, MINUTE_MS};
use crate::event::{Mfa, Outcome};
use rand::Rng;

fn net(rng: &mut SimRng) -> Net {
    if chance(rng, 0.5) {
        Net::Residential
    } else {
        Net::Hosting
    }
}

/// Legitimate successes before an attack that make a victim's habits worth
/// learning; victims with fewer are taken only when no better one turns up.
pub(super) const WELL_KNOWN: u8 = 3;

/// Victims are users without MFA (with it, a stolen password alone does not
/// sign in), at home, and already seen signing in: `history` counts each
/// user's legitimate successes on earlier days, and a user with none has no
/// habits a detector could have learnt, so day 0 has no takeover.
pub(super) fn account_takeover(
    rng: &mut SimRng,
    users: &[User],
    history: &[u8],
    addrs: &AddressBook,
    day: &Day,
    out: &mut Vec<Rec>,
) {
    let n = users.len() as u32;
    for _ in 0..campaign_count(rng, n, 2_000.0, true) {
        // The first of 20 draws seen WELL_KNOWN times, else the most seen.
        let mut best: Option<u32> = None;
        for _ in 0..20 {
            let v = rng.random_range(0..n);
            let (user, seen) = (&users[v as usize], history[v as usize]);
            if user.mfa || user.trip_on(day.index).is_some() || seen == 0 {
                continue;
            }
            if best.is_none_or(|b| seen > history[b as usize]) {
                best = Some(v);
            }
            if seen >= WELL_KNOWN {
                break;
            }
        }
        let Some(v) = best else { continue };
        let user = &users[v as usize];
        let country = geo::attack_country_except(rng, &[user.country]);
        let net = net(rng);
        let ip = addrs.addr(rng, country, net);
        // Between 01:00 and 05:00 the victim's time: legitimate sign-ins start
        // an hour before the victim's day, at 05:00 at the earliest.
        let t = day.at_local(user.offset_min, rng.random_range(HOUR_MS..5 * HOUR_MS));
        let agent = useragents::any_browser(rng);
        out.push(Rec::new(
            t,
            Who::Member(v),
            ip,
            new_device_id(rng),
            user.sha1,
            agent,
            Label::AccountTakeover,
        ));
    }
}

/// Picks a legitimate success among `out[..legit]` (the day's legitimate
/// records) and adds a success with the same password from another continent
/// 5 to 55 minutes after it, or before it, near the end of the day, when the
/// user signed in on an earlier day (`history`, as for [`account_takeover`]):
/// the victim always has a success earlier in the output. Users seen on
/// earlier days are preferred, as there.
pub(super) fn impossible_travel(
    rng: &mut SimRng,
    users: &[User],
    history: &[u8],
    addrs: &AddressBook,
    day: &Day,
    legit: usize,
    out: &mut Vec<Rec>,
) {
    let n = users.len() as u32;
    for _ in 0..campaign_count(rng, n, 2_000.0, true) {
        if legit == 0 {
            return;
        }
        let gap = rng.random_range(5 * MINUTE_MS..55 * MINUTE_MS);
        // Successes the victim will have had before the attack, at least.
        let known = |r: &Rec| match r.who {
            Who::Member(v) => {
                let after = r.ts + gap < day.end();
                history[v as usize].saturating_add(u8::from(after))
            }
            Who::Stranger(_) | Who::DefaultName(_) => 0,
        };
        let mut best: Option<(Rec, u8)> = None;
        for _ in 0..50 {
            let r = out[rng.random_range(0..legit)];
            if r.label != Label::Legit || r.outcome != Outcome::Success || r.mfa != Mfa::None {
                continue;
            }
            let k = known(&r);
            if k > 0 && best.is_none_or(|(_, b)| k > b) {
                best = Some((r, k));
            }
            if k >= WELL_KNOWN {
                break;
            }
        }
        let Some((
            Rec {
                who: Who::Member(v),
                ts,
                ..
            },
            _,
        )) = best
        else {
            continue;
        };
        let user = &users[v as usize];
        let (here, _) = user.whereabouts(day.index);
        let country = geo::far_country(rng, &[user.country, here]);
        let net = net(rng);
        let ip = addrs.addr(rng, country, net);
        let t = if ts + gap < day.end() {
            ts + gap
        } else {
            ts - gap
        };
        let agent = useragents::any_browser(rng);
        out.push(Rec::new(
            t,
            Who::Member(v),
            ip,
            new_device_id(rng),
            user.sha1,
            agent,
            Label::ImpossibleTravel,
        ));
    }
}
