//! The `[lockout]` counter against Keycloak's brute-force detector, as
//! timelines: the timing scenarios of Keycloak's own `BruteForceTest`
//! (`testsuite/.../forms/BruteForceTest.java`, Keycloak main at commit
//! 2bbd447b), ladders of waits, and the hourly rate a guesser gets. Every
//! expected lock and count is a literal, worked out by hand from Keycloak's
//! test assertions and its `DefaultBruteForceProtector.failure`; none is
//! computed by the code under test.

use palisade::detect::lockout::PERMANENT_UNTIL_MS;
use palisade::detect::lockout::{Lockout, LockoutMode, LockoutParams, WaitStrategy};
use palisade::detect::{load_rules, Detector, HitKind, Keys};
use palisade::event::Event;

/// 2026-01-05T10:00:00Z: timelines count milliseconds from here.
const T: u64 = 1_767_607_200_000;
const USER: u64 = 7;
/// A permanent lockout, in the "locked until" column.
const FOREVER: u64 = u64::MAX;

#[derive(Debug, Clone, Copy)]
enum Step {
    /// A failed sign-in: counted unless the account is locked.
    Fail,
    /// A sign-in with the right password: must find the account open, then
    /// clears it.
    Success,
    /// An administrator's clear (in Palisade, feedback that a sign-in was the
    /// user's): clears the account, locked or not.
    Clear,
    /// Only looks: is the account locked now?
    Look,
}
use Step::*;

/// (ms after T, step, locked until in ms after T after the step, failures
/// counted, temporary lockouts).
type Row = (u64, Step, Option<u64>, u32, u32);

fn run(name: &str, p: LockoutParams, rows: &[Row]) {
    let mut l = Lockout::new(p, 1_000);
    for &(at, step, until, failures, temporary) in rows {
        let now = T + at;
        match step {
            Fail => {
                let locked_before = l.locked_until(USER, now);
                let locked = l.failure(USER, now);
                if locked_before.is_some() {
                    assert_eq!(
                        locked, None,
                        "{name} +{at}: a refused failure locks nothing new"
                    );
                } else {
                    assert_eq!(
                        locked,
                        l.locked_until(USER, now),
                        "{name} +{at}: what failure says"
                    );
                }
            }
            Success => {
                assert_eq!(
                    l.locked_until(USER, now),
                    None,
                    "{name} +{at}: sign-in refused"
                );
                l.success(USER);
            }
            Clear => {
                l.success(USER);
            }
            Look => {}
        }
        let got = l.locked_until(USER, now).map(|u| match u {
            PERMANENT_UNTIL_MS => FOREVER,
            u => u - T,
        });
        assert_eq!(
            (got, l.failures(USER), l.temporary_lockouts(USER)),
            (until, failures, temporary),
            "{name}: after {step:?} at +{at} ms (locked until, failures, temporary lockouts)"
        );
    }
}

/// BruteForceTest's realm: failureFactor 2, waitIncrementSeconds 20,
/// maxFailureWaitSeconds 100, maxDeltaTimeSeconds 60, MULTIPLE; quick login
/// as Keycloak's default (1000 ms, 60 s).
fn realm() -> LockoutParams {
    LockoutParams {
        failure_factor: 2,
        wait_increment_s: 20,
        max_failure_wait_s: 100,
        max_delta_time_s: 60,
        ..LockoutParams::default()
    }
}

fn permanent(max_temporary_lockouts: u32) -> LockoutParams {
    LockoutParams {
        permanent_lockout: true,
        max_temporary_lockouts,
        ..realm()
    }
}

// Browser steps are two seconds apart (no quick logins); password grants,
// 300 ms apart, are quick, but the count's own wait then takes precedence.

#[test]
fn test_wait_a_lock_refuses_failures_uncounted_and_ends() {
    // testWait (KEYCLOAK-5420): temporarily disabled does not increment the
    // count; 21 s later the user signs in.
    run(
        "testWait",
        realm(),
        &[
            (0, Success, None, 0, 0),
            (2_000, Fail, None, 1, 0),
            (4_000, Fail, Some(24_000), 2, 1), // 20 s × ⌊2/2⌋ from second 4
            (6_000, Look, Some(24_000), 2, 1), // right password: refused
            (8_000, Fail, Some(24_000), 2, 1), // wrong password: not counted
            (23_999, Look, Some(24_000), 2, 1),
            (25_000, Success, None, 0, 0),
        ],
    );
}

#[test]
fn test_by_multiple_strategy() {
    // testByMultipleStrategy: locked after 2; 30 s on a 3rd failure counts
    // (⌊3/2⌋ × 20 s); 60 s on the user signs in.
    run(
        "testByMultipleStrategy",
        realm(),
        &[
            (0, Success, None, 0, 0),
            (2_000, Fail, None, 1, 0),
            (4_000, Fail, Some(24_000), 2, 1),
            (6_000, Look, Some(24_000), 2, 1),
            (34_000, Fail, Some(54_000), 3, 2),
            (64_000, Success, None, 0, 0),
        ],
    );
}

#[test]
fn test_linear_strategy() {
    // testLinearStrategy: (1 + 3 − 2) × 20 s = 40 s from second 34, so at
    // 60 s the user is still locked out.
    let p = LockoutParams {
        strategy: WaitStrategy::Linear,
        ..realm()
    };
    run(
        "testLinearStrategy",
        p,
        &[
            (0, Success, None, 0, 0),
            (2_000, Fail, None, 1, 0), // (1 + 1 − 2) × 20 s = 0
            (4_000, Fail, Some(24_000), 2, 1),
            (6_000, Look, Some(24_000), 2, 1),
            (34_000, Fail, Some(74_000), 3, 2),
            (64_000, Look, Some(74_000), 3, 2),
        ],
    );
}

#[test]
fn test_failure_reset_for_temporary_lockout() {
    // testFailureResetForTemporaryLockout: maxDeltaTimeSeconds 5; a failure
    // more than 5 s after the first starts the count over, so no lock.
    let p = LockoutParams {
        max_delta_time_s: 5,
        ..realm()
    };
    run(
        "testFailureResetForTemporaryLockout",
        p,
        &[
            (0, Fail, None, 1, 0),
            (5_001, Fail, None, 1, 0),
            (7_001, Success, None, 0, 0),
        ],
    );
    // Exactly max_delta_time later is not more than it: the count goes on.
    run(
        "reset boundary",
        p,
        &[(0, Fail, None, 1, 0), (5_000, Fail, Some(25_000), 2, 1)],
    );
}

#[test]
fn test_repeated_failure_reset_keeps_the_last_failure() {
    // testRepeatedFailureResetForTemporaryLockout: maxDeltaTimeSeconds 3600,
    // failures at T1 and T1 + 3601 s: the count is 1 again.
    let p = LockoutParams {
        max_delta_time_s: 3_600,
        ..realm()
    };
    run(
        "testRepeatedFailureResetForTemporaryLockout",
        p,
        &[(0, Fail, None, 1, 0), (3_601_000, Fail, None, 1, 0)],
    );
    // Its point, that the reset keeps the failure's time: with the default
    // factor, a failure 500 ms after the reset one is a quick login (60 s
    // from second 3601).
    let p = LockoutParams {
        max_delta_time_s: 3_600,
        ..LockoutParams::default()
    };
    run(
        "the reset failure's time",
        p,
        &[
            (0, Fail, None, 1, 0),
            (3_601_000, Fail, None, 1, 0),
            (3_601_500, Fail, Some(3_661_000), 2, 0),
        ],
    );
}

#[test]
fn test_no_failure_reset_for_permanent_lockout() {
    // testNoFailureResetForPermanentLockout: permanent lockout never forgets,
    // so the 2nd failure, 5 s after the first with maxDeltaTimeSeconds 5,
    // disables the user.
    let p = LockoutParams {
        max_delta_time_s: 5,
        ..permanent(0)
    };
    run(
        "testNoFailureResetForPermanentLockout",
        p,
        &[
            (0, Fail, None, 1, 0),
            (5_001, Fail, Some(FOREVER), 2, 0),
            (7_001, Look, Some(FOREVER), 2, 0),
            (8_000_000_000, Fail, Some(FOREVER), 2, 0), // refused, not counted
        ],
    );
}

#[test]
fn test_permanent_lockout() {
    // testPermanentLockout (quickLoginCheckMilliSeconds 0) and
    // testPermanentLockoutWithTempLockoutParamsSet (waitIncrementSeconds 0
    // too): two failures disable the user.
    let p = LockoutParams {
        quick_login_check_ms: 0,
        ..permanent(0)
    };
    run(
        "testPermanentLockout",
        p,
        &[
            (0, Fail, None, 1, 0),
            (500, Fail, Some(FOREVER), 2, 0),
            (1_000, Look, Some(FOREVER), 2, 0),
        ],
    );
    let p = LockoutParams {
        wait_increment_s: 0,
        ..p
    };
    run(
        "testPermanentLockoutWithTempLockoutParamsSet",
        p,
        &[(0, Fail, None, 1, 0), (2_000, Fail, Some(FOREVER), 2, 0)],
    );
}

#[test]
fn test_exceed_max_temporary_lockouts() {
    // testExceedMaxTemporaryLockouts: two temporary lockouts are allowed; the
    // failure that would be the third disables the user.
    run(
        "testExceedMaxTemporaryLockouts",
        permanent(2),
        &[
            (0, Fail, None, 1, 0),
            (2_000, Fail, Some(22_000), 2, 1),
            (4_000, Look, Some(22_000), 2, 1),
            (23_000, Fail, Some(43_000), 3, 2), // ⌊3/2⌋ × 20 s
            (24_000, Look, Some(43_000), 3, 2),
            (44_000, Fail, Some(FOREVER), 4, 3),
        ],
    );
}

#[test]
fn test_max_temporary_lockouts_reset() {
    // testMaxTemporaryLockoutsReset: a success clears the temporary lockouts.
    run(
        "testMaxTemporaryLockoutsReset",
        permanent(2),
        &[
            (0, Fail, None, 1, 0),
            (2_000, Fail, Some(22_000), 2, 1),
            (23_000, Success, None, 0, 0),
        ],
    );
}

#[test]
fn test_reset_login_failure_count() {
    // testResetLoginFailureCount: with permanent lockout, a success between
    // failures keeps the user below the factor.
    run(
        "testResetLoginFailureCount",
        permanent(0),
        &[
            (0, Fail, None, 1, 0),
            (2_000, Success, None, 0, 0),
            (4_000, Fail, None, 1, 0),
            (6_000, Success, None, 0, 0),
        ],
    );
}

#[test]
fn test_number_of_failures_while_disabled_with_password_grants() {
    // testNumberOfFailuresForTemporaryDisabledUsersWithPasswordGrantType and
    // ...PermanentlyDisabled...: once locked, an invalid password does not
    // change the count.
    run(
        "temporarily disabled",
        realm(),
        &[
            (0, Success, None, 0, 0),
            (300, Fail, None, 1, 0),
            (600, Fail, Some(20_000), 2, 1), // from second 0
            (900, Fail, Some(20_000), 2, 1),
        ],
    );
    run(
        "permanently disabled",
        permanent(0),
        &[
            (0, Success, None, 0, 0),
            (300, Fail, None, 1, 0),
            (600, Fail, Some(FOREVER), 2, 0),
            (900, Fail, Some(FOREVER), 2, 0),
        ],
    );
}

#[test]
fn test_grant_invalid_password_and_failure_count_reset() {
    // testGrantInvalidPassword: the right password is refused while locked;
    // after clearBruteForceForUser it works. testFailureCountResetWithPass-
    // wordGrantType: a success puts the count back to 0.
    run(
        "testGrantInvalidPassword",
        realm(),
        &[
            (0, Success, None, 0, 0),
            (300, Fail, None, 1, 0),
            (600, Fail, Some(20_000), 2, 1),
            (900, Look, Some(20_000), 2, 1),
            (1_200, Clear, None, 0, 0),
            (1_500, Success, None, 0, 0),
        ],
    );
    run(
        "testFailureCountResetWithPasswordGrantType",
        realm(),
        &[(0, Fail, None, 1, 0), (300, Success, None, 0, 0)],
    );
}

#[test]
fn test_race_attack_counts_no_failure_after_the_lock() {
    // testRaceAttackTemporaryLockout (waitIncrementSeconds 120, capped by the
    // realm's maxFailureWaitSeconds 100; quickLoginCheckMilliSeconds 120000),
    // in order: of 100 failures 10 ms apart, the 2nd locks and the other 98
    // are refused (Keycloak allows up to 3 for its race).
    let p = LockoutParams {
        wait_increment_s: 120,
        quick_login_check_ms: 120_000,
        ..realm()
    };
    let mut rows: Vec<Row> = vec![
        (0, Success, None, 0, 0),
        (10, Fail, None, 1, 0),
        (20, Fail, Some(100_000), 2, 1),
    ];
    for i in 3..=100 {
        rows.push((i * 10, Fail, Some(100_000), 2, 1));
    }
    run("testRaceAttackTemporaryLockout", p, &rows);
}

#[test]
fn quick_logins_lock_for_the_minimum_wait_and_twelve_hours_forget() {
    // Keycloak's defaults. A failure within a second of the one before, while
    // the count asks for no wait, locks for minimumQuickLoginWaitSeconds.
    run(
        "quick login",
        LockoutParams::default(),
        &[
            (0, Fail, None, 1, 0),
            (500, Fail, Some(60_000), 2, 0), // quick: not a temporary lockout
            (30_000, Fail, Some(60_000), 2, 0),
            (60_000, Fail, None, 3, 0), // 59.5 s after the last counted one
            (60_800, Fail, Some(120_000), 4, 0),
        ],
    );
    run(
        "max delta",
        LockoutParams::default(),
        &[
            (0, Fail, None, 1, 0),
            (2_000, Fail, None, 2, 0),
            (43_202_000, Fail, None, 3, 0), // exactly 12 h later: kept
            (86_402_001, Fail, None, 1, 0), // 12 h and 1 ms later: forgotten
        ],
    );
}

/// A guesser trying every 2 s from T: each try while the account is locked is
/// refused (and must not count). Returns each counted failure as (seconds
/// after T, locked until in seconds after T, or 0 for none), stopping after
/// `counted` of them or at `end_s`.
fn guesser(p: LockoutParams, counted: usize, end_s: u64) -> Vec<(u64, u64)> {
    let mut l = Lockout::new(p, 10);
    let mut out = Vec::new();
    let mut at_s = 0;
    while out.len() < counted && at_s < end_s {
        let now = T + at_s * 1000;
        let before = l.failures(USER);
        match l.locked_until(USER, now) {
            Some(_) => {
                assert_eq!(l.failure(USER, now), None);
                assert_eq!(
                    l.failures(USER),
                    before,
                    "a refused guess counted at {at_s} s"
                );
            }
            None => {
                let until = l.failure(USER, now).map_or(0, |u| (u - T) / 1000);
                assert_eq!(l.failures(USER), before + 1);
                out.push((at_s, until));
            }
        }
        at_s += 2;
    }
    out
}

#[test]
fn ladder_of_thirty_failures_with_failure_factor_3() {
    // Defaults but failure_factor 3: wait = 60 s × ⌊k/3⌋ after the k-th
    // counted failure (the cap of 900 s is reached only at k = 45), and the
    // next guess is the first 2 s tick at or after the lock's end.
    let p = LockoutParams {
        failure_factor: 3,
        ..LockoutParams::default()
    };
    #[rustfmt::skip]
    let want: [(u64, u64); 30] = [
        (0, 0), (2, 0), (4, 64),                 // k 1-3: 0, 0, 60 s
        (64, 124), (124, 184), (184, 304),       // k 4-6: 60, 60, 120 s
        (304, 424), (424, 544), (544, 724),      // k 7-9: 120, 120, 180 s
        (724, 904), (904, 1084), (1084, 1324),   // k 10-12: 180, 180, 240 s
        (1324, 1564), (1564, 1804), (1804, 2104),// k 13-15: 240, 240, 300 s
        (2104, 2404), (2404, 2704), (2704, 3064),// k 16-18: 300, 300, 360 s
        (3064, 3424), (3424, 3784), (3784, 4204),// k 19-21: 360, 360, 420 s
        (4204, 4624), (4624, 5044), (5044, 5524),// k 22-24: 420, 420, 480 s
        (5524, 6004), (6004, 6484), (6484, 7024),// k 25-27: 480, 480, 540 s
        (7024, 7564), (7564, 8104), (8104, 8704),// k 28-30: 540, 540, 600 s
    ];
    assert_eq!(guesser(p, 30, u64::MAX), want);
}

#[test]
fn ladder_of_thirty_failures_with_failure_factor_3_linear() {
    // Linear: wait = 60 s × (1 + k − 3) = 60 s × (k − 2), capped at 900 s
    // from k = 17.
    let p = LockoutParams {
        failure_factor: 3,
        strategy: WaitStrategy::Linear,
        ..LockoutParams::default()
    };
    #[rustfmt::skip]
    let want: [(u64, u64); 30] = [
        (0, 0), (2, 0), (4, 64),                     // k 1-3: 0, 0, 60 s
        (64, 184), (184, 364), (364, 604),           // k 4-6: 120, 180, 240 s
        (604, 904), (904, 1264), (1264, 1684),       // k 7-9: 300, 360, 420 s
        (1684, 2164), (2164, 2704), (2704, 3304),    // k 10-12: 480, 540, 600 s
        (3304, 3964), (3964, 4684), (4684, 5464),    // k 13-15: 660, 720, 780 s
        (5464, 6304), (6304, 7204), (7204, 8104),    // k 16-18: 840, 900, 900 s
        (8104, 9004), (9004, 9904), (9904, 10804),   // k 19-21: 900 s
        (10804, 11704), (11704, 12604), (12604, 13504),
        (13504, 14404), (14404, 15304), (15304, 16204),
        (16204, 17104), (17104, 18004), (18004, 18904),
    ];
    assert_eq!(guesser(p, 30, u64::MAX), want);
}

#[test]
fn ladder_of_thirty_failures_with_the_defaults() {
    // Every 2 s, none quick: the 30th failure, at 58 s, is the first to lock,
    // for 60 s × ⌊30/30⌋.
    let mut want: Vec<(u64, u64)> = (0..29).map(|k| (2 * k, 0)).collect();
    want.push((58, 118));
    assert_eq!(guesser(LockoutParams::default(), 30, u64::MAX), want);
}

#[test]
fn a_guesser_gets_74_guesses_in_the_first_hour() {
    // Keycloak's defaults, a guess every 2 s whenever the account is open.
    // Failures 1-29 are free (0-56 s); from the 30th (58 s) every failure
    // locks: 60 s each for failures 30-59, so the 60th comes at
    // 58 + 30 × 60 = 1858 s; 120 s each from the 60th, so the 74th comes at
    // 1858 + 14 × 120 = 3538 s and the 75th at 3658 s, past the hour. (The
    // old count, locking only at multiples of 30, allowed about 300.)
    let counted = guesser(LockoutParams::default(), usize::MAX, 3_600);
    assert_eq!(counted.len(), 74);
    assert_eq!(counted[59], (1_858, 1_978));
    assert_eq!(counted[73], (3_538, 3_658));
}

/// The rule folder with one lockout rule, compiled.
fn lockout_rule(table: &str) -> Result<Detector, String> {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "id = \"lockout_test\"\ncategory = \"brute_force\"\n\n[lockout]\n{table}\n[overflow]\naction = \"block\"\nscore = 1.0\n"
    );
    std::fs::write(dir.path().join("lockout_test.toml"), text).unwrap();
    match load_rules(Some(dir.path()), &Default::default(), 1_000) {
        Ok(mut set) => Ok(set.detectors.remove(0)),
        Err(problems) => Err(problems
            .iter()
            .map(|p| format!("{}: {}", p.line.unwrap_or(0), p.message))
            .collect::<Vec<_>>()
            .join("\n")),
    }
}

fn event(at_ms: u64, outcome: &str) -> Event {
    let secs = at_ms / 1000;
    let ts = format!(
        "2026-01-05T10:{:02}:{:02}.{:03}Z",
        secs / 60,
        secs % 60,
        at_ms % 1000
    );
    let reason = if outcome == "failure" {
        r#", "failure_reason": "bad_password""#
    } else {
        ""
    };
    let json = format!(
        r#"{{"event_id": "e{at_ms}", "timestamp": "{ts}", "kind": "sign_in", "user": "u@example.com", "ip": "198.51.100.1", "outcome": "{outcome}"{reason}}}"#
    );
    Event::from_json(json.as_bytes()).unwrap()
}

#[test]
fn an_empty_lockout_table_is_keycloaks_defaults_in_owner_aware_mode() {
    let d = lockout_rule("").unwrap();
    assert_eq!(d.lockout_mode(), Some(LockoutMode::OwnerAware));
    assert_eq!(d.lockout().unwrap().params(), LockoutParams::default());
    let d = lockout_rule("mode = \"keycloak\"\n").unwrap();
    assert_eq!(d.lockout_mode(), Some(LockoutMode::Keycloak));
}

#[test]
fn the_detector_refuses_and_does_not_count_outcomes_while_locked() {
    let table = "failure_factor = 2\nwait_increment = \"20s\"\n";
    let mut d = lockout_rule(&format!("mode = \"keycloak\"\n{table}")).unwrap();
    let keys = Keys {
        user: USER,
        ..Keys::default()
    };
    let hit = |d: &mut Detector, at_ms: u64, outcome: &str| {
        d.evaluate(&event(at_ms, outcome), &keys, T + at_ms, false)
    };
    assert_eq!(hit(&mut d, 2_000, "failure"), None);
    assert_eq!(
        hit(&mut d, 4_000, "failure"),
        Some(HitKind::Overflow {
            until_ms: Some(T + 24_000)
        })
    );
    let locked = Some(HitKind::InForce {
        until_ms: T + 24_000,
    });
    assert_eq!(hit(&mut d, 6_000, "failure"), locked);
    assert_eq!(hit(&mut d, 7_000, "attempt"), locked);
    assert_eq!(hit(&mut d, 8_000, "success"), locked);
    assert_eq!(hit(&mut d, 24_000, "attempt"), None, "open at the second");
    assert_eq!(d.lockout().unwrap().failures(USER), 2);
    // The 3rd failure: ⌊3/2⌋ × 20 s again.
    assert_eq!(
        hit(&mut d, 25_000, "failure"),
        Some(HitKind::Overflow {
            until_ms: Some(T + 45_000)
        })
    );
    assert!(
        d.on_success(&keys, T + 26_000, Default::default()),
        "a success clears the lock"
    );
    assert_eq!(d.lockout().unwrap().locked_until(USER, T + 26_000), None);

    // In owner_aware mode the owner may sign in during a lock held against
    // everyone else: that success leaves the lock in place for the others.
    let mut d = lockout_rule(table).unwrap();
    hit(&mut d, 2_000, "failure");
    hit(&mut d, 4_000, "failure");
    assert!(
        !d.on_success(&keys, T + 5_000, Default::default()),
        "the lock holds"
    );
    assert_eq!(
        d.lockout().unwrap().locked_until(USER, T + 5_000),
        Some(T + 24_000)
    );
    assert!(
        d.on_success(&keys, T + 24_000, Default::default()),
        "after it, a success clears"
    );
}

#[test]
fn the_signature_changes_with_any_parameter() {
    let base = lockout_rule("").unwrap().signature();
    for table in [
        "mode = \"keycloak\"",
        "failure_factor = 29",
        "strategy = \"linear\"",
        "wait_increment = \"59s\"",
        "max_failure_wait = \"14m\"",
        "quick_login_check = \"999ms\"",
        "minimum_quick_login_wait = \"59s\"",
        "max_delta_time = \"11h\"",
        "permanent_lockout = true",
        "permanent_lockout = true\nmax_temporary_lockouts = 1",
    ] {
        let other = lockout_rule(&format!("{table}\n")).unwrap().signature();
        assert_ne!(other, base, "{table}");
    }
    let spelled_out = lockout_rule(
        "mode = \"owner_aware\"\nfailure_factor = 30\nstrategy = \"multiple\"\nwait_increment = \"1m\"\nmax_failure_wait = \"15m\"\nquick_login_check = \"1s\"\nminimum_quick_login_wait = \"1m\"\nmax_delta_time = \"12h\"\npermanent_lockout = false\nmax_temporary_lockouts = 0\n",
    )
    .unwrap();
    assert_eq!(spelled_out.signature(), base, "the defaults spelled out");
}

#[test]
fn bad_values_are_all_reported_with_their_key_and_line() {
    let err = lockout_rule(
        "mode = \"strict\"\nfailure_factor = 0\nstrategy = \"exponential\"\nwait_increment = \"1500ms\"\nmax_failure_wait = \"soon\"\nquick_login_check = \"1500us\"\nmax_temporary_lockouts = 3\n",
    )
    .err()
    .unwrap();
    let want = [
        "5: mode \"strict\" is not one of keycloak, owner_aware",
        "6: failure_factor must be at least 1, got 0",
        "7: strategy \"exponential\" is not one of multiple, linear",
        "8: wait_increment must be whole seconds (Keycloak keeps it so), got \"1500ms\"",
        "9: max_failure_wait \"soon\" is not a duration like \"30s\" or \"10m\"",
        "10: quick_login_check must be whole milliseconds (Keycloak keeps it so), got \"1500us\"",
        "11: max_temporary_lockouts = 3 needs permanent_lockout = true",
    ];
    for w in want {
        assert!(err.contains(w), "missing {w:?} in:\n{err}");
    }
    assert_eq!(err.lines().count(), want.len(), "{err}");
}

#[test]
fn unknown_lockout_keys_are_errors() {
    let err = lockout_rule("failure_factr = 3\n").err().unwrap();
    assert!(err.contains("failure_factr"), "{err}");
}

#[test]
fn zero_durations_are_allowed_as_in_keycloak() {
    let d = lockout_rule("quick_login_check = \"0s\"\nwait_increment = \"0s\"\n").unwrap();
    let p = d.lockout().unwrap().params();
    assert_eq!((p.quick_login_check_ms, p.wait_increment_s), (0, 0));
}
