//! The raw form of a rule file, as written in `rules/*.toml`. Decoding is strict
//! (unknown keys are errors); [`super::compile`] checks the values and turns a
//! spec into a [`super::Detector`].

use serde::Deserialize;

/// One rule file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Stable snake_case id; it is the reason code the rule reports. Must match
    /// the file name (`brute_force.toml` holds `id = "brute_force"`).
    pub id: String,
    /// What the rule catches, for operators.
    #[serde(default)]
    pub description: String,
    /// The contract reason family the rule belongs to (`brute_force`,
    /// `credential_stuffing`, `password_spray`, `user_enumeration`, …), so
    /// dashboards can group rules.
    pub category: String,
    /// Audited rules compute, count and explain but never change the action.
    #[serde(default)]
    pub audit: bool,
    /// Which outcome events the rule counts. Attempts never change state, so a
    /// rule only ever counts `success` and `failure` events.
    #[serde(default, rename = "match")]
    pub filter: FilterSpec,
    /// A leaky bucket per key (governor's GCRA on event time).
    pub bucket: Option<BucketSpec>,
    /// Keycloak's brute-force detector: a per-user lockout with a growing wait.
    pub lockout: Option<LockoutSpec>,
    /// What an overflow does.
    pub overflow: OverflowSpec,
}

/// A conjunction of conditions on event fields; an empty list matches anything.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterSpec {
    /// `sign_in`, `sign_up`, `password_change`, `password_reset`.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// `success`, `failure`.
    #[serde(default)]
    pub outcomes: Vec<String>,
    /// `bad_password`, `unknown_user`, `mfa_failed`, `locked`, and
    /// `unspecified` for failures sent without a reason. Empty: every failure
    /// (the default, and what per-source rules should do: every failure is
    /// evidence). `palisade check` warns when `unspecified` is left out.
    #[serde(default)]
    pub failure_reasons: Vec<String>,
    /// Only events whose `user_exists` is this value (events without the field
    /// never match a rule that sets it).
    pub user_exists: Option<bool>,
    /// Only events that carry (true) or lack (false) a `password_sha1`.
    pub has_password: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketSpec {
    /// What the bucket is per: `ip`, `user`, `user_ip`, `network` (IPv4 /24,
    /// IPv6 /64), `asn`, `password` (keyed hash of the SHA-1), `device`.
    pub key: String,
    /// `events` counts every matching event; `distinct:FIELD` (FIELD one of the
    /// key names) counts only values not seen recently for this key.
    #[serde(default = "default_count")]
    pub count: String,
    /// How many counted events the bucket holds; the event that fills it
    /// overflows. At least 2.
    pub capacity: u32,
    /// How long the bucket takes to leak one event, e.g. `"30s"`.
    pub leak_interval: String,
    /// Whether a success for the same user empties the bucket. Only allowed for
    /// keys that include the user, so an attacker's own successful sign-in from
    /// the same IP cannot reset a per-IP count.
    #[serde(default)]
    pub reset_on_success: bool,
    /// Counted events a success let through from the key takes back out of
    /// its bucket (0, the default: none). For keys shared by many people (an
    /// address, a network, an ASN): an office or a carrier's NAT signs in
    /// hundreds, and their successes pay back the typos they make. Not for
    /// keys with the user, which have `reset_on_success`.
    #[serde(default)]
    pub success_credit: u32,
}

fn default_count() -> String {
    "events".to_string()
}

/// Keycloak's brute-force detector (see [`super::lockout`]). Every key is
/// optional; after each, the Keycloak realm attribute it is and, in brackets,
/// Keycloak's default. Durations are text such as `"1m"`, in whole seconds
/// except `quick_login_check` (whole milliseconds); zero is allowed, as in
/// Keycloak.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockoutSpec {
    /// `keycloak`: a lock refuses every sign-in to the account, as Keycloak.
    /// `owner_aware`: the engine spares the account owner's known device and
    /// network from the lock. Both count alike. Palisade's own key
    /// ["owner_aware"].
    pub mode: Option<String>,
    /// Failures from which the count locks; at least 1. `failureFactor` [30].
    pub failure_factor: Option<u32>,
    /// `multiple`: the wait is `wait_increment` × ⌊failures / failure_factor⌋;
    /// `linear`: `wait_increment` × (1 + failures − failure_factor).
    /// `bruteForceStrategy` ["multiple"].
    pub strategy: Option<String>,
    /// The step the wait grows by. `waitIncrementSeconds` ["1m"].
    pub wait_increment: Option<String>,
    /// The longest wait. `maxFailureWaitSeconds` ["15m"].
    pub max_failure_wait: Option<String>,
    /// A failure closer than this to the one before is a quick login.
    /// `quickLoginCheckMilliSeconds` ["1s"].
    pub quick_login_check: Option<String>,
    /// The lock a quick login gets when the count asks for none.
    /// `minimumQuickLoginWaitSeconds` ["1m"].
    pub minimum_quick_login_wait: Option<String>,
    /// A failure this long after the one before forgets the failures and
    /// temporary lockouts first. `maxDeltaTimeSeconds` ["12h"].
    pub max_delta_time: Option<String>,
    /// Lock the account for good (until a success clears it: feedback that a
    /// sign-in was the user's) once the temporary lockouts exceed
    /// `max_temporary_lockouts`, or, with that 0, at the `failure_factor`-th
    /// failure. `permanentLockout` [false].
    pub permanent_lockout: Option<bool>,
    /// Temporary lockouts allowed before the permanent one; needs
    /// `permanent_lockout`. `maxTemporaryLockouts` [0].
    pub max_temporary_lockouts: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverflowSpec {
    /// `block` or `challenge` the key for `duration`, or only add a `signal`.
    pub action: String,
    /// How long a block or challenge stays in force, e.g. `"15m"`.
    pub duration: Option<String>,
    /// Contribution to the risk score's log-odds while the rule fires.
    #[serde(default)]
    pub score: f64,
}
