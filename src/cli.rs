//! The command-line types (clap), and how the shared flags and the config
//! file become one configuration.

use clap::{Args, Parser, Subcommand};
#[cfg(feature = "analytics")]
use palisade::analytics;
use palisade::config::{Config, Mode};
use palisade::enrich::pwned::InputFormat;
use palisade::failure::Failure;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "palisade",
    version,
    about = "Sign-in threat protection: allow, step up or block, with reasons"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: Command,
}

/// Settings every command shares; each wins over the config file.
#[derive(Args)]
pub struct Common {
    /// Configuration file (TOML; every key optional).
    #[arg(long, env = "PALISADE_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Rules folder [default: ./rules if present, else the built-in rules].
    #[arg(long, env = "PALISADE_RULES", global = true)]
    pub rules: Option<PathBuf>,
    /// Models folder [default: ./models if present, else the built-in model].
    #[arg(long, env = "PALISADE_MODELS", global = true)]
    pub models: Option<PathBuf>,
    /// GeoIP2/GeoLite2 City database.
    #[arg(long, env = "PALISADE_GEOIP_CITY", global = true)]
    pub geoip_city: Option<PathBuf>,
    /// GeoIP2/GeoLite2 ASN database.
    #[arg(long, env = "PALISADE_GEOIP_ASN", global = true)]
    pub geoip_asn: Option<PathBuf>,
    /// GeoIP2 Anonymous-IP database.
    #[arg(long, env = "PALISADE_GEOIP_ANONYMOUS", global = true)]
    pub geoip_anonymous: Option<PathBuf>,
    /// Breach-corpus index from `palisade pwned build` [default: no check].
    #[arg(long, env = "PALISADE_PWNED_INDEX", global = true)]
    pub pwned_index: Option<PathBuf>,
    /// enforce or audit.
    #[arg(long, env = "PALISADE_MODE", global = true)]
    pub mode: Option<Mode>,
    /// Where state is kept [default: ./palisade-data]: `serve` keeps its API
    /// key there when none is configured; replay keeps its state in memory.
    #[arg(long, env = "PALISADE_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
}

impl Common {
    /// The first engine setting given, by its flag name.
    pub fn engine_flag(&self) -> Option<&'static str> {
        [
            (self.config.is_some(), "--config"),
            (self.rules.is_some(), "--rules"),
            (self.models.is_some(), "--models"),
            (self.geoip_city.is_some(), "--geoip-city"),
            (self.geoip_asn.is_some(), "--geoip-asn"),
            (self.geoip_anonymous.is_some(), "--geoip-anonymous"),
            (self.pwned_index.is_some(), "--pwned-index"),
            (self.mode.is_some(), "--mode"),
            (self.data_dir.is_some(), "--data-dir"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Events JSONL in, decisions JSONL out (stdin and stdout by default).
    Replay {
        #[arg(long)]
        input: Option<PathBuf>,
        #[arg(long)]
        output: Option<PathBuf>,
        /// Count every decision in the metrics `serve` exports, and write them
        /// (Prometheus text format) to this file at the end.
        #[arg(long)]
        metrics: Option<PathBuf>,
    },
    /// Validate configuration, rules and models; list every problem (exit 64 on any).
    Check,
    /// The HTTP risk-decision API, until SIGTERM or SIGINT.
    Serve {
        /// Address and port of the API [default: 127.0.0.1:8080].
        #[arg(long, env = "PALISADE_LISTEN")]
        listen: Option<String>,
        /// A second address for /metrics, /healthz and /readyz without an API key.
        #[arg(long, env = "PALISADE_METRICS_LISTEN")]
        metrics_listen: Option<String>,
        /// API keys, comma-separated [default: one created in the data folder].
        #[arg(long, env = "PALISADE_API_KEYS", hide_env_values = true)]
        api_keys: Option<String>,
        /// Kafka bootstrap servers (host:port,...): consume sign-in events and
        /// produce decisions beside the API [default: no Kafka].
        #[arg(long, env = "PALISADE_KAFKA_BROKERS")]
        kafka_brokers: Option<String>,
        /// Start despite a damaged journal: each damaged segment is moved
        /// aside (kept) and replaced by a copy that keeps every readable record.
        #[arg(long)]
        repair_journal: bool,
    },
    /// Labelled synthetic sign-in traffic, JSONL on stdout.
    Simulate {
        #[arg(long, default_value_t = 1000)]
        users: u32,
        #[arg(long, default_value_t = 7)]
        days: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// A GeoIP City database: addresses come from real networks of the chosen countries.
        #[arg(long)]
        geoip: Option<PathBuf>,
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Replay labelled history and report per label: detection, friction on
    /// legitimate users, ROC AUC, TPR at fixed FPR, risk score relation.
    #[cfg(feature = "analytics")]
    Evaluate(analytics::evaluate::EvaluateArgs),
    /// An attack-campaign report over sign-in history: timeline, top sources,
    /// accounts targeted, possible takeovers, attack classes; as text, table
    /// files and an HTML page.
    #[cfg(feature = "analytics")]
    Analyze(analytics::analyze::AnalyzeArgs),
    /// Learn user profiles and global frequencies from history and write them
    /// as a checkpoint the engine starts from.
    #[cfg(feature = "analytics")]
    Baseline(analytics::baseline::BaselineArgs),
    /// Fit the risk model's weights, scores, bias and thresholds to labelled
    /// history; write them as the next model version with held-out figures
    /// of the old and new model side by side.
    #[cfg(feature = "analytics")]
    Train(analytics::train::TrainArgs),
    /// The breach-corpus index (compromised passwords).
    Pwned {
        #[command(subcommand)]
        command: PwnedCommand,
    },
}

#[derive(Subcommand)]
pub enum PwnedCommand {
    /// Build an index from HIBP's Pwned Passwords or a password list (exit 64
    /// on bad input).
    Build {
        /// A corpus file, or a directory of HIBP prefix files.
        #[arg(long)]
        input: PathBuf,
        /// The index file to write.
        #[arg(long)]
        output: PathBuf,
        /// Lookups only: 9 bytes per hash instead of 19, cannot serve /range.
        #[arg(long)]
        no_range: bool,
        #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
        format: InputFormat,
        /// Abort when more lines than this are malformed.
        #[arg(long, default_value_t = 1000)]
        max_malformed: u64,
    },
}

/// The config file (if any) with flags and environment variables applied;
/// a problem refuses it.
pub fn load_config(c: &Common) -> Result<Config, Failure> {
    let (config, problems) = read_config(c)?;
    if !problems.is_empty() {
        return Err(Failure::refused(problems));
    }
    Ok(config)
}

/// The config file (if any) with flags and environment variables applied,
/// and the problems of its values; a file that cannot be read as a config
/// is refused.
pub fn read_config(c: &Common) -> Result<(Config, Vec<palisade::problem::Problem>), Failure> {
    let (mut config, problems) = match &c.config {
        None => (Config::default(), Vec::new()),
        Some(path) => Config::read(path).map_err(Failure::refused)?,
    };
    if c.rules.is_some() {
        config.rules = c.rules.clone();
    }
    if c.models.is_some() {
        config.models = c.models.clone();
    }
    if c.geoip_city.is_some() {
        config.geoip.city = c.geoip_city.clone();
    }
    if c.geoip_asn.is_some() {
        config.geoip.asn = c.geoip_asn.clone();
    }
    if c.geoip_anonymous.is_some() {
        config.geoip.anonymous = c.geoip_anonymous.clone();
    }
    if c.pwned_index.is_some() {
        config.pwned.index = c.pwned_index.clone();
    }
    if let Some(m) = c.mode {
        config.mode = m;
    }
    if c.data_dir.is_some() {
        config.data_dir = c.data_dir.clone();
    }
    // How user names are keyed holds for the whole process, before any
    // event is read.
    palisade::event::username::set_user_names(config.users.names);
    Ok((config, problems))
}
