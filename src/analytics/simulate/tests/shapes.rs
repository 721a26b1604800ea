//! The attacks that sit between thresholds, and the crowds behind shared
//! addresses, as they come out of a 1,000-user week: each kind in the shape
//! its generator promises.

use super::{events, opts, run};
use crate::analytics::simulate::{DAY_MS, HOUR_MS, LABELS, MINUTE_MS};
use crate::event::{Event, FailureReason, Outcome};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::OnceLock;

/// The week (1,000 users, seed 1), written once for all the tests here.
fn week() -> &'static [Event] {
    static WEEK: OnceLock<Vec<Event>> = OnceLock::new();
    WEEK.get_or_init(|| events(&run(&opts(1000, 7, 1)).0))
}

fn ms(e: &Event) -> u64 {
    e.timestamp.expect("every event has a time").millis()
}

/// The week's events with `label`, grouped by `key`, each group in time order.
fn grouped<K: Ord>(label: &str, key: impl Fn(&Event) -> K) -> BTreeMap<K, Vec<&'static Event>> {
    let mut by: BTreeMap<K, Vec<&Event>> = BTreeMap::new();
    for e in week().iter().filter(|e| e.label.as_deref() == Some(label)) {
        by.entry(key(e)).or_default().push(e);
    }
    assert!(!by.is_empty(), "no {label} in the week");
    by
}

fn slash24(e: &Event) -> u32 {
    match e.ip {
        IpAddr::V4(a) => u32::from(a) >> 8,
        IpAddr::V6(a) => panic!("{a}"),
    }
}

fn gaps<'a>(evs: &'a [&Event]) -> impl Iterator<Item = u64> + 'a {
    evs.windows(2).map(|w| ms(w[1]) - ms(w[0]))
}

fn is_mobile(e: &Event) -> bool {
    let agent = e.user_agent.as_deref().unwrap_or("");
    agent.contains("Mobile") || agent.contains("Android")
}

#[test]
fn the_week_has_every_label_in_day_windows_and_repeats_byte_for_byte() {
    let (a, stats) = run(&opts(1000, 7, 1));
    let (b, _) = run(&opts(1000, 7, 1));
    assert!(a == b, "same options, other bytes");
    for label in LABELS {
        assert!(stats.by_label[*label] > 0, "no {label}: {stats:?}");
    }
    // An event's id names its day; its time must fall in that day's window.
    let start = super::day_start().millis();
    for e in week() {
        let day: u64 = e.event_id[4..7].parse().unwrap();
        let from = start + day * DAY_MS;
        assert!(
            (from..from + DAY_MS).contains(&ms(e)),
            "{} ({:?}) outside its day",
            e.event_id,
            e.label
        );
    }
}

#[test]
fn moderate_brute_force_is_a_few_bad_passwords_within_minutes() {
    let by_ip = grouped("moderate_brute_force", |e| e.ip);
    let mut got_in = 0;
    for (ip, evs) in &by_ip {
        let bad = evs
            .iter()
            .filter(|e| e.failure_reason == Some(FailureReason::BadPassword))
            .count();
        let users: BTreeSet<&str> = evs.iter().map(|e| e.user.as_str()).collect();
        let expected = if users.len() == 1 { 5..=9 } else { 10..=20 };
        assert!(expected.contains(&bad), "{ip}: {bad} over {users:?}");
        assert!(users.len() <= 4 && evs.iter().all(|e| e.user_exists == Some(true)));
        let span = ms(evs[evs.len() - 1]) - ms(evs[0]);
        assert!(span <= 10 * MINUTE_MS, "{ip}: {span} ms");
        // Only the last attempt can be right.
        let last = evs.len() - 1;
        assert!(evs[..last].iter().all(|e| e.outcome == Outcome::Failure));
        got_in += usize::from(evs[last].failure_reason != Some(FailureReason::BadPassword));
    }
    assert!(
        by_ip.len() >= 7 && got_in * 2 < by_ip.len(),
        "{got_in} of {}",
        by_ip.len()
    );
}

#[test]
fn unknown_user_brute_force_names_no_account_here() {
    let by_ip = grouped("unknown_user_brute_force", |e| e.ip);
    let mut admin_first = 0;
    for (ip, evs) in &by_ip {
        assert!((8..=60).contains(&evs.len()), "{ip}: {}", evs.len());
        for e in evs {
            assert_eq!(e.user_exists, Some(false), "{}", e.user);
            assert_eq!(e.failure_reason, Some(FailureReason::UnknownUser));
        }
        assert!(gaps(evs).all(|g| (2_000..40_000).contains(&g)), "{ip}");
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        for e in evs {
            *names.entry(e.user.as_str()).or_default() += 1;
        }
        assert!(names.len() <= 9, "{ip}: {names:?}");
        let (top, n) = names.iter().max_by_key(|(_, n)| **n).unwrap();
        assert!(*n * 3 >= evs.len(), "{ip}: {names:?}");
        admin_first += usize::from(*top == "admin@example.com");
    }
    assert!(admin_first > 0, "admin is the name most tried");
}

#[test]
fn low_and_slow_is_one_guess_every_few_minutes_for_hours() {
    for (ip, evs) in grouped("low_and_slow", |e| e.ip) {
        assert!(
            gaps(&evs).all(|g| (5 * MINUTE_MS..=30 * MINUTE_MS).contains(&g)),
            "{ip}"
        );
        let users: BTreeSet<&str> = evs.iter().map(|e| e.user.as_str()).collect();
        assert!(users.len() <= 3, "{ip}: {users:?}");
        let span = ms(evs[evs.len() - 1]) - ms(evs[0]);
        let got_in = evs.iter().any(|e| {
            e.failure_reason != Some(FailureReason::BadPassword) && e.user_exists == Some(true)
        });
        assert!(
            span <= 20 * HOUR_MS && (got_in || span >= 3 * HOUR_MS),
            "{ip}: {span} ms"
        );
    }
}

#[test]
fn repeat_offenders_come_back_in_bursts_on_at_least_five_days() {
    let mut moved = false;
    for (net, evs) in grouped("repeat_offender", slash24) {
        let days: BTreeSet<u64> = evs.iter().map(|e| ms(e) / DAY_MS).collect();
        assert!(days.len() >= 5, "{net:x}: {days:?}");
        let users: BTreeSet<&str> = evs.iter().map(|e| e.user.as_str()).collect();
        assert!((2..=4).contains(&users.len()), "{net:x}: {users:?}");
        assert!(evs
            .iter()
            .all(|e| e.failure_reason == Some(FailureReason::BadPassword)));
        // Bursts: runs of attempts seconds apart, hours between runs.
        let mut bursts = vec![vec![evs[0]]];
        for w in evs.windows(2) {
            if ms(w[1]) - ms(w[0]) > 30 * MINUTE_MS {
                let gap = ms(w[1]) - ms(bursts.last().unwrap()[0]);
                assert!(
                    (116 * MINUTE_MS..=8 * HOUR_MS).contains(&gap),
                    "{net:x}: {gap} ms"
                );
                bursts.push(Vec::new());
            }
            bursts.last_mut().unwrap().push(w[1]);
        }
        for b in &bursts {
            assert!(
                (8..=15).contains(&b.len()),
                "{net:x}: a burst of {}",
                b.len()
            );
            assert!(ms(b[b.len() - 1]) - ms(b[0]) < 4 * MINUTE_MS);
        }
        moved |= evs.iter().map(|e| e.ip).collect::<BTreeSet<_>>().len() > 1;
    }
    assert!(moved, "some offender moves within its /24");
}

#[test]
fn lockout_abuse_sends_pairs_while_the_owner_keeps_signing_in() {
    let by_owner = grouped("lockout_abuse", |e| (e.user.clone(), ms(e) / DAY_MS));
    for ((user, day), evs) in &by_owner {
        let (first, last) = (ms(evs[0]), ms(evs[evs.len() - 1]));
        assert!(
            (8 * MINUTE_MS..=62 * MINUTE_MS).contains(&(last - first)),
            "{user} on day {day}: {} ms",
            last - first
        );
        let pairs = gaps(evs).filter(|&g| g < 1_000).count();
        assert!(
            pairs * 2 == evs.len() && pairs >= 5,
            "{user}: {pairs} pairs of {}",
            evs.len()
        );
        assert!(evs
            .iter()
            .all(|e| e.failure_reason == Some(FailureReason::BadPassword)));
        let own: Vec<&Event> = week()
            .iter()
            .filter(|e| e.user == *user && e.label.as_deref() == Some("legit"))
            .collect();
        let inside = own
            .iter()
            .filter(|e| e.outcome == Outcome::Success && (first..=last).contains(&ms(e)))
            .count();
        assert!(
            inside > 0,
            "{user} does not sign in between {first} and {last}"
        );
        assert!(
            evs.iter().all(|a| own.iter().all(|o| o.ip != a.ip)),
            "{user}"
        );
    }
}

#[test]
fn offices_and_carriers_put_many_users_behind_one_address() {
    let mut users: BTreeMap<IpAddr, BTreeSet<&str>> = BTreeMap::new();
    let mut typos: BTreeMap<IpAddr, usize> = BTreeMap::new();
    let mut mobile_only: BTreeMap<IpAddr, bool> = BTreeMap::new();
    for e in week()
        .iter()
        .filter(|e| e.label.as_deref() == Some("legit"))
    {
        users.entry(e.ip).or_default().insert(&e.user);
        *typos.entry(e.ip).or_default() +=
            usize::from(e.failure_reason == Some(FailureReason::BadPassword));
        *mobile_only.entry(e.ip).or_insert(true) &= is_mobile(e);
    }
    let crowded: Vec<IpAddr> = users
        .iter()
        .filter(|(_, u)| u.len() >= 20)
        .map(|(ip, _)| *ip)
        .collect();
    assert!(crowded.iter().any(|ip| typos[ip] > 0), "{crowded:?}");
    // Carriers: only phones; offices: desktops too.
    assert!(crowded.iter().any(|ip| mobile_only[ip]), "no carrier crowd");
    assert!(crowded.iter().any(|ip| !mobile_only[ip]), "no office crowd");
}
