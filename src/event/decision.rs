//! The decision Palisade answers for every event.

use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What the auth service should do. Ordered by severity, so the strictest of
/// several verdicts is their maximum.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    #[default]
    Allow,
    /// Step up to MFA.
    Challenge,
    Block,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Challenge => "challenge",
            Action::Block => "block",
        }
    }
}

/// With `challenge`: whether the step-up is needed only from users who have MFA
/// (Cognito's "MFA if configured") or from everyone ("MFA required").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MfaStep {
    IfConfigured,
    Required,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    Low,
    Medium,
    High,
}

impl RiskLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
        }
    }
}

/// A reason's code: one of the contract's signal codes, or a rule's id. Both are
/// shared, not copied, since every decision carries some.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReasonCode {
    Signal(&'static str),
    Rule(Arc<str>),
}

impl std::ops::Deref for ReasonCode {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            ReasonCode::Signal(s) => s,
            ReasonCode::Rule(s) => s,
        }
    }
}

impl AsRef<str> for ReasonCode {
    fn as_ref(&self) -> &str {
        self
    }
}

impl Serialize for ReasonCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self)
    }
}

impl From<&'static str> for ReasonCode {
    fn from(s: &'static str) -> ReasonCode {
        ReasonCode::Signal(s)
    }
}

impl From<Arc<str>> for ReasonCode {
    fn from(s: Arc<str>) -> ReasonCode {
        ReasonCode::Rule(s)
    }
}

/// One signal or rule that contributed to a decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    /// A stable snake_case code (`new_device`, `brute_force`, …) or a rule id.
    pub code: ReasonCode,
    /// Contribution to the risk score's log-odds: `risk_score` is
    /// `logistic(model bias + sum of every reason's score)`.
    pub score: f64,
    /// Human-readable explanation, for an operator answering "why was I blocked?".
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub event_id: String,
    pub action: Action,
    pub risk_level: RiskLevel,
    pub risk_score: f64,
    pub reasons: Vec<Reason>,
    pub compromised_password: bool,
    /// False when audit mode (global, or an audited rule) kept the action from
    /// being applied: `action` is then what was applied, `audit_action` what
    /// would have been.
    pub enforced: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_action: Option<Action>,
    /// Present with `challenge` (an extension of the contract).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa: Option<MfaStep>,
    pub rules_version: Arc<str>,
    pub model_version: Arc<str>,
}
