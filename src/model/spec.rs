//! The risk model's parameters, as written in `models/*.toml`, and their checks.

use super::evidence::{check_evidence, EvidenceSpec};
use crate::problem::Problem;
use crate::state::profile::Ageing;
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Names the model in every decision (`model_version`).
    pub version: String,
    /// Log-odds of risk for a sign-in with no reason at all.
    pub bias: f64,
    pub thresholds: Thresholds,
    pub actions: LevelActions,
    pub profile: ProfileSpec,
    pub features: Features,
    pub signals: Signals,
    /// Failed sign-ins per source as graded evidence, and escalating bans.
    /// Absent: off (models written before it keep their behaviour).
    #[serde(default)]
    pub evidence: Option<EvidenceSpec>,
    /// How far novelty (new device, network, country, browser, OS, an unusual
    /// hour) can raise the risk on its own. Absent: no cap.
    #[serde(default)]
    pub novelty: Option<NoveltySpec>,
}

/// Novelty steps up, it never blocks alone.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoveltySpec {
    /// Most that new values and an unusual hour add together, in log-odds;
    /// each reason is scaled down in proportion when they add up to more.
    pub max: f64,
    /// A user's history counts as at most this many sign-ins when a value new
    /// to them is scored, so the evidence saturates instead of growing with
    /// the length of the history.
    pub saturation: f64,
    /// Novelty and a rule's challenge may block only beside evidence against
    /// the sign-in itself: a ban, travel, an anonymizer, a breached password,
    /// the deny-list, reported fraud, or the account's own failures from
    /// the address once their score reaches this (4.0: six failures in ten
    /// minutes, more than a user retyping a password makes).
    #[serde(default = "NoveltySpec::default_block_beside_failures")]
    pub block_beside_failures: f64,
}

impl NoveltySpec {
    fn default_block_beside_failures() -> f64 {
        4.0
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// `risk_score` at or above which the level is medium.
    pub medium: f64,
    /// `risk_score` at or above which the level is high.
    pub high: f64,
}

/// Cognito's choices per level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LevelAction {
    Allow,
    /// Step up to MFA when the user has it; otherwise let the sign-in through.
    MfaIfConfigured,
    /// Step up to MFA; a user without MFA cannot pass.
    MfaRequired,
    Block,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelActions {
    pub low: LevelAction,
    pub medium: LevelAction,
    pub high: LevelAction,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    /// A habit's weight halves after this many days unused.
    pub half_life_days: f32,
    /// A habit unused this long is forgotten; so is a profile idle this long.
    pub forget_after_days: u16,
}

impl ProfileSpec {
    pub fn ageing(&self) -> Ageing {
        Ageing::new(self.half_life_days, self.forget_after_days)
    }
}

/// One feature of the likelihood ratio.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    /// Scales the feature's log-likelihood ratio.
    pub weight: f64,
    /// Pseudo-count pulling the user's side towards the global frequency.
    pub alpha: f64,
    /// Share of the attacker's side spread evenly over known values.
    #[serde(default)]
    pub uniform: f64,
    /// Whether the attacker's side uses global frequencies (else it is 1).
    pub global: bool,
    /// Largest contribution, in log-odds.
    pub max: f64,
    /// Smallest contribution that counts: below it the value is as good as
    /// familiar, and neither scores nor appears among the reasons.
    pub min: f64,
}

/// Features absent from the file are off.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Features {
    pub device: Option<FeatureSpec>,
    pub country: Option<FeatureSpec>,
    pub asn: Option<FeatureSpec>,
    pub network: Option<FeatureSpec>,
    pub browser: Option<FeatureSpec>,
    pub os: Option<FeatureSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TravelSpec {
    pub score: f64,
    /// Speed between two successful sign-ins above which travel is impossible,
    /// after allowing for both locations' accuracy radius.
    pub max_speed_kmh: f64,
    /// Shortest trip (beyond the accuracy radii) that can count.
    pub min_distance_km: f64,
    /// Shortest trip within one country that can count: GeoIP often places an
    /// address in the wrong city of the right country.
    pub same_country_min_distance_km: f64,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalSpec {
    pub score: f64,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HourSpec {
    pub score: f64,
    /// Hours either side of a known sign-in hour that are still usual.
    pub tolerance_hours: u32,
    /// Successful sign-ins needed before any hour is called unusual.
    pub min_sign_ins: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signals {
    pub impossible_travel: TravelSpec,
    pub anonymous_ip: SignalSpec,
    pub hosting_ip: SignalSpec,
    pub ip_denylisted: SignalSpec,
    pub unusual_hour: HourSpec,
    /// The sign-in's device, network or country was reported in a fraudulent
    /// sign-in of this user (feedback), within the profile's forget horizon.
    /// Also the score of a block from fraud feedback. Optional, so model
    /// files written before feedback still load.
    #[serde(default = "SignalSpec::reported_fraud")]
    pub reported_fraud: SignalSpec,
    /// The password is in the breach corpus (`[pwned]`). Optional, so model
    /// files written before the corpus check still load.
    #[serde(default = "SignalSpec::compromised_password")]
    pub compromised_password: SignalSpec,
}

impl SignalSpec {
    fn reported_fraud() -> SignalSpec {
        SignalSpec { score: 4.0 }
    }
    fn compromised_password() -> SignalSpec {
        SignalSpec { score: 4.0 }
    }
}

impl ModelSpec {
    /// Every problem with the values, each at its key's line.
    pub fn check(&self, file: &Path, text: &str) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut bad = |key: &str, msg: String| out.push(Problem::at_key(file, text, key, msg));
        if self.version.trim().is_empty() {
            bad("version", "version must not be empty".into());
        }
        if !self.bias.is_finite() {
            bad(
                "bias",
                format!("bias must be a finite number, got {}", self.bias),
            );
        }
        let t = &self.thresholds;
        if !(0.0 < t.medium && t.medium < t.high && t.high <= 1.0) {
            bad(
                "medium",
                format!(
                    "thresholds must satisfy 0 < medium < high <= 1, got medium {} and high {}",
                    t.medium, t.high
                ),
            );
        }
        if !(self.profile.half_life_days > 0.0 && self.profile.half_life_days.is_finite()) {
            bad(
                "half_life_days",
                format!(
                    "half_life_days must be > 0, got {}",
                    self.profile.half_life_days
                ),
            );
        }
        if self.profile.forget_after_days == 0 {
            bad(
                "forget_after_days",
                "forget_after_days must be at least 1, got 0".into(),
            );
        }
        let f = &self.features;
        for (name, spec) in [
            ("device", f.device),
            ("country", f.country),
            ("asn", f.asn),
            ("network", f.network),
            ("browser", f.browser),
            ("os", f.os),
        ] {
            let Some(s) = spec else { continue };
            let section = format!("[features.{name}]");
            let line = text
                .lines()
                .position(|l| l.trim() == section)
                .map(|i| i + 1);
            let mut bad_f =
                |msg: String| out.push(Problem::new(file, line, format!("features.{name}: {msg}")));
            if !(s.weight.is_finite() && s.weight >= 0.0) {
                bad_f(format!("weight must be >= 0, got {}", s.weight));
            }
            if !(s.alpha.is_finite() && s.alpha > 0.0) {
                bad_f(format!("alpha must be > 0, got {}", s.alpha));
            }
            if !(0.0..=1.0).contains(&s.uniform) {
                bad_f(format!("uniform must be within [0, 1], got {}", s.uniform));
            }
            if !(s.max.is_finite() && s.max >= 0.0) {
                bad_f(format!("max must be >= 0, got {}", s.max));
            }
            if !(s.min.is_finite() && s.min >= 0.0 && s.min <= s.max) {
                bad_f(format!("min must be within [0, max], got {}", s.min));
            }
        }
        let s = &self.signals;
        for (section, v) in [
            ("impossible_travel", s.impossible_travel.score),
            ("anonymous_ip", s.anonymous_ip.score),
            ("hosting_ip", s.hosting_ip.score),
            ("ip_denylisted", s.ip_denylisted.score),
            ("unusual_hour", s.unusual_hour.score),
            ("reported_fraud", s.reported_fraud.score),
            ("compromised_password", s.compromised_password.score),
        ] {
            if !v.is_finite() {
                out.push(Problem::at_section_key(
                    file,
                    text,
                    &format!("signals.{section}"),
                    "score",
                    format!("signals.{section}.score must be finite, got {v}"),
                ));
            }
        }
        for (key, v) in [
            ("min_distance_km", s.impossible_travel.min_distance_km),
            (
                "same_country_min_distance_km",
                s.impossible_travel.same_country_min_distance_km,
            ),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                out.push(Problem::at_key(
                    file,
                    text,
                    key,
                    format!("{key} must be >= 0, got {v}"),
                ));
            }
        }
        if s.unusual_hour.tolerance_hours > 11 {
            out.push(Problem::at_key(
                file,
                text,
                "tolerance_hours",
                format!(
                    "tolerance_hours must be at most 11, got {}",
                    s.unusual_hour.tolerance_hours
                ),
            ));
        }
        if let Some(e) = &self.evidence {
            check_evidence(e, file, text, &mut out);
        }
        if let Some(n) = &self.novelty {
            if !(n.max.is_finite() && n.max >= 0.0) {
                out.push(Problem::at_section_key(
                    file,
                    text,
                    "novelty",
                    "max",
                    format!("novelty.max must be >= 0, got {}", n.max),
                ));
            }
            if !(n.block_beside_failures.is_finite() && n.block_beside_failures >= 0.0) {
                out.push(Problem::at_section_key(
                    file,
                    text,
                    "novelty",
                    "block_beside_failures",
                    format!(
                        "novelty.block_beside_failures must be >= 0, got {}",
                        n.block_beside_failures
                    ),
                ));
            }
            if !(n.saturation.is_finite() && n.saturation >= 1.0) {
                out.push(Problem::at_section_key(
                    file,
                    text,
                    "novelty",
                    "saturation",
                    format!(
                        "novelty.saturation must be at least 1 (sign-ins), got {}",
                        n.saturation
                    ),
                ));
            }
        }
        if !(s.impossible_travel.max_speed_kmh > 0.0
            && s.impossible_travel.max_speed_kmh.is_finite())
        {
            out.push(Problem::at_key(
                file,
                text,
                "max_speed_kmh",
                format!(
                    "max_speed_kmh must be > 0, got {}",
                    s.impossible_travel.max_speed_kmh
                ),
            ));
        }
        out
    }
}
