//! Decoding untrusted JSON into a validated [`Event`].
//!
//! serde does the tokenizing (borrowing strings where it can) and
//! `serde_path_to_error` names the field when a value has the wrong type; the
//! checks serde cannot express (required fields, addresses, times, lengths, hex)
//! follow here, so every rejection says which field and why.

use super::{Event, FailureReason, Kind, Mfa, Outcome, PasswordSha1, Timestamp};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;

/// The largest event accepted, in bytes of JSON.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;
/// The longest free-text field (`user_agent`), in bytes; identifiers are shorter
/// (see [`field_limit`]).
pub const MAX_FIELD_BYTES: usize = 2048;

/// Why an event was rejected: the field at fault (empty when the whole document
/// is) and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct EventError {
    pub field: String,
    pub reason: String,
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "field `{}`: {}", self.field, self.reason)
        }
    }
}

impl EventError {
    fn new(field: &str, reason: impl Into<String>) -> EventError {
        EventError {
            field: field.to_string(),
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Default, PartialEq, Deserialize)]
pub(super) struct RawEvent<'a> {
    #[serde(borrow)]
    pub(super) event_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(super) timestamp: Option<Cow<'a, str>>,
    pub(super) kind: Option<RawKind>,
    #[serde(borrow)]
    pub(super) user: Option<Cow<'a, str>>,
    pub(super) user_exists: Option<bool>,
    #[serde(borrow)]
    pub(super) ip: Option<Cow<'a, str>>,
    pub(super) outcome: Option<RawOutcome>,
    pub(super) failure_reason: Option<RawFailureReason>,
    #[serde(borrow)]
    pub(super) user_agent: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(super) device_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(super) password_sha1: Option<Cow<'a, str>>,
    pub(super) mfa: Option<RawMfa>,
    #[serde(borrow)]
    pub(super) tenant: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(super) label: Option<Cow<'a, str>>,
    /// Only so a plain-text password is refused, never kept or echoed.
    #[serde(default)]
    pub(super) password: Option<PlainPassword>,
}

/// Any non-null value under the key `password`: its content is never read.
#[derive(Debug, PartialEq)]
pub(super) struct PlainPassword;

impl<'de> Deserialize<'de> for PlainPassword {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d)?;
        Ok(PlainPassword)
    }
}

// The wire enums live here so the public ones need no Deserialize that would
// bypass validation.
macro_rules! wire_enum {
    ($raw:ident => $public:ident { $($variant:ident = $name:literal),+ }) => {
        #[derive(Debug, PartialEq, Deserialize)]
        pub(super) enum $raw { $(#[serde(rename = $name)] $variant),+ }
        impl From<$raw> for $public {
            fn from(r: $raw) -> $public {
                match r { $($raw::$variant => $public::$variant),+ }
            }
        }
        impl $raw {
            /// The variant a wire string names, as serde would decode it.
            pub(super) fn from_wire(s: &str) -> Option<$raw> {
                match s { $($name => Some($raw::$variant),)+ _ => None }
            }
        }
    };
}
wire_enum!(RawKind => Kind { SignIn = "sign_in", SignUp = "sign_up", PasswordChange = "password_change", PasswordReset = "password_reset" });
wire_enum!(RawOutcome => Outcome { Attempt = "attempt", Success = "success", Failure = "failure" });
wire_enum!(RawFailureReason => FailureReason { BadPassword = "bad_password", UnknownUser = "unknown_user", MfaFailed = "mfa_failed", Locked = "locked" });
wire_enum!(RawMfa => Mfa { None = "none", Passed = "passed", Failed = "failed" });

/// Byte limits per identifier field; long values are rejected, not truncated, so
/// two different identifiers never collapse into one.
fn field_limit(field: &str) -> usize {
    match field {
        "user_agent" => MAX_FIELD_BYTES,
        "tenant" => 128,
        _ => 256,
    }
}

fn text<'a>(
    field: &str,
    value: Option<Cow<'a, str>>,
    required: bool,
) -> Result<Option<Cow<'a, str>>, EventError> {
    let Some(v) = value else {
        return if required {
            Err(EventError::new(field, "is required"))
        } else {
            Ok(None)
        };
    };
    if v.len() > field_limit(field) {
        return Err(EventError::new(
            field,
            format!("is {} bytes, the limit is {}", v.len(), field_limit(field)),
        ));
    }
    if required && v.trim().is_empty() {
        return Err(EventError::new(field, "must not be empty"));
    }
    Ok(Some(v))
}

/// Stores a decoded string, reusing the slot's allocation when it has one:
/// replay decodes every line into the same event.
fn assign(slot: &mut String, value: &str) {
    slot.clear();
    slot.push_str(value);
}

fn assign_opt(slot: &mut Option<String>, value: Option<Cow<'_, str>>) {
    match (value, slot.as_mut()) {
        (Some(v), Some(s)) => assign(s, &v),
        (Some(v), None) => *slot = Some(v.into_owned()),
        (None, _) => *slot = None,
    }
}

fn required<T>(field: &str, value: Option<T>) -> Result<T, EventError> {
    value.ok_or_else(|| EventError::new(field, "is required"))
}

pub(super) fn parse(bytes: &[u8]) -> Result<Event, EventError> {
    let mut event = Event::default();
    parse_into(bytes, &mut event)?;
    Ok(event)
}

/// Decodes into `e`, reusing its strings' allocations. On error `e` is left
/// partly overwritten and must not be used.
pub(super) fn parse_into(bytes: &[u8], e: &mut Event) -> Result<(), EventError> {
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(EventError::new(
            "",
            format!(
                "event is {} bytes, the limit is {MAX_EVENT_BYTES}",
                bytes.len()
            ),
        ));
    }
    // serde would also take a struct from a JSON array, by position.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(EventError::new("", "an event must be a JSON object"));
    }
    // The common case is a good event: decode it plainly, and only on failure
    // decode again with path tracking to name the field (tracking every value
    // of every event cost a third of decoding).
    // One UTF-8 check of the whole line, with SIMD, is cheaper than
    // serde_json checking each string on its own.
    let Ok(json) = simdutf8::basic::from_utf8(bytes) else {
        return Err(EventError::new("", "event is not valid UTF-8"));
    };
    // Events as services write them (flat, no escapes) take the quick decoder;
    // anything else, and every error, goes through serde_json.
    let (raw, fast): (RawEvent, bool) = match super::fast::decode(json) {
        Some(raw) => (raw, true),
        None => match serde_json::from_str(json) {
            Ok(raw) => (raw, false),
            Err(_) => return Err(locate_error(bytes)),
        },
    };
    if raw.password.is_some() || (!fast && has_password_key(json)) {
        return Err(EventError::new(
            "password",
            "a plain-text password is never accepted, under `password` or any spelling of it \
             (`Password`, `passwd`, `pwd`, ...): send password_sha1, the SHA-1 of the password in hex",
        ));
    }
    let timestamp = match raw.timestamp {
        None => None,
        Some(t) => Some(Timestamp::parse_rfc3339(&t).map_err(|r| EventError::new("timestamp", r))?),
    };
    let ip_text = required("ip", raw.ip)?;
    let ip = ip_text.trim().parse().map_err(|_| {
        EventError::new(
            "ip",
            format!("`{}` is not an IPv4 or IPv6 address", clip(&ip_text)),
        )
    })?;
    let password_sha1 = match raw.password_sha1 {
        None => None,
        Some(h) => Some(parse_sha1(&h)?),
    };
    let outcome: Outcome = required("outcome", raw.outcome)?.into();
    let failure_reason = raw.failure_reason.map(FailureReason::from);
    if failure_reason.is_some() && outcome != Outcome::Failure {
        return Err(EventError::new(
            "failure_reason",
            "is only allowed with outcome `failure`",
        ));
    }
    // Checked in the order of the fields, so the first fault reported is the
    // same whatever the decoder.
    assign(
        &mut e.event_id,
        &text("event_id", raw.event_id, true)?.unwrap_or_default(),
    );
    e.timestamp = timestamp;
    e.kind = required("kind", raw.kind)?.into();
    let user = text("user", raw.user, true)?.unwrap_or_default();
    // Keyed as RFC 8265 maps it; a name it disallows is refused here, so
    // every door says so (see `username`).
    super::username::key_name(&user).map_err(|r| EventError::new("user", r))?;
    assign(&mut e.user, &user);
    e.user_exists = raw.user_exists;
    e.ip = ip;
    e.outcome = outcome;
    e.failure_reason = failure_reason;
    assign_opt(
        &mut e.user_agent,
        text("user_agent", raw.user_agent, false)?,
    );
    assign_opt(&mut e.device_id, text("device_id", raw.device_id, false)?);
    e.password_sha1 = password_sha1;
    e.mfa = raw.mfa.map(Mfa::from);
    assign_opt(&mut e.tenant, text("tenant", raw.tenant, false)?);
    assign_opt(&mut e.label, text("label", raw.label, false)?);
    Ok(())
}

/// Whether a key names a plain-text password, in any case and spelling:
/// `password`, `Password`, `PASSWD`, `pwd`, `pass`, `new-password`, ...
/// (`password_sha1` is the contract's hash, not a password).
pub(super) fn is_password_key(key: &str) -> bool {
    if key.len() > 32 {
        return false;
    }
    let mut folded = [0u8; 32];
    let mut n = 0;
    for b in key.bytes().filter(u8::is_ascii_alphanumeric) {
        folded[n] = b.to_ascii_lowercase();
        n += 1;
    }
    let k = &folded[..n];
    if k == b"passwordsha1" {
        return false;
    }
    matches!(
        k,
        b"pwd" | b"pass" | b"passwd" | b"passphrase" | b"passcode"
    ) || k.windows(8).any(|w| w == b"password")
        || k.windows(6).any(|w| w == b"passwd")
}

/// Whether the top-level object has a non-null value under a password key.
fn has_password_key(json: &str) -> bool {
    let Ok(map) =
        serde_json::from_str::<std::collections::HashMap<Cow<'_, str>, serde_json::Value>>(json)
    else {
        return false;
    };
    map.iter().any(|(k, v)| !v.is_null() && is_password_key(k))
}

/// The contract's field names (and `label`), the only names a rejection cites.
pub(super) const FIELDS: &[&str] = &[
    "password",
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

/// Decodes again, tracking the path, to say which field is wrong.
fn locate_error(bytes: &[u8]) -> EventError {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result: Result<RawEvent, _> = serde_path_to_error::deserialize(&mut de);
    match result {
        Err(e) => {
            // Name a field only when the fault sits in a field of the contract:
            // outside one the document is at fault (serde_json says `?` between
            // fields), and an unknown key may be anything an attacker wrote.
            let path = e.path().to_string();
            let top = path.split(['.', '[']).next().unwrap_or("");
            let inner = e.into_inner();
            let field = if FIELDS.contains(&top) {
                top.to_string()
            } else {
                String::new()
            };
            EventError {
                field,
                reason: strip_position(&inner.to_string()),
            }
        }
        Ok(_) => match de.end() {
            Err(e) => EventError::new("", strip_position(&e.to_string())),
            Ok(()) => EventError::new("", "not a valid event"),
        },
    }
}

/// Marks a byte that is not a hex digit in [`HEX`].
pub(crate) const NOT_HEX: u8 = 0x80;

/// Hex digit values, either case; [`NOT_HEX`] for any other byte.
pub(crate) const HEX: [u8; 256] = {
    let mut t = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

fn parse_sha1(h: &str) -> Result<PasswordSha1, EventError> {
    let mut out = [0u8; 20];
    if h.len() != 40 {
        return Err(EventError::new(
            "password_sha1",
            format!("must be 40 hex characters, got {}", h.len()),
        ));
    }
    // By table: the hex crate's checked decoder showed at 4% of a replay.
    let bytes = h.as_bytes();
    let mut bad = 0u8;
    for (i, o) in out.iter_mut().enumerate() {
        let (hi, lo) = (HEX[bytes[2 * i] as usize], HEX[bytes[2 * i + 1] as usize]);
        bad |= hi | lo;
        *o = hi << 4 | (lo & 0x0f);
    }
    if bad & 0x80 != 0 {
        return Err(EventError::new(
            "password_sha1",
            "must be 40 hex characters (0-9, a-f)",
        ));
    }
    Ok(PasswordSha1(out))
}

/// serde_json appends "at line L column C"; for a one-line event the field name is
/// the useful position, and the replay report adds the line number itself.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Bad values are echoed back shortened, so a hostile line cannot flood the log.
fn clip(s: &str) -> String {
    if s.len() <= 64 {
        return s.to_string();
    }
    let mut end = 64;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"event_id":"e1","timestamp":"2026-11-26T10:00:00Z","kind":"sign_in",
        "user":"alice@example.com","ip":"203.0.113.7","outcome":"failure",
        "failure_reason":"bad_password","password_sha1":"5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8",
        "surprise":{"nested":[1,2,3]}}"#;

    fn err(json: &str) -> EventError {
        Event::from_json(json.as_bytes()).unwrap_err()
    }

    #[test]
    fn accepts_a_full_event_and_ignores_unknown_fields() {
        let e = Event::from_json(GOOD.as_bytes()).unwrap();
        assert_eq!(e.user, "alice@example.com");
        assert_eq!(e.failure_reason, Some(FailureReason::BadPassword));
        assert_eq!(e.password_sha1.unwrap().0[0], 0x5B);
        assert!(e.is_outcome());
    }

    #[test]
    fn names_the_field_for_every_kind_of_fault() {
        let e = err(&GOOD.replace("\"sign_in\"", "\"login\""));
        assert_eq!(e.field, "kind");
        assert!(e.reason.contains("unknown variant `login`"), "{e}");
        assert_eq!(err(&GOOD.replace("203.0.113.7", "300.1.1.1")).field, "ip");
        assert_eq!(
            err(&GOOD.replace("2026-11-26T10:00:00Z", "yesterday")).field,
            "timestamp"
        );
        assert_eq!(
            err(&GOOD.replace("5BAA61E4", "5BAA61EZ")).field,
            "password_sha1"
        );
        assert_eq!(
            err(&GOOD.replace("\"user\":\"alice@example.com\",", "")).field,
            "user"
        );
        assert_eq!(
            err(&GOOD.replace("\"user\":\"alice@example.com\"", "\"user\":7")).field,
            "user"
        );
        assert_eq!(
            err(&GOOD.replace("\"failure\"", "\"success\"")).field,
            "failure_reason"
        );
        let long = "x".repeat(300);
        assert_eq!(err(&GOOD.replace("alice@example.com", &long)).field, "user");
    }

    #[test]
    fn a_plain_text_password_is_refused_without_being_echoed() {
        let json = GOOD.replacen('{', r#"{"password":"hunter2-secret","#, 1);
        let e = parse(json.as_bytes()).unwrap_err();
        assert_eq!(e.field, "password");
        assert!(e.reason.contains("password_sha1"), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let null = GOOD.replacen('{', r#"{"password":null,"#, 1);
        assert!(parse(null.as_bytes()).is_ok(), "null says nothing");
        // Any case or spelling, on the quick path and on serde's (an escaped
        // key, `pass\u0077ord`, takes serde's).
        for key in [
            "Password",
            "PASSWORD",
            "passwd",
            "pwd",
            "Pass",
            "new-password",
            r"pass\u0077ord",
        ] {
            let json = GOOD.replacen('{', &format!(r#"{{"{key}":"hunter2-secret","#), 1);
            let e = parse(json.as_bytes()).unwrap_err();
            assert_eq!(e.field, "password", "{key}");
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
        // Not passwords: the contract's hash, and words that only contain "pass".
        assert!(GOOD.contains("password_sha1") && parse(GOOD.as_bytes()).is_ok());
        for key in ["passenger", "bypass"] {
            let json = GOOD.replacen('{', &format!(r#"{{"{key}":"x","#), 1);
            assert!(parse(json.as_bytes()).is_ok(), "{key}");
        }
    }

    #[test]
    fn enum_names_are_the_wire_names() {
        use crate::event::{Kind, Outcome, RiskLevel};
        for k in [
            Kind::SignIn,
            Kind::SignUp,
            Kind::PasswordChange,
            Kind::PasswordReset,
        ] {
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
        }
        for o in [Outcome::Attempt, Outcome::Success, Outcome::Failure] {
            assert_eq!(
                serde_json::to_string(&o).unwrap(),
                format!("\"{}\"", o.as_str())
            );
        }
        for l in [RiskLevel::Low, RiskLevel::Medium, RiskLevel::High] {
            assert_eq!(
                serde_json::to_string(&l).unwrap(),
                format!("\"{}\"", l.as_str())
            );
        }
    }

    #[test]
    fn rejects_documents_that_are_not_one_object() {
        assert_eq!(err("").field, "");
        assert_eq!(err("[1,2]").field, "");
        assert_eq!(err(&format!("{GOOD} {{}}")).field, "");
        assert!(err(&format!("{GOOD} {{}}")).reason.contains("trailing"));
    }

    #[test]
    fn decoding_into_a_used_event_equals_decoding_afresh() {
        let mut reused = Event::default();
        let second = r#"{"event_id":"e2","timestamp":"2026-11-26T10:00:01Z","kind":"sign_up",
            "user":"bob","ip":"2001:db8::1","outcome":"success","tenant":"t"}"#;
        for json in [GOOD, second, GOOD] {
            reused.decode_json_into(json.as_bytes()).unwrap();
            assert_eq!(reused, Event::from_json(json.as_bytes()).unwrap(), "{json}");
        }
        assert!(reused.decode_json_into(b"{}").is_err());
        reused.decode_json_into(second.as_bytes()).unwrap();
        assert_eq!(
            reused.password_sha1, None,
            "fields the new event lacks are cleared"
        );
        assert_eq!(reused.tenant.as_deref(), Some("t"));
    }

    #[test]
    fn debug_output_never_shows_the_whole_hash() {
        let e = Event::from_json(GOOD.as_bytes()).unwrap();
        let shown = format!("{e:?}");
        assert!(!shown.contains("5BAA61E4C9B93F3F"), "{shown}");
    }
}
