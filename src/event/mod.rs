//! The contract's types: the sign-in event Palisade receives and the decision it
//! answers (see DESIGN.md, "Contract"). Decoding is strict about values and lenient
//! about unknown fields; every rejection names the field and the reason.

mod decision;
mod encode;
mod fast;
mod feedback;
mod parse;
pub(crate) use parse::{HEX, NOT_HEX};
pub mod bounds;
mod scan;
mod time;
pub mod username;

pub use decision::{Action, Decision, MfaStep, Reason, ReasonCode, RiskLevel};
pub use feedback::FeedbackVerdict;
pub use parse::{EventError, MAX_EVENT_BYTES, MAX_FIELD_BYTES};
pub use time::Timestamp;

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// What the user was doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    SignIn,
    SignUp,
    PasswordChange,
    PasswordReset,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::SignIn => "sign_in",
            Kind::SignUp => "sign_up",
            Kind::PasswordChange => "password_change",
            Kind::PasswordReset => "password_reset",
        }
    }
}

/// How far the sign-in got. `Attempt` asks before the password is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Attempt,
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Attempt => "attempt",
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// Why a sign-in failed, when the caller says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    BadPassword,
    UnknownUser,
    MfaFailed,
    Locked,
}

/// The second factor's part in the sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mfa {
    None,
    Passed,
    Failed,
}

/// SHA-1 of the submitted password, as the caller computed it. Never the password.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PasswordSha1(pub [u8; 20]);

impl std::fmt::Debug for PasswordSha1 {
    // Only the k-anonymity prefix: a full hash in a log is as good as the password
    // for a common one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PasswordSha1({:02X}{:02X}{:X}…)",
            self.0[0],
            self.0[1],
            self.0[2] >> 4
        )
    }
}

impl Serialize for PasswordSha1 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode_upper(self.0))
    }
}

/// One sign-in event, validated. Build it with [`Event::from_json`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub event_id: String,
    /// Required in Kafka and replay; an HTTP caller may omit it and the server
    /// fills in its receive time before the engine sees the event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    pub kind: Kind,
    pub user: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_exists: Option<bool>,
    pub ip: IpAddr,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<FailureReason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_sha1: Option<PasswordSha1>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa: Option<Mfa>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Ground truth for synthetic and labelled traffic (`palisade simulate`,
    /// evaluation); the engine never reads it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// A blank to decode into: every field empty or its first variant. Not a
/// valid event by itself.
impl Default for Event {
    fn default() -> Event {
        Event {
            event_id: String::new(),
            timestamp: None,
            kind: Kind::SignIn,
            user: String::new(),
            user_exists: None,
            ip: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            outcome: Outcome::Attempt,
            failure_reason: None,
            user_agent: None,
            device_id: None,
            password_sha1: None,
            mfa: None,
            tenant: None,
            label: None,
        }
    }
}

impl Event {
    /// Decodes and validates one JSON event. Unknown fields are ignored.
    pub fn from_json(bytes: &[u8]) -> Result<Event, EventError> {
        parse::parse(bytes)
    }

    /// [`from_json`](Self::from_json) into this event, reusing its strings'
    /// allocations (a replay decodes millions of lines into one event). On
    /// error the event is left partly overwritten: decode into it again before
    /// using it.
    pub fn decode_json_into(&mut self, bytes: &[u8]) -> Result<(), EventError> {
        parse::parse_into(bytes, self)
    }

    /// Whether the event reports what happened (and so changes state), as opposed
    /// to asking before the password is verified.
    pub fn is_outcome(&self) -> bool {
        self.outcome != Outcome::Attempt
    }
}
