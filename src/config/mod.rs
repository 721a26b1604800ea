//! Palisade's configuration: one TOML file, every key optional, unknown keys
//! rejected. Flags and environment variables (see `main.rs`) win over the file.

pub mod cluster;
pub mod event_time;
pub mod journal;
pub mod kafka;
pub mod limits;
pub mod pwned;
pub mod server;
pub mod setting;
pub mod users;

use crate::problem::Problem;
pub use limits::Limits;
use serde::Deserialize;
use setting::SectionProblems;
pub use setting::{FromSetting, Setting};
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
    /// One instance, or a replica of a cluster on Kafka.
    pub cluster: cluster::ClusterConfig,
    /// The breach-corpus check: off unless `index` is set.
    pub pwned: pwned::PwnedConfig,
    /// How user names become keys.
    pub users: users::UsersConfig,
    /// How far an event's time may stray before it is refused.
    pub event_time: event_time::EventTimeConfig,
    /// Secret for the keyed hashes that identify users, addresses and passwords
    /// in state (32 hex digits or more). Set it in production; the built-in
    /// default makes replays reproducible but is public.
    pub hash_key: Setting<Option<HashKey>>,
}

/// `hash_key`: the four 64-bit seeds of the keyed hash, from at least 32 hex
/// digits (more than 64 are ignored). Its `Debug` shows no digit of it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HashKey(pub [u64; 4]);

impl std::fmt::Debug for HashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashKey(..)")
    }
}

impl FromSetting for Option<HashKey> {
    type Raw = String;
    fn from_setting(text: String) -> Result<Option<HashKey>, String> {
        parse_hash_key(&text).map(|seeds| Some(HashKey(seeds)))
    }
    fn fallback() -> Option<HashKey> {
        None
    }
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
    pub allow: Setting<Vec<ipnet::IpNet>>,
    /// Always blocked.
    pub deny: Setting<Vec<ipnet::IpNet>>,
}

impl IpListsConfig {
    fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = SectionProblems::new("ip_lists");
        p.setting("allow", &self.allow).setting("deny", &self.deny);
        p.out
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
    pub block: Setting<Vec<BlockScope>>,
    /// How long those blocks last from the feedback, e.g. `"24h"` (default).
    pub block_duration: Setting<Duration>,
    /// Whether a fraudulent verdict also requires the user to reset the
    /// password (default true).
    pub require_password_reset: bool,
}

impl Default for FeedbackConfig {
    fn default() -> FeedbackConfig {
        FeedbackConfig {
            block: Setting::new(vec![BlockScope::UserIp]),
            block_duration: Setting::new(Duration::from_secs(86_400)),
            require_password_reset: true,
        }
    }
}

impl FeedbackConfig {
    fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = SectionProblems::new("feedback");
        p.setting("block", &self.block)
            .setting("block_duration", &self.block_duration)
            .duration_at_least("block_duration", &self.block_duration, Duration::ZERO);
        p.out
    }
}

/// What a fraudulent verdict can block (`feedback.block`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockScope {
    /// The reported event's address.
    Ip,
    /// Its /24 or /64.
    Network,
    /// That user from that address.
    UserIp,
    /// The account everywhere.
    User,
}

impl BlockScope {
    /// Every scope, with its name in the file.
    pub const ALL: [(&'static str, BlockScope); 4] = [
        ("ip", BlockScope::Ip),
        ("network", BlockScope::Network),
        ("user_ip", BlockScope::UserIp),
        ("user", BlockScope::User),
    ];
}

/// Scope names; each scope once, in the order given.
impl FromSetting for Vec<BlockScope> {
    type Raw = Vec<String>;
    fn from_setting(names: Vec<String>) -> Result<Vec<BlockScope>, String> {
        let mut scopes = Vec::new();
        let mut unknown = Vec::new();
        for name in &names {
            match BlockScope::ALL.iter().find(|(n, _)| *n == name.trim()) {
                Some((_, scope)) if !scopes.contains(scope) => scopes.push(*scope),
                Some(_) => {}
                None => unknown.push(format!("{name:?}")),
            }
        }
        if unknown.is_empty() {
            return Ok(scopes);
        }
        Err(format!(
            "unknown scope{} {}, expected any of {}",
            if unknown.len() == 1 { "" } else { "s" },
            unknown.join(", "),
            BlockScope::ALL.map(|(n, _)| n).join(", ")
        ))
    }
    fn fallback() -> Vec<BlockScope> {
        Vec::new()
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

    /// Every bad value, located at its line in `text` (the file's source).
    pub fn check(&self, path: &Path, text: &str) -> Vec<Problem> {
        self.problems()
            .into_iter()
            .map(|(section, key, message)| match section {
                "" => Problem::at_key(path, text, key, message),
                section => Problem::at_section_key(path, text, section, key, message),
            })
            .collect()
    }

    /// Every bad value as `(section, key, message)`, the top level's
    /// section `""`; the message names `section.key`. Checked again after
    /// flags and environment variables are applied.
    pub fn problems(&self) -> Vec<(&'static str, &'static str, String)> {
        let mut out = Vec::new();
        if let Some(p) = self.hash_key.problem() {
            out.push(("", "hash_key", format!("hash_key: {p}")));
        }
        let sections = [
            ("ip_lists", self.ip_lists.problems()),
            ("feedback", self.feedback.problems()),
            ("limits", self.limits.problems()),
            ("server", self.server.problems()),
            ("kafka", self.kafka.problems()),
            ("cluster", self.cluster_problems()),
            ("journal", self.journal.problems()),
            ("pwned", self.pwned.problems()),
            ("event_time", self.event_time.problems()),
        ];
        for (section, problems) in sections {
            out.extend(problems.into_iter().map(|(key, m)| (section, key, m)));
        }
        out
    }
}

impl Config {
    /// `[cluster]`'s own problems, and what replicated mode needs of
    /// `[kafka]`.
    fn cluster_problems(&self) -> Vec<(&'static str, String)> {
        let mut out = self.cluster.problems();
        if !self.cluster.replicated() {
            return out;
        }
        if !self.kafka.enabled() {
            out.push((
                "mode",
                "cluster.mode = \"replicated\" folds a log on Kafka: set kafka.brokers (or --kafka-brokers)".into(),
            ));
        }
        let k = &self.kafka;
        for (name, topic) in [
            ("kafka.events_topic", &k.events_topic),
            ("kafka.decisions_topic", &k.decisions_topic),
            ("kafka.dlq_topic", &k.dlq_topic),
        ] {
            if *topic == self.cluster.log_topic {
                out.push((
                    "log_topic",
                    format!(
                        "cluster.log_topic: `{topic}` is also {name}; the log holds only what the replicas checked and wrote, so it must be a topic of its own"
                    ),
                ));
            }
        }
        out
    }
}

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

/// The four 64-bit seeds of the keyed hash, from at least 32 hex digits.
pub fn parse_hash_key(hex_key: &str) -> Result<[u64; 4], String> {
    let bytes = hex::decode(hex_key.trim()).map_err(|_| "must be hex digits".to_string())?;
    if bytes.len() < 16 {
        return Err(format!(
            "must be at least 32 hex digits, got {}",
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
        assert_eq!(c.feedback.block.get(), &[BlockScope::UserIp]);
        assert_eq!(
            c.feedback.block_duration.value(),
            Duration::from_secs(86_400)
        );
        assert!(c.feedback.require_password_reset);
        assert_eq!(c.limits.max_enforcements, 100_000);
        assert_eq!(c.limits.history_per_user, 20);
        let text = "[feedback]\nblock = [\"ip\", \"asn\", \"ip\"]\nblock_duration = \"soon\"\n";
        let c: Config = toml::from_str(text).unwrap();
        let problems = c.check(Path::new("p.toml"), text);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].message.contains("\"asn\""), "{}", problems[0]);
        assert_eq!(problems[0].line, Some(2), "{}", problems[0]);
        assert!(problems[1].message.contains("soon"), "{}", problems[1]);
        assert_eq!(problems[1].line, Some(3), "{}", problems[1]);
        let c: Config =
            toml::from_str("[feedback]\nblock = [\"user\", \"ip\", \"user\"]\n").unwrap();
        assert_eq!(c.feedback.block.get(), &[BlockScope::User, BlockScope::Ip]);
        let zero = "[feedback]\nblock_duration = \"0s\"\n";
        let c: Config = toml::from_str(zero).unwrap();
        let problems = c.check(Path::new("p.toml"), zero);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(
            problems[0].message,
            "feedback.block_duration: must be more than 0s"
        );
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

    #[test]
    fn presizing_past_the_cap_is_refused_with_both_numbers() {
        let text = "[limits]\nmax_profiles = 1000\npresize_profiles = 5000\npresize_keys = 100\n";
        let c: Config = toml::from_str(text).unwrap();
        let problems = c.check(Path::new("p.toml"), text);
        assert_eq!(problems.len(), 1, "{problems:?}");
        let m = &problems[0].message;
        assert!(
            m.contains("presize_profiles") && m.contains("5000") && m.contains("1000"),
            "{m}"
        );
        let fine = "[limits]\npresize_profiles = 1000000\npresize_keys = 1000000\n";
        let c: Config = toml::from_str(fine).unwrap();
        assert!(c.check(Path::new("p.toml"), fine).is_empty());
    }

    #[test]
    fn every_typed_value_is_checked_in_one_read() {
        // One bad value of each kind, in every section: each is listed with
        // its line, none stops the read.
        let text = "\
hash_key = \"abc\"
[limits]
history_max_age = \"forever\"
memory_budget = \"lots\"
[feedback]
block = [\"asn\"]
block_duration = \"soon\"
[ip_lists]
allow = [\"10.0.0.0/99\"]
[server]
listen = \"localhost\"
metrics_listen = \"127.0.0.1\"
request_timeout = \"2 sex\"
header_read_timeout = \"x\"
shutdown_grace = \"x\"
[journal]
flush_interval = \"x\"
checkpoint_interval = \"x\"
[kafka]
delivery_timeout = \"x\"
[pwned]
reload_interval = \"x\"
[event_time]
max_ahead = \"x\"
max_lateness = \"x\"
max_age = \"x\"
";
        let (_, problems) = {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("palisade.toml");
            std::fs::write(&p, text).unwrap();
            Config::read(&p).unwrap()
        };
        let named: Vec<_> = problems
            .iter()
            .map(|p| (p.line.unwrap(), p.message.split(':').next().unwrap()))
            .collect();
        let lines: Vec<_> = text.lines().collect();
        let mut expected = Vec::new();
        let mut section = "";
        for (i, line) in lines.iter().enumerate() {
            if let Some(s) = line.strip_prefix('[') {
                section = s.trim_end_matches(']');
            } else {
                let key = line.split(' ').next().unwrap();
                expected.push((i + 1, key, section));
            }
        }
        assert_eq!(named.len(), expected.len(), "{problems:#?}");
        for (line, key, section) in expected {
            let name = if section.is_empty() {
                key.to_string()
            } else {
                format!("{section}.{key}")
            };
            assert!(
                named.contains(&(line, name.as_str())),
                "{name} at line {line} is not among {named:?}"
            );
        }
    }

    #[test]
    fn a_hash_key_is_not_shown_by_debug() {
        let c: Config =
            toml::from_str("hash_key = \"00112233445566778899aabbccddeeff\"\n").unwrap();
        assert_eq!(c.hash_key.value().unwrap().0[0], 0x7766554433221100);
        assert!(!format!("{c:?}").contains("0011"), "{c:?}");
    }
}
