//! The risk model: per-feature likelihood ratios of "attacker" over "this user",
//! plus the detectors' and signals' scores, summed in log-odds into a risk score
//! in [0, 1], a level and an action. Parameters live in `models/*.toml`.

mod evidence;
pub mod fit;
pub mod parameters;
mod spec;

pub use evidence::{BanSpec, EvidenceSpec, EvidenceTimes, SourceSpec};
pub use spec::{FeatureSpec, LevelAction, ModelSpec, NoveltySpec};

use crate::event::RiskLevel;
use crate::problem::Problem;
use std::path::{Path, PathBuf};

/// The shipped model, built into the binary for runs without a models folder.
pub const EMBEDDED_MODEL: (&str, &str) =
    ("risk-v2.toml", include_str!("../../models/risk-v2.toml"));

pub struct Model {
    pub spec: ModelSpec,
    pub origin: String,
    /// The file it was read from; `None` for the built-in model.
    pub source: Option<PathBuf>,
}

/// What one feature value says, when it says anything.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureScore {
    /// Contribution in log-odds, in (0, spec.max].
    pub score: f64,
    pub likelihood_ratio: f64,
    /// The value's global share, when the feature uses one.
    pub global_share: Option<f64>,
}

/// A value's standing with the user and everyone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence {
    /// The user's ageing weight for the value, and for all values of the feature.
    pub user_weight: f64,
    pub user_total: f64,
    /// (count of the value, all observations, distinct values) across all users.
    pub global: (u32, u64, usize),
}

impl FeatureSpec {
    /// The feature's contribution, or `None` when the value is no riskier than
    /// usual for this user.
    pub fn score(&self, ev: Evidence) -> Option<FeatureScore> {
        let (count, total, distinct) = ev.global;
        let (p_global, p_attacker, share) = if self.global {
            let p = (count as f64 + 1.0) / (total as f64 + distinct as f64 + 1.0);
            let attacker = (1.0 - self.uniform) * p + self.uniform / (distinct as f64 + 1.0);
            (p, attacker, Some(count as f64 / (total.max(1)) as f64))
        } else {
            (0.5, 0.5, None)
        };
        let p_user = (ev.user_weight + self.alpha * p_global) / (ev.user_total + self.alpha);
        let lr = p_attacker / p_user;
        // Most values are familiar (a ratio at or below 1): no logarithm needed.
        if lr <= 1.0 {
            return None;
        }
        let score = (self.weight * lr.ln()).min(self.max);
        (score >= self.min && score > 0.0).then_some(FeatureScore {
            score,
            likelihood_ratio: lr,
            global_share: share,
        })
    }
}

impl Model {
    /// The sum of contributions at which the risk score reaches `threshold`
    /// (a level's lower bound): its log-odds less the bias.
    pub fn contributions_for(&self, threshold: f64) -> f64 {
        (threshold / (1.0 - threshold)).ln() - self.spec.bias
    }

    /// (risk score, level, the level's action) for a sum of contributions.
    pub fn assess(&self, contributions: f64) -> (f64, RiskLevel, LevelAction) {
        let z = self.spec.bias + contributions;
        let score = 1.0 / (1.0 + (-z).exp());
        let t = &self.spec.thresholds;
        let a = &self.spec.actions;
        if score >= t.high {
            (score, RiskLevel::High, a.high)
        } else if score >= t.medium {
            (score, RiskLevel::Medium, a.medium)
        } else {
            (score, RiskLevel::Low, a.low)
        }
    }
}

/// Loads the model: from `dir` (the one `*.toml` there, the one whose
/// `version` is `select`, or else the highest of numbered versions), or the
/// embedded model when `dir` is `None`. Every file in `dir` must be valid,
/// chosen or not, so a bad file is found before anyone selects it.
///
/// Several versions and no `select`: when every version is one name with a
/// number after it (`risk-v1`, `risk-v2`, ...) the highest number runs, so
/// `palisade train` writing `risk-v2.toml` beside `risk-v1.toml` is a
/// well-defined upgrade that `model = "risk-v1"` in the config can pin back;
/// any other mix is ambiguous and an error.
pub fn load_model(dir: Option<&Path>, select: Option<&str>) -> Result<Model, Vec<Problem>> {
    let files: Vec<(PathBuf, String)> = match dir {
        None => vec![(
            Path::new("models").join(EMBEDDED_MODEL.0),
            EMBEDDED_MODEL.1.to_string(),
        )],
        Some(d) => {
            let rd = std::fs::read_dir(d).map_err(|e| {
                vec![Problem::new(
                    d,
                    None,
                    format!("cannot read the models folder: {e}"),
                )]
            })?;
            let mut paths: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            paths.sort();
            let mut files = Vec::new();
            for p in paths {
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| vec![Problem::new(&p, None, format!("cannot read: {e}"))])?;
                files.push((p, text));
            }
            files
        }
    };
    let mut problems = Vec::new();
    let mut models = Vec::new();
    for (path, text) in &files {
        match toml::from_str::<ModelSpec>(text) {
            Err(e) => problems.push(Problem::from_toml(path, text, &e)),
            Ok(spec) => {
                let mut p = spec.check(path, text);
                if p.is_empty() {
                    models.push((path.clone(), spec));
                }
                problems.append(&mut p);
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let where_ = dir.unwrap_or(Path::new("models"));
    let found = models.len();
    let mut highest = false;
    let chosen = match select {
        Some(v) => models.into_iter().find(|(_, s)| s.version == v),
        None if models.len() == 1 => models.pop(),
        None => {
            let versions: Vec<&str> = models.iter().map(|(_, s)| s.version.as_str()).collect();
            match highest_version(&versions) {
                Some(i) => {
                    highest = true;
                    Some(models.swap_remove(i))
                }
                None => {
                    return Err(vec![Problem::new(
                        where_,
                        None,
                        format!(
                            "{} models found ({}) and their versions are not one name numbered (such as risk-v1, risk-v2); choose one with `model = \"VERSION\"` in the config",
                            versions.len(),
                            versions.join(", ")
                        ),
                    )]);
                }
            }
        }
    };
    let Some((path, spec)) = chosen else {
        let what = select.map_or("no model file".to_string(), |v| {
            format!("no model with version \"{v}\"")
        });
        return Err(vec![Problem::new(
            where_,
            None,
            format!("{what} in the models folder"),
        )]);
    };
    let origin = if dir.is_some() {
        let why = if highest {
            format!(
                " (the highest of {found} versions; `model = \"VERSION\"` in the config pins one)"
            )
        } else {
            String::new()
        };
        format!("model {} from {}{why}", spec.version, path.display())
    } else {
        format!("built-in model {}", spec.version)
    };
    Ok(Model {
        spec,
        origin,
        source: dir.is_some().then_some(path),
    })
}

/// A version as its name and number: `risk-v12` is (`risk-v`, 12); `None`
/// when it does not end in digits.
pub fn numbered(version: &str) -> Option<(&str, u64)> {
    let digits = version.len() - version.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (name, number) = version.split_at(version.len() - digits);
    number.parse().ok().map(|n| (name, n))
}

/// The index of the highest version, when all are one name with distinct numbers.
fn highest_version(versions: &[&str]) -> Option<usize> {
    let numbered: Vec<(&str, u64)> = versions
        .iter()
        .map(|v| numbered(v))
        .collect::<Option<_>>()?;
    let name = numbered.first()?.0;
    if numbered.iter().any(|(n, _)| *n != name) {
        return None;
    }
    let mut numbers: Vec<u64> = numbered.iter().map(|(_, n)| *n).collect();
    numbers.sort_unstable();
    if numbers.windows(2).any(|w| w[0] == w[1]) {
        return None;
    }
    numbered
        .iter()
        .enumerate()
        .max_by_key(|(_, (_, n))| *n)
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn country() -> FeatureSpec {
        FeatureSpec {
            weight: 1.0,
            alpha: 1.0,
            uniform: 0.5,
            global: true,
            max: 10.0,
            min: 0.0,
        }
    }

    fn ev(w: f64, n: f64, count: u32) -> Evidence {
        Evidence {
            user_weight: w,
            user_total: n,
            global: (count, 10_000, 50),
        }
    }

    #[test]
    fn a_rare_new_value_is_riskier_than_a_common_new_one() {
        let rare = country().score(ev(0.0, 20.0, 5)).unwrap();
        let common = country().score(ev(0.0, 20.0, 3_000)).unwrap();
        assert!(rare.score > common.score, "{rare:?} vs {common:?}");
    }

    #[test]
    fn history_makes_a_new_value_riskier_and_a_known_one_safe() {
        let veteran = country().score(ev(0.0, 50.0, 100)).unwrap();
        let newcomer = country().score(ev(0.0, 1.0, 100)).unwrap();
        assert!(veteran.score > newcomer.score);
        assert_eq!(country().score(ev(20.0, 20.0, 100)), None);
    }

    #[test]
    fn the_embedded_model_loads_and_maps_scores_to_levels() {
        let m = load_model(None, None).unwrap();
        let (s, level, _) = m.assess(0.0);
        assert!(s < m.spec.thresholds.medium && level == RiskLevel::Low);
        assert_eq!(m.assess(20.0).1, RiskLevel::High);
    }

    #[test]
    fn several_numbered_versions_run_the_highest_unless_one_is_chosen() {
        let dir = std::env::temp_dir().join(format!("palisade-models-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let shipped = EMBEDDED_MODEL.1;
        let v1 = shipped.replace("version = \"risk-v2\"", "version = \"risk-v1\"");
        std::fs::write(dir.join("risk-v1.toml"), &v1).unwrap();
        std::fs::write(
            dir.join("risk-v10.toml"),
            v1.replace("version = \"risk-v1\"", "version = \"risk-v10\""),
        )
        .unwrap();
        std::fs::write(dir.join("risk-v2.toml"), shipped).unwrap();
        let m = load_model(Some(&dir), None).unwrap();
        assert_eq!(m.spec.version, "risk-v10");
        assert!(m.origin.contains("highest of 3"), "{}", m.origin);
        assert_eq!(m.source, Some(dir.join("risk-v10.toml")));
        assert_eq!(
            load_model(Some(&dir), Some("risk-v1"))
                .unwrap()
                .spec
                .version,
            "risk-v1"
        );
        std::fs::write(
            dir.join("custom.toml"),
            v1.replace("version = \"risk-v1\"", "version = \"custom\""),
        )
        .unwrap();
        let e = load_model(Some(&dir), None).err().unwrap();
        assert!(e[0].to_string().contains("4 models found"), "{}", e[0]);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(numbered("risk-v12"), Some(("risk-v", 12)));
        assert_eq!(numbered("risk"), None);
        assert_eq!(highest_version(&["a1", "a1"]), None);
    }

    #[test]
    fn a_model_without_reported_fraud_loads_with_its_default() {
        let shipped = EMBEDDED_MODEL.1;
        let at = shipped.find("[signals.reported_fraud]").unwrap();
        let older = &shipped[..at];
        let spec: ModelSpec = toml::from_str(older).unwrap();
        assert_eq!(spec.signals.reported_fraud.score, 4.0);
        assert!(spec.check(Path::new("m.toml"), older).is_empty());
        let tuned = older.to_string() + "[signals.reported_fraud]\nscore = 2.5\n";
        let spec: ModelSpec = toml::from_str(&tuned).unwrap();
        assert_eq!(spec.signals.reported_fraud.score, 2.5);
    }
}
