//! Checking a [`RuleSpec`] and compiling it into a [`Detector`]. Every problem in
//! a file is reported, each at the line of the key at fault.

use super::lockout::{Lockout, LockoutMode, LockoutParams, WaitStrategy};
use super::spec::{LockoutSpec, RuleSpec};
use super::{Counter, Detector, Filter, KeyKind, OverflowAction};
use crate::problem::Problem;
use crate::state::limiter::{EventClock, KeyedBucket};
use std::path::Path;
use std::time::Duration;

/// Where a rule came from, for error messages.
pub struct Source<'a> {
    pub file: &'a Path,
    pub text: &'a str,
}

impl Source<'_> {
    fn problem(&self, key: &str, msg: String) -> Problem {
        Problem::at_key(self.file, self.text, key, msg)
    }
}

fn duration(src: &Source, problems: &mut Vec<Problem>, key: &str, value: &str) -> Duration {
    match humantime::parse_duration(value) {
        Ok(d) if !d.is_zero() => d,
        Ok(_) => {
            problems.push(src.problem(
                key,
                format!("{key} must be longer than zero, got \"{value}\""),
            ));
            Duration::from_secs(1)
        }
        Err(e) => {
            problems.push(src.problem(
                key,
                format!("{key} \"{value}\" is not a duration like \"30s\" or \"10m\": {e}"),
            ));
            Duration::from_secs(1)
        }
    }
}

fn bits(
    src: &Source,
    problems: &mut Vec<Problem>,
    key: &str,
    values: &[String],
    names: &[&str],
) -> u8 {
    let mut out = 0u8;
    for v in values {
        match names.iter().position(|n| n == v) {
            Some(i) => out |= 1 << i,
            None => problems.push(src.problem(
                key,
                format!(
                    "{key}: unknown value \"{v}\", expected one of {}",
                    names.join(", ")
                ),
            )),
        }
    }
    out
}

/// Compiles one rule. `max_keys` caps every per-key table the detector holds.
/// With the detector come warnings: what the rule silently depends on.
pub fn compile(
    spec: &RuleSpec,
    src: &Source,
    clock: &EventClock,
    max_keys: usize,
) -> Result<(Detector, Vec<Problem>), Vec<Problem>> {
    let mut problems = Vec::new();
    let stem = src.file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if spec.id != stem {
        problems.push(src.problem(
            "id",
            format!(
                "id \"{}\" must match the file name \"{stem}.toml\"",
                spec.id
            ),
        ));
    }
    if spec.id.is_empty()
        || !spec
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        problems.push(src.problem(
            "id",
            format!("id \"{}\" must be snake_case (a-z, 0-9, _)", spec.id),
        ));
    }
    if spec.category.is_empty() {
        problems.push(src.problem("category", "category must not be empty".to_string()));
    }

    let f = &spec.filter;
    let kinds = ["sign_in", "sign_up", "password_change", "password_reset"];
    let mut filter = Filter {
        kinds: if f.kinds.is_empty() {
            0b1111
        } else {
            bits(src, &mut problems, "kinds", &f.kinds, &kinds)
        },
        outcomes: 0b110,
        failure_reasons: u8::MAX,
        user_exists: f.user_exists,
        has_password: f.has_password,
    };
    if !f.outcomes.is_empty() {
        if f.outcomes.iter().any(|o| o == "attempt") {
            problems.push(src.problem("outcomes", "outcomes: rules count outcomes only (`success`, `failure`); an attempt never changes state".to_string()));
        }
        // Bit positions follow `Outcome`: attempt, success, failure.
        filter.outcomes = bits(
            src,
            &mut problems,
            "outcomes",
            &f.outcomes,
            &["attempt", "success", "failure"],
        ) & 0b110;
    }
    if !f.failure_reasons.is_empty() {
        // Bit positions follow `failure_bit`: no reason first, then the
        // contract's reasons in order.
        let reasons = [
            "unspecified",
            "bad_password",
            "unknown_user",
            "mfa_failed",
            "locked",
        ];
        filter.failure_reasons = bits(
            src,
            &mut problems,
            "failure_reasons",
            &f.failure_reasons,
            &reasons,
        );
    }

    let o = &spec.overflow;
    let action = match o.action.as_str() {
        "block" => OverflowAction::Block,
        "challenge" => OverflowAction::Challenge,
        "signal" => OverflowAction::Signal,
        other => {
            problems.push(src.problem(
                "action",
                format!("action \"{other}\" is not one of block, challenge, signal"),
            ));
            OverflowAction::Signal
        }
    };
    if !o.score.is_finite() || o.score < 0.0 {
        problems.push(src.problem(
            "score",
            format!("score must be a finite number >= 0, got {}", o.score),
        ));
    }
    if action == OverflowAction::Signal && o.score == 0.0 {
        problems.push(src.problem(
            "action",
            "a `signal` rule needs a score > 0, or it changes nothing".to_string(),
        ));
    }

    let (counter, duration_ms) = match (&spec.bucket, &spec.lockout) {
        (Some(_), Some(_)) | (None, None) => {
            problems.push(Problem::new(
                src.file,
                None,
                "a rule needs exactly one of [bucket] or [lockout]",
            ));
            return Err(problems);
        }
        (Some(b), None) => {
            let parsed = KeyKind::parse(&b.key);
            if parsed.is_none() {
                problems.push(src.problem(
                    "key",
                    format!("key \"{}\" is not one of {}", b.key, KeyKind::NAMES),
                ));
            }
            // With a bad key, checks that depend on it would only echo that one.
            let key = parsed.unwrap_or(KeyKind::Ip);
            let distinct = match b.count.as_str() {
                "events" => None,
                c => match c.strip_prefix("distinct:").and_then(KeyKind::parse) {
                    Some(d) if parsed == Some(d) => {
                        problems.push(src.problem(
                            "count",
                            format!("count \"{c}\" counts the key itself: always one value"),
                        ));
                        None
                    }
                    Some(d) => Some(d),
                    None => {
                        problems.push(src.problem("count", format!("count \"{c}\" is not `events` or `distinct:FIELD` with FIELD one of {}", KeyKind::NAMES)));
                        None
                    }
                },
            };
            if b.capacity < 2 {
                problems.push(src.problem("capacity", format!("capacity must be at least 2 (the event that fills the bucket overflows it), got {}", b.capacity)));
            }
            if b.reset_on_success && parsed.is_some_and(|k| !k.includes_user()) {
                problems.push(src.problem("reset_on_success", format!("reset_on_success needs a key that includes the user (user, user_ip), got \"{}\": an attacker's own success must not reset it", b.key)));
            }
            if b.success_credit > 0 && parsed.is_some_and(|k| k.includes_user()) {
                problems.push(src.problem("success_credit", format!("success_credit is for keys shared by many users (ip, network, asn), got \"{}\": a key with the user has reset_on_success", b.key)));
            }
            let mut leak = duration(src, &mut problems, "leak_interval", &b.leak_interval);
            // The limiter counts in u64 nanoseconds: a full bucket's drain
            // past 584 years panicked in governor (found by fuzzing).
            let leaks = u128::from(b.capacity.max(2) - 1);
            if leak.as_nanos().saturating_mul(leaks) > u128::from(u64::MAX) {
                problems.push(src.problem(
                    "leak_interval",
                    format!(
                        "a full bucket drains in {leaks} leaks of {}, past the 584 years the limiter can count: use a shorter leak_interval or a smaller capacity",
                        b.leak_interval
                    ),
                ));
                leak = Duration::from_secs(1);
            }
            let bucket = KeyedBucket::new(b.capacity.max(2), leak, clock.clone(), max_keys);
            let duration_ms = block_duration(src, &mut problems, action, o.duration.as_deref());
            (
                Counter::Bucket {
                    key,
                    distinct,
                    reset_on_success: b.reset_on_success,
                    success_credit: b.success_credit,
                    bucket,
                },
                duration_ms,
            )
        }
        (None, Some(l)) => {
            if action == OverflowAction::Signal {
                problems.push(src.problem(
                    "action",
                    "a [lockout] rule locks: its action must be block or challenge".to_string(),
                ));
            }
            if o.duration.is_some() {
                problems.push(src.problem(
                    "duration",
                    "a [lockout] rule computes its own wait; remove duration".to_string(),
                ));
            }
            let params = lockout_params(src, &mut problems, l);
            (Counter::Lockout(Lockout::new(params, max_keys)), 0)
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let limit = counter.describe_limit();
    let warnings = optional_fields(spec, src, &filter, &counter);
    let mut detector = Detector {
        id: spec.id.as_str().into(),
        category: spec.category.clone(),
        description: spec.description.clone(),
        audit: spec.audit,
        filter,
        counter,
        action,
        duration_ms,
        score: o.score,
        limit,
        blocks: Default::default(),
        max_keys,
        evicted: Default::default(),
        overflows: 0,
        settles_ms: None,
    };
    detector.settles_ms = detector.settles();
    Ok((detector, warnings))
}

/// Warnings for a rule that depends on an optional event field: events
/// without it are never counted, and an integrator who leaves the field out
/// would lose the rule without a word.
fn optional_fields(
    spec: &RuleSpec,
    src: &Source,
    filter: &Filter,
    counter: &Counter,
) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut warn = |key: &str, msg: String| {
        out.push(src.problem(key, format!("warning: rule {}: {msg}", spec.id)));
    };
    if filter.failure_reasons & 1 == 0 {
        warn("failure_reasons", "counts only failures whose optional `failure_reason` is listed: failures sent without one are never counted; add \"unspecified\" to count them".to_string());
    }
    if let Some(want) = filter.user_exists {
        warn("user_exists", format!("matches only events whose optional `user_exists` is {want}: events sent without it are never counted"));
    }
    if filter.has_password == Some(true) {
        warn("has_password", "counts only events that carry the optional `password_sha1`: without it the rule never fires".to_string());
    }
    if let Counter::Bucket { key, distinct, .. } = counter {
        for (what, kind) in [("key", Some(*key)), ("count", *distinct)] {
            let field = match kind {
                Some(KeyKind::Password) => "password_sha1",
                Some(KeyKind::Device) => "device_id",
                _ => continue,
            };
            warn(
                what,
                format!("counts by the optional `{field}`: events without it are never counted"),
            );
        }
    }
    out
}

fn millis(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

fn block_duration(
    src: &Source,
    problems: &mut Vec<Problem>,
    action: OverflowAction,
    value: Option<&str>,
) -> u64 {
    match (action, value) {
        (OverflowAction::Signal, None) => 0,
        (OverflowAction::Signal, Some(_)) => {
            problems.push(src.problem(
                "duration",
                "duration only applies to block and challenge".to_string(),
            ));
            0
        }
        (_, None) => {
            problems.push(src.problem(
                "action",
                "block and challenge need a duration, e.g. duration = \"15m\"".to_string(),
            ));
            0
        }
        (_, Some(v)) => millis(duration(src, problems, "duration", v)),
    }
}

/// Checks a `[lockout]` table; a key left out takes Keycloak's default.
fn lockout_params(src: &Source, problems: &mut Vec<Problem>, l: &LockoutSpec) -> LockoutParams {
    let mut p = LockoutParams::default();
    if let Some(m) = &l.mode {
        match LockoutMode::parse(m) {
            Some(mode) => p.mode = mode,
            None => problems.push(src.problem(
                "mode",
                format!("mode \"{m}\" is not one of {}", LockoutMode::NAMES),
            )),
        }
    }
    if let Some(s) = &l.strategy {
        match WaitStrategy::parse(s) {
            Some(strategy) => p.strategy = strategy,
            None => problems.push(src.problem(
                "strategy",
                format!("strategy \"{s}\" is not one of {}", WaitStrategy::NAMES),
            )),
        }
    }
    match l.failure_factor {
        Some(0) => problems.push(src.problem(
            "failure_factor",
            "failure_factor must be at least 1, got 0".to_string(),
        )),
        Some(n) => p.failure_factor = n,
        None => {}
    }
    // Keycloak's units: seconds, and milliseconds for the quick-login check.
    for (key, value, unit_ms, field) in [
        (
            "wait_increment",
            &l.wait_increment,
            1000,
            &mut p.wait_increment_s,
        ),
        (
            "max_failure_wait",
            &l.max_failure_wait,
            1000,
            &mut p.max_failure_wait_s,
        ),
        (
            "quick_login_check",
            &l.quick_login_check,
            1,
            &mut p.quick_login_check_ms,
        ),
        (
            "minimum_quick_login_wait",
            &l.minimum_quick_login_wait,
            1000,
            &mut p.minimum_quick_login_wait_s,
        ),
        (
            "max_delta_time",
            &l.max_delta_time,
            1000,
            &mut p.max_delta_time_s,
        ),
    ] {
        if let Some(n) = value
            .as_deref()
            .and_then(|v| keycloak_duration(src, problems, key, v, unit_ms))
        {
            *field = n;
        }
    }
    p.permanent_lockout = l.permanent_lockout.unwrap_or(p.permanent_lockout);
    p.max_temporary_lockouts = l.max_temporary_lockouts.unwrap_or(p.max_temporary_lockouts);
    if p.max_temporary_lockouts > 0 && !p.permanent_lockout {
        problems.push(src.problem(
            "max_temporary_lockouts",
            format!(
                "max_temporary_lockouts = {} needs permanent_lockout = true: without it, nothing limits temporary lockouts",
                p.max_temporary_lockouts
            ),
        ));
    }
    p
}

/// A `[lockout]` duration as a whole number of Keycloak's unit (`unit_ms`
/// ms: 1000 for its seconds, 1 for `quick_login_check`); zero is allowed.
fn keycloak_duration(
    src: &Source,
    problems: &mut Vec<Problem>,
    key: &str,
    value: &str,
    unit_ms: u64,
) -> Option<u64> {
    let unit = if unit_ms == 1 {
        "milliseconds"
    } else {
        "seconds"
    };
    match humantime::parse_duration(value) {
        Ok(d) if d.as_nanos() % (u128::from(unit_ms) * 1_000_000) == 0 => {
            let n = d.as_millis() / u128::from(unit_ms);
            Some(n.min(u128::from(u64::MAX)) as u64)
        }
        Ok(_) => {
            problems.push(src.problem(
                key,
                format!("{key} must be whole {unit} (Keycloak keeps it so), got \"{value}\""),
            ));
            None
        }
        Err(e) => {
            problems.push(src.problem(
                key,
                format!("{key} \"{value}\" is not a duration like \"30s\" or \"10m\": {e}"),
            ));
            None
        }
    }
}
