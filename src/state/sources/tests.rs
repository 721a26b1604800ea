use super::*;

const W: [u32; WINDOWS] = [10, 600, 3600, 86_400];

#[test]
fn failures_are_counted_exactly_per_window_up_to_the_ring() {
    let mut t = SourceTable::tallies(10);
    for s in [1_000, 1_100, 1_500, 3_000, 4_000] {
        t.fail(7, s, 86_400);
    }
    let tally = t.get(7).unwrap().clone();
    assert_eq!(tally.failures(4_000, &W), [1, 1, 5, 5]);
    assert_eq!(tally.failures(4_599, &W), [0, 1, 5, 5]);
    assert_eq!(
        tally.failures(4_600, &W),
        [0, 0, 4, 5],
        "a window is open at its far end"
    );
    for s in 0..40 {
        t.fail(7, 5_000 + s, 86_400);
    }
    assert_eq!(t.get(7).unwrap().failures(5_040, &W), [9, 16, 16, 16]);
    let mut times = [0; RING];
    assert_eq!(t.clear_failures(7, 5_040, 600, &mut times), 16);
    assert_eq!(times.iter().min(), Some(&5_024), "the latest 16: {times:?}");
    assert_eq!(times.iter().max(), Some(&5_039));
    assert!(t.get(7).is_none(), "nothing left: the tally goes");
    // A tally credited with a success keeps it, without its failures.
    t.fail(8, 5_000, 86_400);
    t.resolve(8, &[], Some((5_010, &W)));
    assert_eq!(t.clear_failures(8, 5_040, 600, &mut times), 1);
    let kept = t.get(8).expect("kept for its success");
    assert_eq!(kept.failures(5_040, &W), [0; WINDOWS]);
    assert!(kept.successes(5_040, &W)[3] > 0.9);
}

#[test]
fn a_tally_fits_a_cache_line_until_its_fifth_failure_and_counts_the_rest() {
    let mut t = SourceTable::tallies(10);
    for s in 1..=4 {
        t.fail(7, s, 86_400);
    }
    let line = t.heap_bytes();
    assert_eq!(t.get(7).unwrap().held_bytes(), 0);
    t.fail(7, 5, 86_400);
    assert_eq!(
        t.heap_bytes(),
        line + FAR_BYTES,
        "the fifth makes the rest of the ring"
    );
    assert_eq!(t.get(7).unwrap().failures(5, &W), [5; WINDOWS]);
    let mut times = [0; RING];
    assert_eq!(t.clear_failures(7, 5, 600, &mut times), 5);
    assert_eq!(t.heap_bytes(), line, "and it goes with the failures");
    for k in 0..3 {
        for s in 1..=6 {
            t.fail(k, s, 10);
        }
    }
    assert_eq!(t.heap_bytes(), line + 3 * FAR_BYTES);
    t.forget_idle(100, 10);
    assert!(t.is_empty());
    assert_eq!(t.heap_bytes(), line, "expiry counts them again");
}

#[test]
fn a_checkpoint_holds_the_whole_ring_as_one_array_as_before() {
    let mut t = SourceTable::tallies(10);
    for s in 1..=6 {
        t.fail(7, s * 10, 86_400);
    }
    t.fail(8, 3, 86_400);
    let json = serde_json::to_value(t.get(7).unwrap()).unwrap();
    let failures: Vec<u64> = serde_json::from_value(json["failures"].clone()).unwrap();
    assert_eq!(
        failures,
        [10, 20, 30, 40, 50, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(json["next"], 6);
    let back: Tally = serde_json::from_value(json).unwrap();
    assert_eq!(&back, t.get(7).unwrap());
    let short: Tally =
        serde_json::from_value(serde_json::to_value(t.get(8).unwrap()).unwrap()).unwrap();
    assert_eq!(
        short.held_bytes(),
        0,
        "a tally of few failures reads back without a far part"
    );
    assert_eq!(&short, t.get(8).unwrap());
}

#[test]
fn successes_decay_per_window_and_only_sources_that_failed_are_credited() {
    let mut t = SourceTable::tallies(10);
    t.resolve(1, &[], Some((100, &W)));
    assert!(t.get(1).is_none());
    t.fail(1, 100, 86_400);
    for s in 0..10 {
        t.resolve(1, &[], Some((100 + s, &W)));
    }
    let ok = t.get(1).unwrap().successes(109 + 600, &W);
    assert!(ok[0] < 1e-6, "{ok:?}");
    assert!((3.6..3.8).contains(&ok[1]), "{ok:?}: one mean life later");
    assert!(ok[3] > 9.8, "{ok:?}");
}

#[test]
fn tables_stay_within_their_cap() {
    let mut t = SourceTable::tallies(100);
    for k in 0..1_000u64 {
        t.fail(k, k as u32 + 1, 86_400);
        assert!(t.len() <= 100);
    }
    assert!(t.get(999).is_some(), "the newest stays");
    assert!(t.evictions().cap >= 900);
    t.forget_idle(1_000 + 86_400 + 1, 86_400);
    assert!(t.is_empty());
}

#[test]
fn bans_grow_with_the_decayed_count_and_records_fade() {
    let day = 86_400;
    let mut o = Offenders::records(10);
    let ban = |before: f32| (600.0 * 2f32.powf(before)) as u32;
    assert_eq!(o.ban(1, 1_000, 2 * day, ban), (1.0, 1_600));
    let (level, until) = o.ban(1, 2_000, 2 * day, ban);
    assert!((1.99..2.0).contains(&level), "{level}");
    assert!((3_190..3_200).contains(&until), "{until}: twice the first");
    assert!(o.get(1).unwrap().banned(3_000));
    let later = 2_000 + 2 * day;
    assert!((0.99..1.0).contains(&o.get(1).unwrap().level(later, 2 * day)));
    o.forget_faded(2_000 + 12 * day, 2 * day);
    assert!(o.is_empty(), "forgotten once the count fades");
}
