//! The `[pwned]` section: the breach-corpus check.

use super::setting::{SectionProblems, Setting};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// What a compromised password does to the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PwnedAction {
    /// Refuse the sign-in, sign-up or password change.
    Block,
    /// Refuse it, and require the user to reset the password (an enforcement
    /// on the stream and the decisions topic).
    RequirePasswordReset,
    /// Ask for a second factor (MFA required).
    Challenge,
    /// Only the reason and the flag; `audit_action` tells that a block would
    /// have followed.
    Audit,
}

/// The action per event kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PwnedActions {
    pub sign_in: PwnedAction,
    pub sign_up: PwnedAction,
    pub password_change: PwnedAction,
}

impl Default for PwnedActions {
    fn default() -> PwnedActions {
        PwnedActions {
            sign_in: PwnedAction::RequirePasswordReset,
            sign_up: PwnedAction::Block,
            password_change: PwnedAction::Block,
        }
    }
}

/// The `[pwned]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PwnedConfig {
    /// The index `palisade pwned build` wrote. Unset: no check, and every
    /// decision says `compromised_password: false`.
    pub index: Option<PathBuf>,
    /// Prevalence threshold: a hash counts as compromised when the corpus saw
    /// it at least this often (as the index's count buckets round it down).
    pub min_count: u32,
    /// How often `serve` looks for a new build at `index` (by size and
    /// modification time) and swaps it in.
    pub reload_interval: Setting<Duration>,
    pub actions: PwnedActions,
}

impl Default for PwnedConfig {
    fn default() -> PwnedConfig {
        PwnedConfig {
            index: None,
            min_count: 1,
            reload_interval: Setting::new(Duration::from_secs(10)),
            actions: PwnedActions::default(),
        }
    }
}

impl PwnedConfig {
    /// Bad values, as `(key, message)`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = SectionProblems::new("pwned");
        p.at_least_one("min_count", self.min_count as usize);
        p.setting("reload_interval", &self.reload_interval)
            .duration_at_least(
                "reload_interval",
                &self.reload_interval,
                Duration::from_secs(1),
            );
        p.out
    }
}
