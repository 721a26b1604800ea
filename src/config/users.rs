//! `[users]`: how user names become keys (the keying itself is
//! `event::username`'s).

use serde::Deserialize;

/// `[users] names`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserNames {
    /// RFC 8265 UsernameCaseMapped, after dropping invisible code points.
    #[default]
    Precis,
    /// As sent, trimmed and lower-cased.
    Exact,
}

/// The `[users]` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UsersConfig {
    pub names: UserNames,
}
