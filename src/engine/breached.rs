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
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;
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
    #[serde(deserialize_with = "crate::serve::config::duration")]
    pub reload_interval: Duration,
    pub actions: PwnedActions,
}

impl Default for PwnedConfig {
    fn default() -> PwnedConfig {
        PwnedConfig {
            index: None,
            min_count: 1,
            reload_interval: Duration::from_secs(10),
            actions: PwnedActions::default(),
        }
    }
}

impl PwnedConfig {
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.min_count == 0 {
            out.push((
                "min_count",
                "pwned.min_count must be at least 1, got 0".to_string(),
            ));
        }
        if self.reload_interval < Duration::from_secs(1) {
            out.push((
                "reload_interval",
                "pwned.reload_interval must be at least 1s".to_string(),
            ));
        }
        out
    }
}

/// The index the engine reads, replaceable while it runs.
pub type SharedIndex = Arc<ArcSwapOption<PwnedIndex>>;

/// The engine's compromised-password check.
#[derive(Clone)]
pub struct Breached {
    pub index: SharedIndex,
    pub min_count: u32,
    pub actions: PwnedActions,
}

impl Default for Breached {
    fn default() -> Breached {
        Breached {
            index: Arc::new(ArcSwapOption::empty()),
            min_count: 1,
            actions: PwnedActions::default(),
        }
    }
}

impl Breached {
    pub fn new(index: Option<PwnedIndex>, config: &PwnedConfig) -> Breached {
        Breached {
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

/// Looks at the index file every `interval` and, when its size or
/// modification time changed (a new build renamed into place), opens it and
/// swaps it in. A file that does not open leaves the running index in place,
/// with a log line saying why. The file's state is taken when this is
/// called (just after the index was opened), not when the future first runs.
pub fn watch(
    path: PathBuf,
    interval: Duration,
    index: SharedIndex,
) -> impl std::future::Future<Output = ()> + Send {
    let stamp = |p: &std::path::Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.len(), m.modified().ok()))
    };
    let mut seen = stamp(&path);
    async move {
        loop {
            tokio::time::sleep(interval).await;
            let now = stamp(&path);
            if now.is_none() || now == seen {
                continue;
            }
            seen = now;
            let p = path.clone();
            match tokio::task::spawn_blocking(move || PwnedIndex::open(&p)).await {
                Ok(Ok(new)) => {
                    eprintln!("palisade serve: breach corpus reloaded: {}", new.describe());
                    index.store(Some(Arc::new(new)));
                }
                Ok(Err(e)) => eprintln!(
                    "palisade serve: breach corpus at {} not reloaded, the running one stays: {e}",
                    path.display()
                ),
                Err(e) => eprintln!("palisade serve: breach corpus reload failed: {e}"),
            }
        }
    }
}
