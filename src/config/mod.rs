//! Palisade's configuration: one TOML file, every key optional, unknown keys
//! rejected. Flags and environment variables (see `main.rs`) win over the file.

pub mod event_time;
pub mod journal;
pub mod kafka;
pub mod pwned;
pub mod server;
pub mod users;

use crate::problem::Problem;
use serde::{Deserialize, Deserializer};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Whether decisions are applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Decisions are applied.
    #[default]
    Enforce,
    /// Everything is computed, counted and explained, but every decision allows;
    /// `audit_action` tells what enforce mode would have done.
    Audit,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Folder of rule files. Unset: `./rules` if it exists, else the built-in rules.
    pub rules: Option<PathBuf>,
    /// Folder of model files. Unset: `./models` if it exists, else the built-in model.
    pub models: Option<PathBuf>,
    /// Which model version to run when the models folder holds several.
    pub model: Option<String>,
    /// Where Palisade keeps its state. Default `./palisade-data`.
    pub data_dir: Option<PathBuf>,
    /// `enforce` (default) or `audit`.
    pub mode: Mode,
    /// What a verdict on an earlier event does.
    pub feedback: FeedbackConfig,
    pub geoip: GeoIpConfig,
    pub ip_lists: IpListsConfig,
    pub limits: Limits,
    /// `palisade serve`: listeners, API keys, request limits.
    pub server: server::ServerConfig,
    /// Kafka: off unless `brokers` is set.
    pub kafka: kafka::KafkaConfig,
    /// The journal `serve` keeps of what it applied.
    pub journal: journal::JournalConfig,
    /// The breach-corpus check: off unless `index` is set.
    pub pwned: pwned::PwnedConfig,
    /// How user names become keys.
    pub users: users::UsersConfig,
    /// How far an event's time may stray before it is refused.
    pub event_time: event_time::EventTimeConfig,
    /// Secret for the keyed hashes that identify users, addresses and passwords
    /// in state (32 hex digits or more). Set it in production; the built-in
    /// default makes replays reproducible but is public.
    pub hash_key: Option<String>,
}

/// MaxMind databases (GeoIP2 or GeoLite2). Each is optional; without one, its
/// signals are off.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeoIpConfig {
    /// City database: country and location (new_country, impossible_travel).
    pub city: Option<PathBuf>,
    /// ASN database: new_asn and per-ASN rules.
    pub asn: Option<PathBuf>,
    /// Anonymous-IP database: anonymous_ip and hosting_ip.
    pub anonymous: Option<PathBuf>,
}

/// Addresses and CIDR ranges, IPv4 or IPv6.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IpListsConfig {
    /// Always allowed: risk detection is skipped (as Cognito's always-allow list).
    pub allow: Vec<String>,
    /// Always blocked.
    pub deny: Vec<String>,
}

/// Hard caps on state, so no flood of users or addresses exhausts memory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// User profiles kept (196 bytes each plus index); the idlest go first.
    pub max_profiles: usize,
    /// Keys per rule (24 bytes each plus index); the emptiest buckets go first.
    pub max_keys_per_rule: usize,
    /// Sources with recent failures tracked per kind (one user from one
    /// address, an address, a network, an ASN; 96 bytes each plus index), for
    /// the model's failure evidence; the idlest go first.
    pub max_source_keys: usize,
    /// Addresses with a record of bans (24 bytes each plus index); the least
    /// banned go first.
    pub max_offenders: usize,
    /// Distinct user agents whose parse is cached.
    pub max_user_agents: usize,
    /// Distinct values per feature in the global frequencies.
    pub max_frequency_values: usize,
    /// Enforcements listed as in force (a few hundred bytes each), and blocks
    /// from fraud feedback the engine applies; at the cap, expired ones go,
    /// then those ending soonest.
    pub max_enforcements: usize,
    /// Users with fraud marks from feedback (80 bytes each plus index); at the
    /// cap, the users marked longest ago go first.
    pub max_fraud_marked_users: usize,
    /// Recent events (and their decisions) kept per user for the user's event
    /// list and feedback by event id; the oldest goes first.
    pub history_per_user: usize,
    /// Users whose recent events are kept; at the cap, the user whose latest
    /// event is oldest goes.
    pub max_history_users: usize,
    /// How long a user's recent events are kept after their latest one (in
    /// event time), such as `"90d"` (the default); `"off"` keeps them until
    /// the cap pushes them out.
    pub history_max_age: String,
    /// Event ids remembered (about 26 bytes each) so a redelivered event is
    /// recognised and not decided again; at the cap the oldest is forgotten.
    pub recent_event_ids: usize,
    /// Memory the state may take at worst, such as `"2 GiB"`: at start the
    /// caps above are checked against it (see `palisade::engine::budget` for
    /// how the worst case is reckoned) and a start whose caps could exceed it
    /// is refused. Unset: no check. Exported as `palisade_memory_budget_bytes`.
    pub memory_budget: Option<String>,
}

impl Limits {
    /// `limits.history_max_age`; `None` when `"off"`.
    pub fn history_max_age(&self) -> Result<Option<std::time::Duration>, String> {
        let text = self.history_max_age.trim();
        if text == "off" {
            return Ok(None);
        }
        match humantime::parse_duration(text) {
            Ok(d) if !d.is_zero() => Ok(Some(d)),
            Ok(_) => Err("limits.history_max_age must be more than 0, or \"off\"".to_string()),
            Err(e) => Err(format!(
                "limits.history_max_age {text:?} is not a duration such as \"90d\" or \"off\": {e}"
            )),
        }
    }

    /// `limits.memory_budget` in bytes, if set.
    pub fn memory_budget_bytes(&self) -> Result<Option<u64>, String> {
        let Some(text) = &self.memory_budget else {
            return Ok(None);
        };
        match text.trim().parse::<bytesize::ByteSize>() {
            Ok(b) if b.as_u64() > 0 => Ok(Some(b.as_u64())),
            Ok(_) => Err("limits.memory_budget must be more than 0".to_string()),
            Err(e) => Err(format!(
                "limits.memory_budget {text:?} is not a size such as \"2 GiB\" or \"512 MiB\": {e}"
            )),
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_profiles: 10_000_000,
            max_keys_per_rule: 10_000_000,
            max_source_keys: 1_000_000,
            max_offenders: 1_000_000,
            max_user_agents: 100_000,
            max_frequency_values: 1_000_000,
            max_enforcements: 100_000,
            max_fraud_marked_users: 100_000,
            history_per_user: 20,
            max_history_users: 50_000,
            history_max_age: "90d".to_string(),
            recent_event_ids: 1_000_000,
            memory_budget: None,
        }
    }
}

/// What a verdict on an earlier event does (`POST /v1/feedback`, after
/// Cognito's auth-event feedback). A `legitimate` verdict teaches the user's
/// profile; a `fraudulent` one makes the event's features count against the
/// user and issues the enforcements below.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeedbackConfig {
    /// What a fraudulent verdict blocks, from the reported event's values:
    /// any of `ip`, `network` (its /24 or /64), `user_ip` (that user from that
    /// address), `user` (the account everywhere). Default `["user_ip"]`.
    pub block: Vec<String>,
    /// How long those blocks last from the feedback, e.g. `"24h"` (default).
    pub block_duration: String,
    /// Whether a fraudulent verdict also requires the user to reset the
    /// password (default true).
    pub require_password_reset: bool,
}

impl Default for FeedbackConfig {
    fn default() -> FeedbackConfig {
        FeedbackConfig {
            block: vec!["user_ip".to_string()],
            block_duration: "24h".to_string(),
            require_password_reset: true,
        }
    }
}

/// The scopes a fraudulent verdict can block.
pub const FEEDBACK_BLOCK_SCOPES: [&str; 4] = ["ip", "network", "user_ip", "user"];

impl FeedbackConfig {
    /// The block duration in milliseconds, or what is wrong with a setting.
    pub fn checked(&self) -> Result<u64, Vec<String>> {
        let mut problems = Vec::new();
        for scope in &self.block {
            if !FEEDBACK_BLOCK_SCOPES.contains(&scope.as_str()) {
                problems.push(format!(
                    "feedback.block: unknown scope \"{scope}\", expected one of {}",
                    FEEDBACK_BLOCK_SCOPES.join(", ")
                ));
            }
        }
        let ms = match humantime::parse_duration(&self.block_duration) {
            Ok(d) if !d.is_zero() => d.as_millis().min(u64::MAX as u128) as u64,
            Ok(_) => {
                problems.push(format!(
                    "feedback.block_duration must be longer than zero, got \"{}\"",
                    self.block_duration
                ));
                0
            }
            Err(e) => {
                problems.push(format!(
                    "feedback.block_duration \"{}\" is not a duration like \"24h\": {e}",
                    self.block_duration
                ));
                0
            }
        };
        if problems.is_empty() {
            Ok(ms)
        } else {
            Err(problems)
        }
    }
}

impl Config {
    /// Reads and checks a config file; every problem is reported.
    pub fn load(path: &Path) -> Result<Config, Vec<Problem>> {
        let (config, problems) = Config::read(path)?;
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems)
        }
    }

    /// Reads a config file: `Err` when it cannot be read or is no config
    /// (TOML syntax, unknown keys, wrong types), else the config with the
    /// problems of its values, so `check` can go on to list the rest.
    pub fn read(path: &Path) -> Result<(Config, Vec<Problem>), Vec<Problem>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![Problem::new(
                path,
                None,
                format!("cannot read the config file: {e}"),
            )]
        })?;
        let config: Config =
            toml::from_str(&text).map_err(|e| vec![Problem::from_toml(path, &text, &e)])?;
        let problems = config.check(path, &text);
        Ok((config, problems))
    }

    /// Checks values without touching the file system.
    pub fn check(&self, path: &Path, text: &str) -> Vec<Problem> {
        let mut out = Vec::new();
        for (key, list) in [
            ("allow", &self.ip_lists.allow),
            ("deny", &self.ip_lists.deny),
        ] {
            if let Err(e) = parse_address_list(list) {
                out.push(Problem::at_key(
                    path,
                    text,
                    key,
                    format!("ip_lists.{key}: {e}"),
                ));
            }
        }
        if let Some(k) = &self.hash_key {
            if let Err(e) = parse_hash_key(k) {
                out.push(Problem::at_key(path, text, "hash_key", e));
            }
        }
        if let Err(problems) = self.feedback.checked() {
            for message in problems {
                let key = if message.starts_with("feedback.block:") {
                    "block"
                } else {
                    "block_duration"
                };
                out.push(Problem::at_section_key(
                    path, text, "feedback", key, message,
                ));
            }
        }
        let l = &self.limits;
        if let Err(message) = l.memory_budget_bytes() {
            out.push(Problem::at_section_key(
                path,
                text,
                "limits",
                "memory_budget",
                message,
            ));
        }
        if let Err(message) = l.history_max_age() {
            out.push(Problem::at_section_key(
                path,
                text,
                "limits",
                "history_max_age",
                message,
            ));
        }
        for (key, v) in [
            ("max_profiles", l.max_profiles),
            ("max_keys_per_rule", l.max_keys_per_rule),
            ("max_source_keys", l.max_source_keys),
            ("max_offenders", l.max_offenders),
            ("max_user_agents", l.max_user_agents),
            ("max_frequency_values", l.max_frequency_values),
            ("max_enforcements", l.max_enforcements),
            ("max_fraud_marked_users", l.max_fraud_marked_users),
            ("history_per_user", l.history_per_user),
            ("max_history_users", l.max_history_users),
            ("recent_event_ids", l.recent_event_ids),
        ] {
            if v == 0 {
                out.push(Problem::at_key(
                    path,
                    text,
                    key,
                    format!("limits.{key} must be at least 1, got 0"),
                ));
            }
        }
        for (key, message) in self.server.problems() {
            out.push(Problem::at_section_key(path, text, "server", key, message));
        }
        for (key, message) in self.kafka.problems() {
            out.push(Problem::at_section_key(path, text, "kafka", key, message));
        }
        for (key, message) in self.pwned.problems() {
            out.push(Problem::at_section_key(path, text, "pwned", key, message));
        }
        out
    }
}

/// The four 64-bit seeds of the keyed hash, from at least 32 hex digits.
/// The data folder when none is configured.
pub const DEFAULT_DATA_DIR: &str = "palisade-data";

impl Config {
    /// The data folder: the configured one, else `palisade-data`.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
    }
}

pub fn parse_hash_key(hex_key: &str) -> Result<[u64; 4], String> {
    let bytes =
        hex::decode(hex_key.trim()).map_err(|_| "hash_key must be hex digits".to_string())?;
    if bytes.len() < 16 {
        return Err(format!(
            "hash_key must be at least 32 hex digits, got {}",
            hex_key.trim().len()
        ));
    }
    let mut seeds = [0u64; 4];
    for (i, chunk) in bytes.chunks(8).take(4).enumerate() {
        let mut b = [0u8; 8];
        b[..chunk.len()].copy_from_slice(chunk);
        seeds[i] = u64::from_le_bytes(b);
    }
    Ok(seeds)
}

/// `ip_lists.allow` or `.deny`: addresses and CIDR ranges, IPv4 or IPv6 (a
/// bare address is its own /32 or /128), or the first entry that is neither.
pub fn parse_address_list<S: AsRef<str>>(entries: &[S]) -> Result<Vec<ipnet::IpNet>, String> {
    entries
        .iter()
        .map(|entry| {
            let s = entry.as_ref().trim();
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("\"{s}\" is not an IP address or CIDR range"))
        })
        .collect()
}

/// A duration written as humantime text: `2s`, `500ms`, `1m 30s`.
pub(crate) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!(
            "`{text}` is not a duration such as 2s or 500ms: {e}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_key_is_rejected_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("palisade.toml");
        std::fs::write(&p, "mode = \"audit\"\n[limits]\nmax_profile = 5\n").unwrap();
        let problems = Config::load(&p).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, Some(3), "{}", problems[0]);
        assert!(
            problems[0].message.contains("max_profile"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn feedback_settings_default_and_bad_ones_are_named() {
        let c: Config = toml::from_str("").unwrap();
        assert_eq!(c.feedback.block, ["user_ip"]);
        assert_eq!(c.feedback.checked(), Ok(86_400_000));
        assert!(c.feedback.require_password_reset);
        assert_eq!(c.limits.max_enforcements, 100_000);
        assert_eq!(c.limits.history_per_user, 20);
        let text = "[feedback]\nblock = [\"ip\", \"asn\"]\nblock_duration = \"soon\"\n";
        let c: Config = toml::from_str(text).unwrap();
        let problems = c.check(Path::new("p.toml"), text);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].message.contains("\"asn\""), "{}", problems[0]);
        assert_eq!(problems[0].line, Some(2), "{}", problems[0]);
        assert!(problems[1].message.contains("soon"), "{}", problems[1]);
        assert_eq!(problems[1].line, Some(3), "{}", problems[1]);
        let typo = toml::from_str::<Config>("[feedback]\nblocks = []\n").unwrap_err();
        assert!(typo.to_string().contains("blocks"), "{typo}");
    }

    #[test]
    fn bad_values_are_all_reported() {
        let text = "hash_key = \"abc\"\n[ip_lists]\ndeny = [\"10.0.0.0/99\"]\n";
        let c: Config = toml::from_str(text).unwrap();
        let problems = c.check(Path::new("p.toml"), text);
        assert_eq!(problems.len(), 2, "{problems:?}");
        let deny = problems
            .iter()
            .find(|p| p.message.contains("deny"))
            .unwrap();
        assert_eq!(deny.line, Some(3), "{deny}");
        assert!(deny.message.contains("10.0.0.0/99"), "{deny}");
    }
}
