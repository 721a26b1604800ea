//! Unit tests of the failure evidence.

use super::*;
use crate::model::load_model;

fn evidence() -> SourceEvidence {
    let model = load_model(None, None).unwrap();
    SourceEvidence::new(model.spec.evidence.as_ref(), &Limits::default()).unwrap()
}

fn event(user: &str, ip: &str, outcome: &str) -> Event {
    let json = format!(
        r#"{{"event_id":"x","kind":"sign_in","user":"{user}","ip":"{ip}","outcome":"{outcome}"}}"#
    );
    Event::from_json(json.as_bytes()).unwrap()
}

/// Keys as the engine derives them, from small numbers.
fn keys(user: u64, ip: u64) -> Keys {
    Keys {
        ip,
        user,
        user_ip: user << 32 | ip,
        network: ip >> 8,
        ..Keys::default()
    }
}

const T: u64 = 1_767_600_000_000;

#[test]
fn a_failure_weighs_against_the_sign_ins_after_it() {
    let mut ev = evidence();
    let k = keys(1, 0x0a00);
    let fail = event("a", "198.51.100.1", "failure");
    let mut scores = Vec::new();
    for i in 0..6 {
        let (f, _) = ev.weigh(&fail, &k, T + i * 30_000);
        scores.push(f.map_or(0.0, |f| f.score));
    }
    assert_eq!(scores[0], 0.0, "the first failure is no evidence");
    assert!(
        scores.windows(2).all(|w| w[0] <= w[1]),
        "each failure adds: {scores:?}"
    );
    // An attempt after 6 failures weighs all 6, as the 7th failure does
    // (besides itself).
    let (attempt, _) = ev.weigh(&event("a", "198.51.100.1", "attempt"), &k, T + 200_000);
    let seventh = ev.weigh(&fail, &k, T + 200_000).0.unwrap();
    assert_eq!(attempt.unwrap().others, 6);
    assert_eq!((seventh.others, seventh.failures), (6, 7));
    assert_eq!(seventh.kind, SourceKind::UserIp);
    let text = ev.explain(&seventh);
    assert!(
        text.starts_with("7 failed sign-ins from this user from this address in the last 10m"),
        "{text}"
    );
}

#[test]
fn a_success_forgets_its_users_typos_everywhere_and_credits_the_address() {
    let mut ev = evidence();
    let ip = 0x0b00;
    let fail = |ev: &mut SourceEvidence, user: u64, at: u64| {
        ev.weigh(
            &event("u", "198.51.100.2", "failure"),
            &keys(user, ip),
            T + at,
        )
    };
    for (user, at) in [(1, 0), (1, 20_000), (1, 40_000), (2, 60_000), (2, 80_000)] {
        fail(&mut ev, user, at);
    }
    let probe = |ev: &mut SourceEvidence, at: u64| {
        ev.weigh(&event("c", "198.51.100.2", "attempt"), &keys(3, ip), T + at)
            .0
            .map(|f| (f.kind, f.others))
    };
    assert_eq!(probe(&mut ev, 90_000), Some((SourceKind::Ip, 5)));
    // User 1 gets the password right, even unlet: three typos forgotten.
    let present = ev.present(&keys(1, ip));
    ev.succeeded(
        &event("u", "198.51.100.2", "success"),
        &keys(1, ip),
        present,
        T + 95_000,
        false,
    );
    assert_eq!(probe(&mut ev, 100_000), Some((SourceKind::Ip, 2)));
    // Let through, successes raise what the address is expected to fail.
    let (before, _) = ev.weigh(
        &event("c", "198.51.100.2", "attempt"),
        &keys(3, ip),
        T + 100_000,
    );
    for i in 0..30 {
        let present = ev.present(&keys(100 + i, ip));
        ev.succeeded(
            &event("v", "198.51.100.2", "success"),
            &keys(100 + i, ip),
            present,
            T + 100_000 + i * 1_000,
            true,
        );
    }
    let (after, _) = ev.weigh(
        &event("c", "198.51.100.2", "attempt"),
        &keys(3, ip),
        T + 130_000,
    );
    assert!(
        after.map_or(0.0, |f| f.score) < before.map_or(0.0, |f| f.score),
        "{before:?} {after:?}"
    );
}

#[test]
fn a_success_is_not_held_to_its_own_typos_at_the_address() {
    let mut ev = evidence();
    let k = keys(1, 0x0c00);
    for i in 0..4 {
        ev.weigh(&event("a", "198.51.100.3", "failure"), &k, T + i * 20_000);
    }
    // The user's own 4 failures weigh as the user's (challenge-free at 4),
    // not again as the address's.
    let f = ev
        .weigh(&event("a", "198.51.100.3", "success"), &k, T + 90_000)
        .0
        .unwrap();
    assert_eq!((f.kind, f.others), (SourceKind::UserIp, 4));
    // Another user's failure from there sees all of them.
    let other = ev
        .weigh(
            &event("b", "198.51.100.3", "failure"),
            &keys(2, 0x0c00),
            T + 95_000,
        )
        .0
        .unwrap();
    assert_eq!((other.kind, other.others), (SourceKind::Ip, 4));
}

#[test]
fn bans_grow_with_the_record_and_none_starts_while_one_is_served() {
    let mut ev = evidence();
    let (until, level) = ev.ban(7, T).unwrap();
    assert_eq!((until, level), (T + 600_000, 1.0));
    assert_eq!(ev.ban(7, T + 60_000), None, "serving its ban");
    assert!(matches!(
        ev.standing(7, T + 60_000),
        Some(Standing::Banned { .. })
    ));
    let (until, _) = ev.ban(7, T + 700_000).unwrap();
    assert!(until >= T + 700_000 + 1_190_000, "twice as long: {until}");
    let after = ev.standing(7, until + 1_000).unwrap();
    assert!(matches!(after, Standing::Offender { level } if level > 1.9));
    assert!(ev.standing_score(after) > 2.5);
    assert!(ev
        .explain_standing(after, until + 1_000)
        .starts_with("address banned before"));
}
