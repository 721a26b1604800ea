//! The engine's enforcement and feedback API end to end, on the shipped rules
//! and model: a rule's block leaves as one enforcement record, in force until
//! it ends in event time; a legitimate verdict teaches the profile; a
//! fraudulent one blocks, requires a password reset and marks the values.

use palisade::config::{Config, Mode, Setting};
use palisade::engine::{Enforcement, EnforcementAction, Engine, FeedbackVerdict, Scope};
use palisade::event::{Action, Decision, Event, Timestamp};
use palisade::state::fraud::Feature;
use std::path::PathBuf;

fn engine(config: Config) -> Engine {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config = Config {
        rules: Some(root.join("rules")),
        models: Some(root.join("models")),
        ..config
    };
    Engine::from_config(&config).expect("the shipped rules and model load")
}

/// 2026-03-02T09:00:00Z
const T0: u64 = 1_772_442_000;

fn time(secs: u64) -> String {
    Timestamp::from_secs(T0 + secs).to_rfc3339()
}

/// An event `secs` after T0; `extra` is more JSON fields, each with a leading comma.
fn event(id: &str, secs: u64, user: &str, ip: &str, outcome: &str, extra: &str) -> Event {
    let json = format!(
        r#"{{"event_id":"{id}","timestamp":"{}","kind":"sign_in","user":"{user}","ip":"{ip}","outcome":"{outcome}"{extra}}}"#,
        time(secs)
    );
    Event::from_json(json.as_bytes()).unwrap_or_else(|e| panic!("{json}: {e}"))
}

fn codes(d: &Decision) -> Vec<String> {
    d.reasons.iter().map(|r| r.code.to_string()).collect()
}

fn has(d: &Decision, code: &str) -> bool {
    d.reasons.iter().any(|r| &*r.code == code)
}

const ATTACKER: &str = "198.51.100.23";
const HOME: &str = "203.0.113.7";

#[test]
fn a_brute_force_block_is_one_enforcement_in_force_until_it_ends() {
    let mut engine = engine(Config::default());
    let bad = r#","failure_reason":"bad_password""#;
    let mut blocked_at = None;
    // Ten seconds apart: no quick-login lockout; brute_force's count and the
    // model's failure evidence.
    for i in 0..10 {
        let e = event(
            &format!("bf-{i}"),
            i * 10,
            "Victim@Example.com",
            ATTACKER,
            "failure",
            bad,
        );
        let d = engine.evaluate(&e);
        if d.action == Action::Block {
            blocked_at.get_or_insert(i);
        }
    }
    // The model's failure evidence blocks the 9th failure and bans the
    // address (10 minutes); brute_force's 10th blocks the user from it.
    assert_eq!(blocked_at, Some(8), "the 9th failure blocks");
    let issued = engine.take_enforcements();
    assert_eq!(issued.len(), 2, "{issued:#?}");
    let ban = &issued[0];
    assert_eq!(
        (ban.rule.as_str(), ban.scope, ban.event_id.as_str()),
        ("source_banned", Scope::Ip, "bf-8"),
        "{ban:#?}"
    );
    assert_eq!(ban.until, Some(Timestamp::from_secs(T0 + 80 + 600)));
    let x = &issued[1];
    let until = Timestamp::from_secs(T0 + 90 + 3600);
    let want = Enforcement {
        action: EnforcementAction::Block,
        scope: Scope::UserIp,
        user: Some("Victim@Example.com".into()),
        tenant: None,
        ip: Some(ATTACKER.into()),
        network: None,
        asn: None,
        device_id: None,
        until: Some(until),
        rule: "brute_force".into(),
        event_id: "bf-9".into(),
        issued_at: Timestamp::from_secs(T0 + 90),
    };
    assert_eq!(x, &want);
    assert_eq!(x.key(), format!("user_ip:/victim@example.com|{ATTACKER}"));
    assert!(engine.take_enforcements().is_empty(), "taken once");

    // Another failure during the block is blocked without a new record.
    let d = engine.evaluate(&event(
        "bf-10",
        100,
        "victim@example.com",
        ATTACKER,
        "failure",
        bad,
    ));
    assert_eq!(d.action, Action::Block);
    assert!(engine.take_enforcements().is_empty());

    // Listed while the engine's clock (the latest event) is before `until`.
    let later = |id: &str, secs| event(id, secs, "someone-else", HOME, "success", "");
    engine.evaluate(&later("other-1", 90 + 3599));
    assert_eq!(engine.enforcements_in_force(), [want]);
    engine.evaluate(&later("other-2", 90 + 3600));
    assert!(engine.enforcements_in_force().is_empty());
}

#[test]
fn legitimate_feedback_makes_a_new_device_familiar() {
    let mut engine = engine(Config::default());
    let home = r#","device_id":"d-home""#;
    let laptop = r#","device_id":"d-laptop""#;
    for i in 0..2 {
        let d = engine.evaluate(&event(
            &format!("h{i}"),
            i * 3600,
            "alice",
            HOME,
            "success",
            home,
        ));
        assert_eq!(d.action, Action::Allow, "{:?}", d.reasons);
    }
    let asking = event("n1", 7200, "alice", HOME, "attempt", laptop);
    let d = engine.evaluate(&asking);
    assert!(has(&d, "new_device"), "{:?}", codes(&d));

    let effect = engine.feedback(&asking, FeedbackVerdict::Legitimate);
    assert_eq!(effect.verdict, FeedbackVerdict::Legitimate);
    assert!(effect.learned.contains(&Feature::Device), "{effect:?}");
    assert!(effect.enforcements.is_empty() && !effect.password_reset_required);

    let d = engine.evaluate(&event("n2", 7300, "alice", HOME, "attempt", laptop));
    assert!(!has(&d, "new_device"), "{:?}", codes(&d));
}

#[test]
fn fraudulent_feedback_blocks_resets_and_marks_the_device() {
    let mut engine = engine(Config::default());
    let home = r#","device_id":"d-home""#;
    let evil = r#","device_id":"d-evil""#;
    for i in 0..2 {
        engine.evaluate(&event(
            &format!("h{i}"),
            i * 3600,
            "bob",
            HOME,
            "success",
            home,
        ));
    }
    // The attacker gets in (a new device alone does not block) and is learned.
    let takeover = event("x1", 7200, "bob", ATTACKER, "success", evil);
    let d = engine.evaluate(&takeover);
    assert_eq!(d.action, Action::Allow, "{:?}", codes(&d));
    assert!(engine.take_enforcements().is_empty());

    let effect = engine.feedback(&takeover, FeedbackVerdict::Fraudulent);
    assert_eq!(effect.forgotten, [Feature::Device], "{effect:?}");
    assert_eq!(effect.marked, [Feature::Device], "{effect:?}");
    assert_eq!(effect.blocked, [Scope::UserIp]);
    assert!(effect.password_reset_required && effect.enforced);
    let issued = engine.take_enforcements();
    assert_eq!(issued, effect.enforcements);
    assert_eq!(issued.len(), 2, "{issued:#?}");
    let block = &issued[0];
    assert_eq!(
        (
            block.action,
            block.scope,
            block.rule.as_str(),
            block.event_id.as_str()
        ),
        (EnforcementAction::Block, Scope::UserIp, "feedback", "x1")
    );
    assert_eq!(block.until, Some(Timestamp::from_secs(T0 + 7200 + 86_400)));
    assert_eq!(block.key(), format!("user_ip:/bob|{ATTACKER}"));
    let reset = &issued[1];
    assert_eq!(
        (reset.action, reset.scope, reset.until),
        (EnforcementAction::RequirePasswordReset, Scope::User, None)
    );
    assert_eq!(reset.key(), "password_reset:user:/bob");
    assert_eq!(engine.enforcements_in_force().len(), 2);

    // The same user from the same address is blocked, naming the report.
    let d = engine.evaluate(&event("x2", 7300, "bob", ATTACKER, "attempt", ""));
    assert_eq!(d.action, Action::Block);
    let r = d
        .reasons
        .iter()
        .find(|r| &*r.code == "reported_fraud_block");
    let detail = &r.unwrap_or_else(|| panic!("{:?}", codes(&d))).detail;
    assert!(
        detail.contains("x1") && detail.contains("2026-03-03T11:00:00.000Z"),
        "{detail}"
    );
    // Others from that address are not.
    let d = engine.evaluate(&event("y1", 7400, "carol", ATTACKER, "attempt", ""));
    assert!(!has(&d, "reported_fraud_block"), "{:?}", codes(&d));

    // The reported device elsewhere counts against bob.
    let d = engine.evaluate(&event("x3", 7500, "bob", "192.0.2.44", "attempt", evil));
    assert!(has(&d, "reported_fraud"), "{:?}", codes(&d));
    assert!(has(&d, "new_device"), "forgotten: {:?}", codes(&d));
    assert_ne!(d.action, Action::Allow, "{:?}", d.reasons);
    // His own device does not.
    let d = engine.evaluate(&event("h3", 7600, "bob", HOME, "attempt", home));
    assert!(
        !has(&d, "reported_fraud") && d.action == Action::Allow,
        "{:?}",
        codes(&d)
    );
}

#[test]
fn a_reversed_verdict_lifts_the_block_and_the_mark() {
    let mut engine = engine(Config::default());
    let e = event(
        "z1",
        0,
        "dave",
        ATTACKER,
        "success",
        r#","device_id":"d-1""#,
    );
    engine.evaluate(&e);
    engine.feedback(&e, FeedbackVerdict::Fraudulent);
    engine.take_enforcements();
    let effect = engine.feedback(&e, FeedbackVerdict::Legitimate);
    assert_eq!(effect.unmarked, [Feature::Device], "{effect:?}");
    assert_eq!(effect.lifted, [format!("user_ip:/dave|{ATTACKER}")]);
    let d = engine.evaluate(&event(
        "z2",
        60,
        "dave",
        ATTACKER,
        "attempt",
        r#","device_id":"d-1""#,
    ));
    assert!(
        !has(&d, "reported_fraud_block") && !has(&d, "reported_fraud"),
        "{:?}",
        codes(&d)
    );
    let listed: Vec<String> = engine
        .enforcements_in_force()
        .iter()
        .map(|x| x.key())
        .collect();
    assert_eq!(
        listed,
        ["password_reset:user:/dave"],
        "the reset stays listed"
    );
}

#[test]
fn feedback_never_moves_the_clock_back() {
    let mut engine = engine(Config::default());
    engine.evaluate(&event("late", 10_000, "erin", HOME, "success", ""));
    let old = event("early", 0, "erin", ATTACKER, "success", "");
    engine.feedback(&old, FeedbackVerdict::Fraudulent);
    let block = engine.take_enforcements().remove(0);
    assert_eq!(block.issued_at, Timestamp::from_secs(T0 + 10_000));
    assert_eq!(
        block.until,
        Some(Timestamp::from_secs(T0 + 10_000 + 86_400))
    );
}

#[test]
fn configured_scopes_and_audit_mode() {
    let mut config = Config::default();
    config.feedback.block = Setting::parse(vec!["user".into(), "network".into()]);
    config.feedback.block_duration = Setting::parse("2h".into());
    config.feedback.require_password_reset = false;
    let mut engine = engine(config.clone());
    let e = event("f1", 0, "frank", ATTACKER, "success", "");
    engine.evaluate(&e);
    let effect = engine.feedback(&e, FeedbackVerdict::Fraudulent);
    let keys: Vec<String> = effect.enforcements.iter().map(|x| x.key()).collect();
    assert_eq!(keys, ["user:/frank", "network:198.51.100.0/24"]);
    assert!(!effect.password_reset_required);
    assert_eq!(
        effect.enforcements[0].until,
        Some(Timestamp::from_secs(T0 + 7200))
    );
    let d = engine.evaluate(&event("f2", 60, "frank", HOME, "attempt", ""));
    assert!(
        has(&d, "reported_fraud_block"),
        "the user everywhere: {:?}",
        codes(&d)
    );
    let d = engine.evaluate(&event("g1", 60, "grace", "198.51.100.99", "attempt", ""));
    assert!(
        has(&d, "reported_fraud_block"),
        "the network for all: {:?}",
        codes(&d)
    );
    let d = engine.evaluate(&event("g2", 7201, "grace", "198.51.100.99", "attempt", ""));
    assert!(!has(&d, "reported_fraud_block"), "ended: {:?}", codes(&d));

    config.mode = Mode::Audit;
    let mut audit = engine_with(config);
    audit.evaluate(&e);
    let effect = audit.feedback(&e, FeedbackVerdict::Fraudulent);
    assert!(!effect.enforced && effect.enforcements.is_empty());
    assert!(audit.take_enforcements().is_empty());
    let d = audit.evaluate(&event("f3", 60, "frank", HOME, "attempt", ""));
    assert_eq!(
        (d.action, d.audit_action),
        (Action::Allow, Some(Action::Block))
    );
    assert!(has(&d, "reported_fraud_block"));
}

fn engine_with(config: Config) -> Engine {
    engine(config)
}

#[test]
fn a_bad_feedback_scope_refuses_the_config_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("palisade.toml");
    std::fs::write(&path, "[feedback]\nblock = [\"user\", \"password\"]\n").unwrap();
    let problems = Config::load(&path).expect_err("refused");
    assert_eq!(problems.len(), 1, "{problems:?}");
    let p = problems[0].to_string();
    assert!(
        p.contains("feedback.block") && p.contains("\"password\""),
        "{p}"
    );
    assert_eq!(problems[0].line, Some(2), "{p}");
}
