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

/// Victims are users without MFA (with it, a stolen password alone does not
/// sign in) and at home.
pub(super) fn account_takeover(
    rng: &mut SimRng,
    users: &[User],
    addrs: &AddressBook,
    day: &Day,
    out: &mut Vec<Rec>,
) {
    let n = users.len() as u32;
    for _ in 0..campaign_count(rng, n, 2_000.0, true) {
        let victim = (0..20)
            .map(|_| rng.random_range(0..n))
            .find(|&v| !users[v as usize].mfa && users[v as usize].trip_on(day.index).is_none());
        let Some(v) = victim else { continue };
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
/// 5 to 55 minutes after it (or before, near the end of the day).
pub(super) fn impossible_travel(
    rng: &mut SimRng,
    users: &[User],
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
        let seen = (0..50).map(|_| out[rng.random_range(0..legit)]).find(|r| {
            r.label == Label::Legit && r.outcome == Outcome::Success && r.mfa == Mfa::None
        });
        let Some(Rec {
            who: Who::Member(v),
            ts,
            ..
        }) = seen
        else {
            continue;
        };
        let user = &users[v as usize];
        let (here, _) = user.whereabouts(day.index);
        let country = geo::far_country(rng, &[user.country, here]);
        let net = net(rng);
        let ip = addrs.addr(rng, country, net);
        let gap = rng.random_range(5 * MINUTE_MS..55 * MINUTE_MS);
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
