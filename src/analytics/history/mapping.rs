//! Column mappings: which column of a foreign table becomes which field of the
//! contract's event, and how its values read. A mapping is a small TOML file
//! (`--mapping FILE.toml`), or a built-in one by name (`--mapping rba`).

use anyhow::{bail, Context};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The das-group risk-based-authentication dataset's columns.
const RBA: &str = include_str!("mappings/rba.toml");

/// How a table's columns become events.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Column holding a unique id per row; absent, the row number is the id.
    #[serde(default)]
    pub event_id: Option<String>,
    /// Column holding the time of the sign-in.
    pub timestamp: String,
    /// A chrono format for text timestamps without a zone, read as UTC;
    /// absent, text timestamps must be RFC 3339. Datetime columns (Parquet)
    /// need none.
    #[serde(default)]
    pub timestamp_format: Option<String>,
    pub user: String,
    pub ip: String,
    /// Column holding the contract's kind; absent, every row is a `sign_in`.
    #[serde(default)]
    pub kind: Option<String>,
    pub outcome: String,
    /// Source value (as text; booleans as `true`/`false`) to the contract's
    /// outcome; absent, the column holds the contract's own words.
    #[serde(default)]
    pub outcome_values: BTreeMap<String, String>,
    /// The contract's failure reason given to every failure, for tables that
    /// do not say why a sign-in failed: the brute-force, stuffing and spray
    /// rules count failed passwords only, so without it they see nothing.
    /// A `failure_reason_column` value, where a row has one, wins.
    #[serde(default)]
    pub failure_reason: Option<String>,
    /// Column holding the contract's failure reason words.
    #[serde(default)]
    pub failure_reason_column: Option<String>,
    /// Column holding the SHA-1 of the password, 40 hex characters (the
    /// breach check and spray detection need it).
    #[serde(default)]
    pub password_sha1: Option<String>,
    /// Column holding whether the account exists (`true`/`false`).
    #[serde(default)]
    pub user_exists: Option<String>,
    /// Column holding the contract's MFA words (`none`, `passed`, `failed`).
    #[serde(default)]
    pub mfa: Option<String>,
    /// Column holding the tenant.
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    #[serde(default)]
    pub device_id: Option<String>,
    /// Column holding the label as text (`palisade simulate`'s `label`).
    #[serde(default)]
    pub label: Option<String>,
    /// Boolean columns, each naming a label when true; the first true one wins.
    #[serde(default)]
    pub labels: Vec<LabelFlag>,
    /// The label of a row no flag marks (and whose label column is empty).
    #[serde(default)]
    pub default_label: Option<String>,
    /// Column types to read with instead of inferring them: `string`, `int`,
    /// `float` or `bool`. Inference looks at the first rows only, and a
    /// 64-bit pseudonym read as a number is not the same text any more.
    #[serde(default)]
    pub dtypes: BTreeMap<String, String>,
}

/// A boolean column that, when true, gives the row a label.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelFlag {
    pub column: String,
    pub label: String,
}

impl Mapping {
    /// A built-in mapping by name, or a mapping file.
    pub fn load(name_or_path: &str) -> anyhow::Result<Mapping> {
        if name_or_path == "rba" {
            return Mapping::parse(RBA, "the built-in rba mapping");
        }
        let path = Path::new(name_or_path);
        let text = std::fs::read_to_string(path).with_context(|| {
            format!("mapping {name_or_path}: not a built-in mapping (rba) nor a readable file")
        })?;
        Mapping::parse(&text, &path.display().to_string())
    }

    fn parse(text: &str, source: &str) -> anyhow::Result<Mapping> {
        let m: Mapping = toml::from_str(text).with_context(|| format!("mapping {source}"))?;
        for (value, outcome) in &m.outcome_values {
            if !matches!(outcome.as_str(), "success" | "failure" | "attempt") {
                bail!("mapping {source}: outcome_values.{value} must be success, failure or attempt, got {outcome:?}");
            }
        }
        if let Some(r) = &m.failure_reason {
            if !matches!(
                r.as_str(),
                "bad_password" | "unknown_user" | "mfa_failed" | "locked"
            ) {
                bail!("mapping {source}: failure_reason must be bad_password, unknown_user, mfa_failed or locked, got {r:?}");
            }
        }
        for (column, dtype) in &m.dtypes {
            if !matches!(dtype.as_str(), "string" | "int" | "float" | "bool") {
                bail!("mapping {source}: dtypes.{column:?} must be string, int, float or bool, got {dtype:?}");
            }
        }
        Ok(m)
    }

    /// The contract's own field names, for a CSV or Parquet file of events
    /// laid out like `palisade simulate`'s JSONL.
    pub fn contract() -> Mapping {
        Mapping {
            event_id: Some("event_id".into()),
            timestamp: "timestamp".into(),
            timestamp_format: None,
            user: "user".into(),
            ip: "ip".into(),
            kind: Some("kind".into()),
            outcome: "outcome".into(),
            outcome_values: BTreeMap::new(),
            failure_reason: None,
            failure_reason_column: Some("failure_reason".into()),
            password_sha1: Some("password_sha1".into()),
            user_exists: Some("user_exists".into()),
            mfa: Some("mfa".into()),
            tenant: Some("tenant".into()),
            user_agent: Some("user_agent".into()),
            device_id: Some("device_id".into()),
            label: Some("label".into()),
            labels: Vec::new(),
            default_label: None,
            dtypes: BTreeMap::new(),
        }
    }

    /// The columns that are optional: a missing optional column reads as empty.
    fn optional(&self) -> [&Option<String>; 9] {
        [
            &self.kind,
            &self.user_agent,
            &self.device_id,
            &self.label,
            &self.failure_reason_column,
            &self.password_sha1,
            &self.user_exists,
            &self.mfa,
            &self.tenant,
        ]
    }

    /// Whether a column is optional: a missing optional column reads as empty.
    pub fn is_optional(&self, column: &str) -> bool {
        self.optional().iter().any(|c| c.as_deref() == Some(column))
    }

    /// Every column the mapping reads (a column named twice, twice).
    pub fn columns(&self) -> Vec<&str> {
        let mut out = vec![
            self.timestamp.as_str(),
            self.user.as_str(),
            self.ip.as_str(),
            self.outcome.as_str(),
        ];
        out.extend(self.event_id.as_deref());
        out.extend(self.optional().iter().filter_map(|c| c.as_deref()));
        out.extend(self.labels.iter().map(|f| f.column.as_str()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_rba_mapping_parses() {
        let m = Mapping::load("rba").unwrap();
        assert_eq!(m.user, "User ID");
        assert_eq!(m.outcome_values["true"], "success");
        assert_eq!(m.labels[0].label, "account_takeover");
        assert_eq!(m.dtypes.len(), 16, "every column of the dataset is typed");
    }

    #[test]
    fn a_bad_outcome_word_is_rejected_with_its_key() {
        let text = "timestamp='t'\nuser='u'\nip='i'\noutcome='o'\noutcome_values={ yes = 'won' }";
        let e = Mapping::parse(text, "m.toml").unwrap_err().to_string();
        assert!(e.contains("outcome_values.yes") && e.contains("won"), "{e}");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let text = "timestamp='t'\nuser='u'\nip='i'\noutcome='o'\nusr='x'";
        assert!(Mapping::parse(text, "m.toml").is_err());
    }
}
