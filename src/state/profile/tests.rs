use super::*;

fn age() -> Ageing {
    Ageing::new(30.0, 180)
}

#[test]
fn a_profile_is_196_bytes() {
    assert_eq!(std::mem::size_of::<Profile>(), 196);
}

#[test]
fn an_hour_is_unusual_only_far_from_every_known_hour() {
    let mut p = Profile::default();
    for h in [9, 23, 9, 9] {
        p.hours.learn(h);
    }
    assert!(!p.unusual_hour(3, 1, 5), "too little history to judge");
    p.hours.learn(9);
    assert_eq!(p.hours.sign_ins(), 5);
    assert!(!p.unusual_hour(10, 1, 5));
    assert!(!p.unusual_hour(0, 1, 5), "23h and 0h are neighbours");
    assert!(p.unusual_hour(3, 1, 5));
    assert!(!p.unusual_hour(3, 6, 5));
    for _ in 0..300 {
        p.hours.learn(9);
    }
    assert_eq!(
        (p.hours.sign_ins(), p.hours.mask()),
        (255, 1 << 9 | 1 << 23)
    );
}

#[test]
fn habits_fade_and_are_forgotten() {
    let mut h = Habits::<4>::default();
    h.learn(7, 100, &age());
    h.learn(7, 100, &age());
    assert_eq!(h.lookup(7, 100, &age()), (2.0, 2.0));
    let (w, _) = h.lookup(7, 130, &age());
    assert!(
        (w - 1.0).abs() < 0.01,
        "one half-life halves the weight: {w}"
    );
    assert_eq!(h.lookup(7, 280, &age()).0, 0.0);
}

#[test]
fn a_forgotten_habit_is_gone_and_its_slot_free() {
    let mut h = Habits::<2>::default();
    h.learn(1, 10, &age());
    h.learn(2, 10, &age());
    h.learn(2, 10, &age());
    assert!(h.forget(2));
    assert!(!h.forget(2), "already forgotten");
    assert!(!h.forget(9), "never known");
    assert_eq!(h.lookup(2, 10, &age()), (0.0, 1.0));
    h.learn(3, 10, &age());
    assert!(h.lookup(1, 10, &age()).0 > 0.0, "the free slot was used");
    assert!(h.lookup(3, 10, &age()).0 > 0.0);
    h.learn(0, 10, &age());
    assert!(h.forget(0), "id 0 is stored as 1, and forgotten as 1");
}

#[test]
fn a_full_feature_replaces_its_lightest_habit() {
    let mut h = Habits::<2>::default();
    h.learn(1, 10, &age());
    h.learn(1, 10, &age());
    h.learn(2, 10, &age());
    h.learn(3, 10, &age());
    assert!(h.lookup(1, 10, &age()).0 > 0.0);
    assert_eq!(h.lookup(2, 10, &age()).0, 0.0);
    assert!(h.lookup(3, 10, &age()).0 > 0.0);
}

#[test]
fn the_store_survives_the_checkpoints_format() {
    // Postcard writes a sequence's length first: the store must give it.
    let mut s = ProfileStore::new(100);
    for k in [3u64, 0, u64::MAX, 77] {
        s.get_or_insert(k).last.secs = k as u32 % 1000 + 1;
    }
    let bytes = postcard::to_stdvec(&s).expect("serializes");
    let back: ProfileStore = postcard::from_bytes(&bytes).expect("deserializes");
    assert_eq!(back.len(), 4);
    for k in [3u64, 0, u64::MAX, 77] {
        assert_eq!(back.get(k).unwrap().last.secs, k as u32 % 1000 + 1);
    }
    assert!(back.get(4).is_none());
}

#[test]
fn the_store_caps_by_dropping_the_longest_idle() {
    let mut s = ProfileStore::new(10);
    for k in 0..10u64 {
        s.get_or_insert(k).last.secs = (k as u32 + 1) * 86_400;
    }
    s.get_or_insert(99).last.secs = 50 * 86_400;
    assert!(s.len() <= 10);
    assert!(s.get(0).is_none(), "the idlest profile went");
    assert!(s.get(9).is_some() && s.get(99).is_some());
    let at_cap = s.evictions();
    assert_eq!((at_cap.cap, at_cap.age), (11 - s.len() as u64, 0));
    let before = s.len();
    s.expire(8);
    assert!(s.get(5).is_none() && s.get(9).is_some());
    assert_eq!(s.get(99).unwrap().last.secs, 50 * 86_400);
    let aged = s.evictions();
    assert_eq!(aged.cap, at_cap.cap, "expiry is not the cap");
    assert_eq!(aged.age, (before - s.len()) as u64);
    assert!(aged.age > 0);
}

#[test]
fn the_cap_holds_when_every_profile_is_from_the_same_day() {
    let mut s = ProfileStore::new(100);
    for k in 0..1_000u64 {
        s.get_or_insert(k).last.secs = 86_400;
        assert!(s.len() <= 100, "{} profiles at key {k}", s.len());
    }
    assert!(s.get(999).is_some(), "the newest profile is kept");
}
