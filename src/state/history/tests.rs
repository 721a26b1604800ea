use super::*;
use crate::event::{Action, PasswordSha1, RiskLevel};

fn event(id: &str, user: &str) -> Event {
    Event {
        event_id: id.to_string(),
        user: user.to_string(),
        password_sha1: Some(PasswordSha1([7; 20])),
        ..Event::default()
    }
}

fn decision(id: &str) -> Decision {
    Decision {
        event_id: id.to_string(),
        action: Action::Allow,
        risk_level: RiskLevel::Low,
        risk_score: 0.01,
        reasons: Vec::new(),
        compromised_password: false,
        enforced: true,
        audit_action: None,
        mfa: None,
        rules_version: "r".into(),
        model_version: "m".into(),
    }
}

fn record(h: &mut History, id: &str, user: &str) -> bool {
    h.record(&event(id, user), &decision(id))
}

fn ids(p: &Page) -> Vec<String> {
    p.events.iter().map(|e| e.event.event_id.clone()).collect()
}

#[test]
fn users_whose_latest_event_is_older_than_the_maximum_age_are_forgotten() {
    let mut h = History::new(10, 100);
    h.set_max_age(Some(std::time::Duration::from_secs(10 * 86_400)));
    let at = |id: &str, user: &str, day: u64| {
        let mut e = event(id, user);
        e.timestamp = Some(crate::event::Timestamp::from_secs(day * 86_400));
        e
    };
    h.record(&at("a1", "a", 1), &decision("a1"));
    h.record(&at("b1", "b", 2), &decision("b1"));
    h.record(&at("a2", "a", 5), &decision("a2")); // a is now the most recent
    h.record(&at("c1", "c", 13), &decision("c1")); // b's latest is 11 days old
    assert!(h.find("b1").is_none(), "b aged out");
    assert!(h.find("a1").is_some() && h.find("a2").is_some());
    assert_eq!(h.evicted_users(), Evictions { cap: 0, age: 1 });
    h.record(&at("c2", "c", 16), &decision("c2"));
    assert!(h.find("a2").is_none(), "a aged out with its older events");
    assert_eq!(h.evicted_users().age, 2);
    assert_eq!(h.len(), 2, "c's two events remain");
    // Without a maximum age, only the cap forgets.
    h.set_max_age(None);
    h.record(&at("d1", "d", 400), &decision("d1"));
    assert!(h.find("c1").is_some());
}

#[test]
fn an_attempt_and_its_outcome_sharing_an_id_are_both_listed() {
    let mut h = History::new(3, 10);
    let attempt = event("s1", "alice");
    let mut outcome = event("s1", "alice");
    outcome.outcome = Outcome::Failure;
    assert!(h.record(&attempt, &decision("s1")));
    assert!(
        h.record(&outcome, &decision("s1")),
        "a second event, not a repeat"
    );
    assert!(
        !h.record(&outcome, &decision("s1")),
        "the outcome again is a repeat"
    );
    assert_eq!(h.len(), 2);
    let listed: Vec<Outcome> = h
        .page(None, "alice", 10, None)
        .events
        .iter()
        .map(|e| e.event.outcome)
        .collect();
    assert_eq!(listed, [Outcome::Failure, Outcome::Attempt]);
    assert_eq!(h.find("s1").unwrap().event.outcome, Outcome::Failure);
    let a = h.find_outcome("s1", Outcome::Attempt).unwrap();
    assert_eq!(a.event.outcome, Outcome::Attempt);
    assert!(h.find_outcome("s1", Outcome::Success).is_none());
    // Feedback on the id is about the outcome, and survives a restore.
    assert!(h.set_feedback("s1", FeedbackVerdict::Fraudulent));
    let mut restored = History::new(3, 10);
    restored.restore(h.entries_by_seq().into_iter().cloned(), h.next_seq());
    assert_eq!(restored.len(), 2);
    let r = restored.find("s1").unwrap();
    assert_eq!(r.feedback, Some(FeedbackVerdict::Fraudulent));
    let ra = restored.find_outcome("s1", Outcome::Attempt).unwrap();
    assert_eq!(ra.feedback, None);
    assert!(ra.has_password);
    // The attempt leaving the ring keeps the outcome findable.
    for id in ["x1", "x2"] {
        record(&mut h, id, "alice");
    }
    assert!(h.find_outcome("s1", Outcome::Attempt).is_none());
    assert_eq!(h.find("s1").unwrap().event.outcome, Outcome::Failure);
    record(&mut h, "x3", "alice");
    assert!(h.find("s1").is_none());
    assert_eq!(h.len(), 3);
}

#[test]
fn keeps_no_password_hash_and_the_first_of_a_redelivered_event() {
    let mut h = History::new(10, 10);
    assert!(record(&mut h, "e1", "alice"));
    let mut again = event("e1", "alice");
    again.user_agent = Some("second".into());
    assert!(!h.record(&again, &decision("e1")));
    let e = h.find("e1").unwrap();
    assert_eq!(e.event.password_sha1, None);
    assert!(e.has_password);
    assert_eq!(e.event.user_agent, None, "the first delivery is kept");
    assert_eq!(h.len(), 1);
    let json = serde_json::to_value(e).unwrap();
    assert!(json["event"].get("password_sha1").is_none(), "{json}");
    assert_eq!(json["has_password"], true);
    assert_eq!(json["decision"]["action"], "allow");
    assert_eq!(json["feedback"], serde_json::Value::Null);
}

#[test]
fn pages_newest_first_with_a_cursor_and_folded_user_names() {
    let mut h = History::new(10, 10);
    for i in 1..=5 {
        record(
            &mut h,
            &format!("a{i}"),
            if i % 2 == 0 { "Alice" } else { " alice" },
        );
        record(&mut h, &format!("b{i}"), "bob");
    }
    let p = h.page(None, "ALICE", 2, None);
    assert_eq!(ids(&p), ["a5", "a4"]);
    let p = h.page(None, "alice", 2, p.next);
    assert_eq!(ids(&p), ["a3", "a2"]);
    let p = h.page(None, "alice", 2, p.next);
    assert_eq!(ids(&p), ["a1"]);
    assert_eq!(p.next, None);
    let p = h.page(None, "alice", 5, None);
    assert_eq!(
        (p.events.len(), p.next),
        (5, None),
        "exactly all: no next page"
    );
    assert!(h.page(Some("other"), "alice", 5, None).events.is_empty());
    assert!(h.page(None, "carol", 5, None).events.is_empty());
    assert_eq!(ids(&h.page(None, "bob", 0, None)), ["b5"], "limit 0 is 1");
}

#[test]
fn rings_drop_their_oldest_and_evicted_ids_are_not_found() {
    let mut h = History::new(3, 10);
    for i in 1..=5 {
        record(&mut h, &format!("e{i}"), "alice");
    }
    assert_eq!(ids(&h.page(None, "alice", 10, None)), ["e5", "e4", "e3"]);
    assert!(h.find("e2").is_none() && h.find("e3").is_some());
    assert!(!h.set_feedback("e1", FeedbackVerdict::Fraudulent));
    assert!(h.set_feedback("e4", FeedbackVerdict::Fraudulent));
    assert_eq!(
        h.find("e4").unwrap().feedback,
        Some(FeedbackVerdict::Fraudulent)
    );
    assert_eq!(h.len(), 3);
}

#[test]
fn the_user_whose_latest_event_is_oldest_goes_first() {
    let mut h = History::new(2, 3);
    record(&mut h, "a1", "a");
    record(&mut h, "b1", "b");
    record(&mut h, "c1", "c");
    record(&mut h, "a2", "a"); // a is now the most recent
    record(&mut h, "d1", "d"); // evicts b
    assert_eq!(h.users(), 3);
    assert!(h.find("b1").is_none());
    assert!(h.page(None, "b", 5, None).events.is_empty());
    assert!(h.find("a1").is_some() && h.find("c1").is_some());
    record(&mut h, "e1", "e"); // evicts c
    record(&mut h, "f1", "f"); // evicts a
    assert!(h.find("c1").is_none() && h.find("a2").is_none());
    assert_eq!(h.evicted_users().cap, 3, "b, c and a went at the cap");
    assert_eq!(ids(&h.page(None, "d", 5, None)), ["d1"]);
    // A freed slot is reused without mixing users up.
    record(&mut h, "b2", "b");
    assert_eq!(ids(&h.page(None, "b", 5, None)), ["b2"]);
    assert_eq!((h.users(), h.len()), (3, 3));
    assert!(h.heap_bytes() > 3 * std::mem::size_of::<Entry>());
}

#[test]
fn bytes_return_to_the_rings_alone_once_everything_is_evicted() {
    let mut h = History::new(1, 1);
    for i in 0..100 {
        record(&mut h, &format!("event-{i}"), &format!("user-{i}"));
        assert_eq!((h.users(), h.len()), (1, 1));
    }
    let one = entry_bytes(h.find("event-99").unwrap());
    assert_eq!(h.entry_bytes, one, "evictions subtract what inserts added");
}

#[test]
fn the_indexes_of_ids_and_accounts_hash_under_the_given_seeds() {
    // Both are chosen by whoever sends events: an unkeyed hash would let
    // them send ids that all land in one run of the table.
    let seeds = [11, 22, 33, 44];
    let h = History::keyed(5, 10, seeds);
    let expected = keyed::hasher(seeds).hash_one("evt-1");
    assert_eq!(h.ids.hasher().hash_one("evt-1"), expected);
    assert_eq!(h.accounts.hasher().hash_one("evt-1"), expected);
    let public = History::new(5, 10);
    assert_ne!(public.ids.hasher().hash_one("evt-1"), expected);
}

#[test]
fn a_presized_history_fills_to_its_cap_without_growing_an_index() {
    let (per_user, users) = (3, 500);
    let mut h = History::new(per_user, users);
    h.presize(10 * users); // more than the cap: sized for the cap
    let caps = |h: &History| (h.accounts.capacity(), h.ids.capacity(), h.rings.capacity());
    let sized = caps(&h);
    assert!(sized.0 >= users && sized.1 >= users * per_user && sized.2 >= users);
    // Past the cap, so users are evicted and ids forgotten as others come.
    for i in 0..(2 * users * per_user) {
        record(
            &mut h,
            &format!("event-{i}"),
            &format!("user-{}", i % (users + 7)),
        );
        // A table's capacity counts its free buckets: a doubling shows as
        // about twice as many, a tombstone left by a removal as one fewer.
        let now = caps(&h);
        assert!(
            now.0 <= sized.0 && now.1 <= sized.1 && now.2 == sized.2,
            "an index grew at event {i}: {now:?} from {sized:?}"
        );
    }
    assert_eq!(h.users(), users);
    let plain = {
        let mut p = History::new(per_user, users);
        let before = caps(&p);
        for i in 0..(users * per_user) {
            record(
                &mut p,
                &format!("event-{i}"),
                &format!("user-{}", i % users),
            );
        }
        (before, caps(&p))
    };
    assert_ne!(
        plain.0, plain.1,
        "without presize the indexes grow as they fill"
    );
}
