//! Compromised credentials: the `[pwned]` policy. Sign-ins, sign-ups and
//! password changes that carry `password_sha1` are looked up in the local
//! breach-corpus index (`enrich::pwned`); a hash seen at least `min_count`
//! times marks the decision `compromised_password`, adds the reason, and
//! applies the action configured for the event's kind, as Cognito's
//! compromised-credentials settings do per event type.
//!
//! The index sits behind an [`ArcSwapOption`], so a new build is swapped in
//! while events are being decided: a lookup holds the index it loaded until
//! it is done, and the next lookup sees the new one.

use crate::enrich::pwned::PwnedIndex;
use crate::event::{Event, Kind};
use arc_swap::ArcSwapOption;
use std::sync::Arc;

pub use crate::config::pwned::{PwnedAction, PwnedActions, PwnedConfig};

/// The index the engine reads, replaceable while it runs.
pub type SharedIndex = Arc<ArcSwapOption<PwnedIndex>>;

/// The engine's compromised-password check.
#[derive(Clone)]
pub struct PwnedCheck {
    pub index: SharedIndex,
    pub min_count: u32,
    pub actions: PwnedActions,
}

impl Default for PwnedCheck {
    fn default() -> PwnedCheck {
        PwnedCheck {
            index: Arc::new(ArcSwapOption::empty()),
            min_count: 1,
            actions: PwnedActions::default(),
        }
    }
}

impl PwnedCheck {
    pub fn new(index: Option<PwnedIndex>, config: &PwnedConfig) -> PwnedCheck {
        PwnedCheck {
            index: Arc::new(ArcSwapOption::new(index.map(Arc::new))),
            min_count: config.min_count,
            actions: config.actions.clone(),
        }
    }

    /// The corpus count and the configured action when the event's password
    /// is compromised; `None` when it is not, when the event carries no
    /// hash, is of another kind, or no index is loaded.
    pub fn check(&self, e: &Event) -> Option<(u32, PwnedAction)> {
        let action = match e.kind {
            Kind::SignIn => self.actions.sign_in,
            Kind::SignUp => self.actions.sign_up,
            Kind::PasswordChange => self.actions.password_change,
            Kind::PasswordReset => return None,
        };
        let hash = e.password_sha1.as_ref()?;
        let index = self.index.load();
        let count = index.as_deref()?.lookup(&hash.0)?;
        (count >= self.min_count).then_some((count, action))
    }

    pub fn loaded(&self) -> bool {
        self.index.load().is_some()
    }
}
