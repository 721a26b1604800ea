//! The model's `[evidence]`: failed sign-ins per source, weighed as
//! likelihood ratios, and the bans of repeat offenders; their parameters and
//! checks.

use crate::problem::Problem;
use crate::state::sources::WINDOWS;
use serde::Deserialize;
use std::path::Path;

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

pub(super) fn check_evidence(e: &EvidenceSpec, file: &Path, text: &str, out: &mut Vec<Problem>) {
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
