//! Assembling an engine from a configuration: open the GeoIP databases, load
//! and compile rules and model, parse the address lists. Every problem found is
//! reported together, so one run of `palisade check` shows them all.

use super::budget::Footprint;
use super::feedback::FeedbackSettings;
use super::hashing::DEFAULT_HASH_KEY;
use super::Engine;
use crate::config::{Config, Limits, Mode};
use crate::detect::{load_rules, RuleSet};
use crate::enrich::geoip::{GeoIp, GeoPaths};
use crate::enrich::iplist::IpList;
use crate::event::bounds::TimeBounds;
use crate::model::{load_model, Model};
use crate::problem::{Problem, Problems};
use crate::state::limiter::EventClock;
use std::path::{Path, PathBuf};

/// Everything an engine is made of.
pub struct EngineParts {
    pub clock: EventClock,
    pub mode: Mode,
    pub geoip: GeoIp,
    pub allow: IpList,
    pub deny: IpList,
    pub rules: RuleSet,
    pub model: Model,
    pub limits: Limits,
    pub hash_key: [u64; 4],
    pub feedback: FeedbackSettings,
    pub pwned: super::pwned::PwnedCheck,
    /// How far an event's time may stray (`[event_time]`), for the doors.
    pub time_bounds: TimeBounds,
}

/// Why an engine could not start: every problem, with file and line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartupError(pub Problems);

/// A folder setting: the configured one (which must exist), else the default
/// folder if present, else `None` for the built-in copy.
fn folder(configured: Option<&Path>, default: &str) -> Option<PathBuf> {
    match configured {
        Some(p) => Some(p.to_path_buf()),
        None => Some(PathBuf::from(default)).filter(|p| p.is_dir()),
    }
}

impl EngineParts {
    pub fn from_config(config: &Config) -> Result<EngineParts, StartupError> {
        let mut problems: Vec<Problem> = Vec::new();
        let clock = EventClock::default();
        let limits = config.limits.clone();
        let rules = load_rules(
            folder(config.rules.as_deref(), "rules").as_deref(),
            &clock,
            limits.max_keys_per_rule,
        )
        .map_err(|mut p| problems.append(&mut p))
        .ok();
        let model = load_model(
            folder(config.models.as_deref(), "models").as_deref(),
            config.model.as_deref(),
        )
        .map_err(|mut p| problems.append(&mut p))
        .ok();
        let paths = GeoPaths {
            city: config.geoip.city.clone(),
            asn: config.geoip.asn.clone(),
            anonymous: config.geoip.anonymous.clone(),
        };
        let geoip = GeoIp::open_all(&paths)
            .map_err(|errors| {
                for e in errors {
                    let message = e.to_string();
                    let message = message
                        .strip_prefix("geoip ")
                        .unwrap_or(&message)
                        .to_string();
                    problems.push(Problem::new(Path::new("geoip"), None, message));
                }
            })
            .ok();
        let allow = IpList::new(config.ip_lists.allow.get());
        let deny = IpList::new(config.ip_lists.deny.get());
        let hash_key = config.hash_key.value().map_or(DEFAULT_HASH_KEY, |k| k.0);
        let feedback = FeedbackSettings::from_config(&config.feedback);
        let pwned = match &config.pwned.index {
            None => None,
            Some(path) => crate::enrich::pwned::PwnedIndex::open(path)
                .map_err(|e| problems.push(Problem::new(path, None, e.to_string())))
                .ok(),
        };
        let pwned_check = super::pwned::PwnedCheck::new(pwned, &config.pwned);
        let time_bounds = config.event_time.bounds();
        if let (Some(rules), Some(budget)) = (&rules, limits.memory_budget_bytes()) {
            if let Err(message) = Footprint::worst_case(&limits, &rules.detectors).check(budget) {
                problems.push(Problem::new(Path::new("config"), None, message));
            }
        }
        match (rules, model, geoip) {
            (Some(rules), Some(model), Some(geoip)) if problems.is_empty() => Ok(EngineParts {
                clock,
                mode: config.mode,
                geoip,
                allow,
                deny,
                rules,
                model,
                limits,
                hash_key,
                feedback,
                pwned: pwned_check,
                time_bounds,
            }),
            _ => Err(StartupError(Problems(problems))),
        }
    }

    /// What the caps let the state hold at worst.
    pub fn footprint(&self) -> Footprint {
        Footprint::worst_case(&self.limits, &self.rules.detectors)
    }

    /// One line saying what was loaded, for the startup log.
    pub fn describe(&self) -> String {
        let footprint = self.footprint();
        format!(
            "{}{}; {} ({}); {}; {}; mode {}; {} allow-listed and {} deny-listed ranges; state up to {} at worst{}",
            self.rules.origin,
            match self.rules.warnings.len() {
                0 => String::new(),
                1 => " (1 depends on an optional field: `palisade check` says which)".to_string(),
                n => format!(" ({n} depend on optional fields: `palisade check` says which)"),
            },
            self.model.origin,
            self.rules.version,
            self.geoip.describe(),
            match self.pwned.index.load().as_deref() {
                Some(index) => index.describe(),
                None => "breach corpus off".to_string(),
            },
            if self.mode == Mode::Audit {
                "audit"
            } else {
                "enforce"
            },
            self.allow.len(),
            self.deny.len(),
            bytesize::ByteSize::b(footprint.total()).display().iec(),
            match self.limits.memory_budget_bytes() {
                Some(b) => format!(" (budget {})", bytesize::ByteSize::b(b).display().iec()),
                None => String::new(),
            }
        )
    }
}

impl Engine {
    pub fn from_config(config: &Config) -> Result<Engine, StartupError> {
        EngineParts::from_config(config).map(Engine::new)
    }
}
