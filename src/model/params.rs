//! The risk model's parameters, as written in `models/*.toml`, and their checks.

use crate::problem::Problem;
use crate::state::profile::Ageing;
use crate::state::sources::WINDOWS;
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

/// Every failed sign-in is evidence against its source's later sign-ins. Per
/// source (one user from one address, an address, its network, its ASN) and
/// window, `f` failures besides the event's own and `s` successes let
/// through give
///
/// ```text
/// mu    = expected + typo_rate * s        (a legitimate source's mean failures)
/// ln LR = max(0, f - free) * (ln((1 + mu) / mu) - ln((1 + m) / m))   (m: attacker_failures)
/// score = weight * ln LR, clipped to [0, max]; below min it is 0
/// ```
///
/// the log-likelihood ratio of "at least f failures" under geometric counts
/// for an attacker and for a legitimate source. The source's score is its
/// largest window's; the event's is the largest source's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceSpec {
    /// The windows failures are counted over, shortest first, such as
    /// `["10s", "10m", "1h", "1d"]`.
    pub windows: [String; WINDOWS],
    /// An attacking source's mean failures in a window.
    pub attacker_failures: f64,
    /// Failures a legitimate crowd makes per successful sign-in, before the
    /// engine has learnt its own rate from failures that end in a success.
    pub typo_rate: f64,
    /// How many successes the prior `typo_rate` counts as.
    pub typo_rate_weight: f64,
    pub user_ip: Option<SourceSpec>,
    pub ip: Option<SourceSpec>,
    pub network: Option<SourceSpec>,
    pub asn: Option<SourceSpec>,
    /// Escalating bans of addresses whose failures were blocked.
    pub bans: Option<BanSpec>,
}

/// One kind of source.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// Per window, the failures a legitimate source makes with no success
    /// to show for them (a user retyping a password).
    pub expected: [f64; WINDOWS],
    /// Per window, failures that weigh nothing (a double typo within
    /// seconds is human). Default: none.
    #[serde(default)]
    pub free: [u32; WINDOWS],
    pub weight: f64,
    pub max: f64,
    pub min: f64,
}

/// Repeat offenders: an address whose failures were blocked is banned, for
/// longer each time (`first` times `factor` to the power of the bans before,
/// decayed by `half_life`, at most `max`), as fail2ban's and CrowdSec's
/// increasing ban times.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BanSpec {
    pub first: String,
    pub factor: f64,
    pub max: String,
    pub half_life: String,
    /// Score while a ban is in force.
    pub score: f64,
    /// Score per earlier ban (decayed) once the ban has ended, up to `max_score`.
    pub score_per_ban: f64,
    pub max_score: f64,
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

/// Parsed durations of an [`EvidenceSpec`], in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvidenceTimes {
    pub windows: [u32; WINDOWS],
    pub ban_first: u32,
    pub ban_max: u32,
    pub ban_half_life: u32,
}

fn secs(text: &str) -> Result<u32, String> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|e| format!("\"{text}\" is not a duration like \"10m\": {e}"))?;
    if d.is_zero() {
        return Err(format!("must be longer than zero, got \"{text}\""));
    }
    Ok(d.as_secs().clamp(1, u32::MAX as u64) as u32)
}

impl EvidenceSpec {
    /// The durations, or the first that does not parse (as `key: why`).
    pub fn times(&self) -> Result<EvidenceTimes, String> {
        let mut windows = [0; WINDOWS];
        for (i, w) in self.windows.iter().enumerate() {
            windows[i] = secs(w).map_err(|e| format!("windows: {e}"))?;
        }
        let (first, max, half_life) = match &self.bans {
            Some(b) => (
                secs(&b.first).map_err(|e| format!("first: {e}"))?,
                secs(&b.max).map_err(|e| format!("max: {e}"))?,
                secs(&b.half_life).map_err(|e| format!("half_life: {e}"))?,
            ),
            None => (1, 1, 1),
        };
        Ok(EvidenceTimes {
            windows,
            ban_first: first,
            ban_max: max,
            ban_half_life: half_life,
        })
    }

    /// The sources it scores, with their section names.
    pub fn sources(&self) -> [(&'static str, Option<SourceSpec>); 4] {
        [
            ("user_ip", self.user_ip),
            ("ip", self.ip),
            ("network", self.network),
            ("asn", self.asn),
        ]
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

fn check_evidence(e: &EvidenceSpec, file: &Path, text: &str, out: &mut Vec<Problem>) {
    let mut bad = |section: &str, key: &str, msg: String| {
        out.push(Problem::at_section_key(file, text, section, key, msg))
    };
    match e.times() {
        Err(why) => {
            let key = why.split_once(':').map_or("windows", |(k, _)| k);
            let section = if key == "windows" {
                "evidence"
            } else {
                "evidence.bans"
            };
            bad(section, key, format!("{section}.{why}"));
        }
        Ok(t) => {
            if t.windows.windows(2).any(|w| w[0] >= w[1]) {
                bad(
                    "evidence",
                    "windows",
                    format!(
                        "evidence.windows must grow from first to last, got {:?}",
                        e.windows
                    ),
                );
            }
            if let Some(b) = e.bans.as_ref().filter(|_| t.ban_max < t.ban_first) {
                bad(
                    "evidence.bans",
                    "max",
                    format!(
                        "evidence.bans.max ({}) must not be shorter than first ({})",
                        b.max, b.first
                    ),
                );
            }
        }
    }
    if !(e.attacker_failures.is_finite() && e.attacker_failures > 0.0) {
        bad(
            "evidence",
            "attacker_failures",
            format!(
                "evidence.attacker_failures must be > 0, got {}",
                e.attacker_failures
            ),
        );
    }
    if !(e.typo_rate.is_finite() && e.typo_rate > 0.0) {
        bad(
            "evidence",
            "typo_rate",
            format!("evidence.typo_rate must be > 0, got {}", e.typo_rate),
        );
    }
    if !(e.typo_rate_weight.is_finite() && e.typo_rate_weight >= 0.0) {
        bad(
            "evidence",
            "typo_rate_weight",
            format!(
                "evidence.typo_rate_weight must be >= 0, got {}",
                e.typo_rate_weight
            ),
        );
    }
    for (name, spec) in e.sources() {
        let Some(s) = spec else { continue };
        let section = format!("evidence.{name}");
        if s.expected.iter().any(|x| !(x.is_finite() && *x > 0.0)) {
            bad(
                &section,
                "expected",
                format!(
                    "{section}.expected must be > 0 in every window, got {:?}",
                    s.expected
                ),
            );
        }
        if !(s.weight.is_finite() && s.weight >= 0.0) {
            bad(
                &section,
                "weight",
                format!("{section}.weight must be >= 0, got {}", s.weight),
            );
        }
        if !(s.max.is_finite() && s.max >= 0.0) {
            bad(
                &section,
                "max",
                format!("{section}.max must be >= 0, got {}", s.max),
            );
        }
        if !(s.min.is_finite() && s.min >= 0.0 && s.min <= s.max) {
            bad(
                &section,
                "min",
                format!("{section}.min must be within [0, max], got {}", s.min),
            );
        }
    }
    if let Some(b) = &e.bans {
        if !(b.factor.is_finite() && b.factor >= 1.0) {
            bad(
                "evidence.bans",
                "factor",
                format!("evidence.bans.factor must be at least 1, got {}", b.factor),
            );
        }
        for (key, v) in [
            ("score", b.score),
            ("score_per_ban", b.score_per_ban),
            ("max_score", b.max_score),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                bad(
                    "evidence.bans",
                    key,
                    format!("evidence.bans.{key} must be >= 0, got {v}"),
                );
            }
        }
    }
}
