//! Properties of event decoding (`Event::from_json`), the first thing untrusted
//! input meets: it never panics, on arbitrary bytes or on valid events with
//! fields deleted, replaced by arbitrary JSON values, or bytes flipped; every
//! rejection has a reason and names a contract field (or none); deleting a
//! required field is always rejected, naming a deleted one; and every valid
//! `Event` survives serializing with serde_json and parsing back.

use palisade::event::{Event, FailureReason, Kind, Mfa, Outcome, PasswordSha1, Timestamp};
use proptest::prelude::*;
use serde_json::{Map, Value};
use std::net::IpAddr;

/// The fields of the sign-in event in DESIGN.md's contract, plus `label`
/// (ground truth for synthetic traffic, which `Event` also carries).
const FIELDS: &[&str] = &[
    "event_id",
    "timestamp",
    "kind",
    "user",
    "user_exists",
    "ip",
    "outcome",
    "failure_reason",
    "user_agent",
    "device_id",
    "password_sha1",
    "mfa",
    "tenant",
    "label",
];
const REQUIRED: &[&str] = &["event_id", "kind", "user", "ip", "outcome"];

const VALID: &str = r#"{"event_id":"e-1","timestamp":"2026-11-26T10:00:00.250Z",
    "kind":"sign_in","user":"alice@example.com","user_exists":true,
    "ip":"2001:db8::7","outcome":"failure","failure_reason":"bad_password",
    "user_agent":"Mozilla/5.0 (X11; Linux x86_64)","device_id":"d-42",
    "password_sha1":"5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8","mfa":"none",
    "tenant":"acme","label":"legit"}"#;

fn valid() -> Map<String, Value> {
    match serde_json::from_str(VALID).unwrap() {
        Value::Object(m) => m,
        _ => unreachable!("VALID is an object"),
    }
}

/// Decodes, checking that a rejection has a reason and, when `strict`, that it
/// names a contract field or none; `None` when rejected.
fn decode_with(bytes: &[u8], strict: bool) -> Result<Option<Event>, TestCaseError> {
    match Event::from_json(bytes) {
        Ok(e) => Ok(Some(e)),
        Err(err) => {
            prop_assert!(!err.reason.trim().is_empty(), "empty reason: {:?}", err);
            prop_assert!(!err.to_string().is_empty());
            if strict {
                prop_assert!(
                    err.field.is_empty() || FIELDS.contains(&err.field.as_str()),
                    "field {:?} is not a contract field: {}",
                    err.field,
                    err
                );
            }
            Ok(None)
        }
    }
}

fn decode(bytes: &[u8]) -> Result<Option<Event>, TestCaseError> {
    decode_with(bytes, true)
}

/// For inputs that can be malformed JSON, where the field check fails today
/// (see `syntax_errors_name_no_field`).
fn decode_lenient(bytes: &[u8]) -> Result<Option<Event>, TestCaseError> {
    decode_with(bytes, false)
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        // Values close to valid ones, to get past the type checks.
        prop::sample::select(vec![
            "sign_in",
            "failure",
            "success",
            "attempt",
            "bad_password",
            "none",
            "1.2.3.4",
            "::1",
            "999.1.1.1",
            "2026-01-01T00:00:00Z",
            "yesterday",
            " ",
            "",
        ])
        .prop_map(Value::from),
        "[0-9a-fA-F]{38,42}".prop_map(Value::String),
        Just(Value::String("x".repeat(3000))),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Replace(usize, Value),
    Add(String, Value),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0..FIELDS.len()).prop_map(Edit::Delete),
        (0..FIELDS.len(), json_value()).prop_map(|(i, v)| Edit::Replace(i, v)),
        ("[a-z_]{1,10}", json_value()).prop_map(|(k, v)| Edit::Add(k, v)),
    ]
}

fn text(max: usize) -> impl Strategy<Value = String> {
    // Any characters (JSON escapes included), trimmed to the byte limit.
    prop::collection::vec(any::<char>(), 0..max.min(80)).prop_map(move |cs| {
        let mut s = String::new();
        for c in cs {
            if s.len() + c.len_utf8() > max {
                break;
            }
            s.push(c);
        }
        s
    })
}

fn required_text(max: usize) -> impl Strategy<Value = String> {
    (text(max - 1), "[a-zA-Z0-9@.]").prop_map(move |(s, c)| {
        let mut s = s;
        while s.len() + c.len() > max {
            s.pop();
        }
        s + &c
    })
}

/// A user name RFC 8265 takes (see `event::username`): any characters but
/// those its IdentifierClass refuses even after the mapping (controls,
/// symbols outside ASCII, unassigned code points), which the decoder
/// refuses on `user` instead.
fn user_name() -> impl Strategy<Value = String> {
    required_text(256).prop_map(|u| {
        let kept: String = u
            .chars()
            .filter(|c| {
                palisade::event::username::key_name_as(
                    &format!("a{c}"),
                    palisade::event::username::UserNames::Precis,
                )
                .is_ok()
            })
            .collect();
        if palisade::event::username::key_name_as(
            &kept,
            palisade::event::username::UserNames::Precis,
        )
        .is_ok()
        {
            kept
        } else {
            "u".to_string()
        }
    })
}

fn event() -> impl Strategy<Value = Event> {
    let kind = prop::sample::select(vec![
        Kind::SignIn,
        Kind::SignUp,
        Kind::PasswordChange,
        Kind::PasswordReset,
    ]);
    let outcome = prop::sample::select(vec![Outcome::Attempt, Outcome::Success, Outcome::Failure]);
    let reason = prop::option::of(prop::sample::select(vec![
        FailureReason::BadPassword,
        FailureReason::UnknownUser,
        FailureReason::MfaFailed,
        FailureReason::Locked,
    ]));
    let mfa = prop::option::of(prop::sample::select(vec![
        Mfa::None,
        Mfa::Passed,
        Mfa::Failed,
    ]));
    let ip = prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from),
    ];
    // Up to the last millisecond before 2100-01-01, the latest event time
    // Palisade accepts.
    let timestamp = prop::option::of((0u64..4_102_444_800_000).prop_map(Timestamp));
    (
        (required_text(256), timestamp, kind, user_name()),
        (prop::option::of(any::<bool>()), ip, outcome, reason),
        (
            prop::option::of(text(2048)),
            prop::option::of(text(256)),
            prop::option::of(any::<[u8; 20]>().prop_map(PasswordSha1)),
            mfa,
        ),
        (prop::option::of(text(128)), prop::option::of(text(256))),
    )
        .prop_map(
            |(
                (event_id, timestamp, kind, user),
                (user_exists, ip, outcome, reason),
                (user_agent, device_id, password_sha1, mfa),
                (tenant, label),
            )| Event {
                event_id,
                timestamp,
                kind,
                user,
                user_exists,
                ip,
                outcome,
                failure_reason: reason.filter(|_| outcome == Outcome::Failure),
                user_agent,
                device_id,
                password_sha1,
                mfa,
                tenant,
                label,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        decode_lenient(&bytes)?;
    }

    #[test]
    fn arbitrary_json_text_never_panics(s in r#"[ \t{}\[\]":,a-z0-9.\-\\]{0,200}"#) {
        decode_lenient(s.as_bytes())?;
    }

    #[test]
    fn edited_events_never_panic(edits in prop::collection::vec(edit(), 1..6)) {
        let mut m = valid();
        for e in edits {
            match e {
                Edit::Delete(i) => { m.remove(FIELDS[i]); }
                Edit::Replace(i, v) => { m.insert(FIELDS[i].to_string(), v); }
                Edit::Add(k, v) => { m.insert(k, v); }
            }
        }
        decode(&serde_json::to_vec(&Value::Object(m)).unwrap())?;
    }

    /// Unknown fields, whatever they hold, never fail an event.
    #[test]
    fn unknown_fields_are_ignored(extra in prop::collection::vec(("[a-z]{1,8}x", json_value()), 0..5)) {
        let base = Event::from_json(VALID.as_bytes()).unwrap();
        let mut m = valid();
        for (k, v) in extra {
            m.insert(k, v);
        }
        let got = Event::from_json(&serde_json::to_vec(&Value::Object(m)).unwrap());
        prop_assert_eq!(got, Ok(base));
    }

    /// Deleting required fields is always a rejection naming one of them.
    #[test]
    fn a_missing_required_field_is_named(deleted in prop::sample::subsequence(FIELDS.to_vec(), 1..FIELDS.len())) {
        let mut m = valid();
        for f in &deleted {
            m.remove(*f);
        }
        let result = Event::from_json(&serde_json::to_vec(&Value::Object(m)).unwrap());
        let gone: Vec<&str> = deleted.iter().copied().filter(|f| REQUIRED.contains(f)).collect();
        if gone.is_empty() {
            prop_assert!(result.is_ok(), "{:?}", result);
        } else {
            let err = result.unwrap_err();
            prop_assert!(gone.contains(&err.field.as_str()), "{} (deleted {:?})", err, gone);
            prop_assert!(err.reason.contains("required"), "{}", err);
        }
    }

    #[test]
    fn flipped_bytes_never_panic(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = VALID.as_bytes().to_vec();
        for (at, b) in flips {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        decode_lenient(&bytes)?;
    }

    /// Serialize a valid event with serde_json, parse it back: the same event.
    #[test]
    fn valid_events_round_trip(e in event()) {
        let json = serde_json::to_vec(&e).unwrap();
        let back = Event::from_json(&json);
        prop_assert_eq!(back, Ok(e), "{}", String::from_utf8_lossy(&json));
    }
}

/// Fixed examples of what the properties above rely on.
#[test]
fn examples_name_their_field() {
    let cases: &[(&str, &str)] = &[
        ("\"2001:db8::7\"", "ip"),
        ("\"sign_in\"", "kind"),
        ("\"failure\"", "outcome"),
        (
            "\"5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8\"",
            "password_sha1",
        ),
    ];
    for (value, field) in cases {
        let bad = VALID.replacen(value, "[1]", 1);
        let err = Event::from_json(bad.as_bytes()).unwrap_err();
        assert_eq!(err.field, *field, "{err}");
    }
}

/// Strict form of the properties above over text that may be malformed JSON.
#[test]
fn malformed_json_names_a_contract_field_or_none() {
    let config = ProptestConfig::with_cases(512);
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let text = r#"[ \t{}\[\]":,a-z0-9.\-\\]{0,200}"#;
    runner
        .run(&text, |s| decode(s.as_bytes()).map(|_| ()))
        .unwrap();
}

/// A syntax error is the document's fault, not a field's: no field is named,
/// and certainly not `?` or a hostile key of any length.
#[test]
fn syntax_errors_name_no_field() {
    let long_key = format!(r#"{{"{}": tru}}"#, "k".repeat(60_000));
    let mut wrong = Vec::new();
    for bad in [
        "{0".to_string(),
        VALID.replace("\"d-42\"", "\"d-42\" 7"),
        r#"{"surprise": [1,,2]}"#.to_string(),
        long_key,
    ] {
        let err = Event::from_json(bad.as_bytes()).unwrap_err();
        if !(err.field.is_empty() || FIELDS.contains(&err.field.as_str())) {
            wrong.push(format!(
                "field {:?} ({} bytes): {}",
                &err.field[..err.field.len().min(20)],
                err.field.len(),
                err.reason
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
