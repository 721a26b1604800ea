//! The figures per label: how many were caught, what legitimate users paid,
//! and how well `risk_score` alone separates each attack from legitimate
//! sign-ins (ROC AUC, true-positive rate at a fixed false-positive rate, and
//! Wiefling et al.'s risk score relation).

use serde::Serialize;
use std::collections::BTreeMap;

/// The label of legitimate sign-ins, the baseline every attack is set against.
pub const LEGIT: &str = "legit";
/// Every label but `legit`, together.
pub const ALL_ATTACKS: &str = "all_attacks";
/// False-positive rates the true-positive rate is reported at.
pub const FPRS: [f64; 2] = [0.01, 0.001];

/// One scored sign-in: its risk score and whether it was stepped up or blocked.
#[derive(Debug, Clone, Copy)]
pub struct Scored {
    pub score: f64,
    pub flagged: bool,
}

/// What one label's sign-ins met.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LabelFigures {
    pub label: String,
    pub events: u64,
    /// Share challenged or blocked: the detection rate for an attack, the
    /// friction for `legit`.
    pub flagged_rate: f64,
    pub median_score: f64,
    /// Against `legit`; absent for `legit` itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roc_auc: Option<f64>,
    /// True-positive rate at each of [`FPRS`], thresholds set on legit scores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpr_at_fpr: Option<BTreeMap<String, f64>>,
    /// Risk score relation: median(label) / median(legit); absent when the
    /// legitimate median is 0 (the relation is then unbounded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rsr: Option<f64>,
}

/// The figures for `legit`, each other label, then all attacks together.
pub fn figures(by_label: &BTreeMap<String, Vec<Scored>>) -> Vec<LabelFigures> {
    let legit: Vec<f64> = by_label
        .get(LEGIT)
        .map(|v| v.iter().map(|s| s.score).collect())
        .unwrap_or_default();
    let legit_median = median(&legit);
    let mut out = Vec::new();
    if let Some(l) = by_label.get(LEGIT) {
        out.push(one(LEGIT, l, None, legit_median));
    }
    let mut all = Vec::new();
    for (label, scored) in by_label.iter().filter(|(l, _)| *l != LEGIT) {
        out.push(one(label, scored, Some(&legit), legit_median));
        all.extend_from_slice(scored);
    }
    if by_label.len() > 2 || (by_label.len() == 2 && !by_label.contains_key(LEGIT)) {
        out.push(one(ALL_ATTACKS, &all, Some(&legit), legit_median));
    }
    out
}

fn one(label: &str, scored: &[Scored], legit: Option<&[f64]>, legit_median: f64) -> LabelFigures {
    let scores: Vec<f64> = scored.iter().map(|s| s.score).collect();
    let flagged = scored.iter().filter(|s| s.flagged).count();
    let median_score = median(&scores);
    let against = legit.filter(|l| !l.is_empty() && !scores.is_empty());
    LabelFigures {
        label: label.to_string(),
        events: scored.len() as u64,
        flagged_rate: ratio(flagged, scored.len()),
        median_score,
        roc_auc: against.map(|l| roc_auc(&scores, l)),
        tpr_at_fpr: against.map(|l| {
            FPRS.iter()
                .map(|&f| (format!("{f}"), tpr_at_fpr(&scores, l, f)))
                .collect()
        }),
        rsr: against
            .filter(|_| legit_median > 0.0)
            .map(|_| median_score / legit_median),
    }
}

/// `a / b`; 0 when `b` is 0.
pub fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// The median; 0 for no values.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The probability that a random positive scores above a random negative,
/// a tie counting one half (Mann-Whitney U over average ranks).
pub fn roc_auc(positives: &[f64], negatives: &[f64]) -> f64 {
    let mut all: Vec<(f64, bool)> = positives
        .iter()
        .map(|&s| (s, true))
        .chain(negatives.iter().map(|&s| (s, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0 == all[i].0 {
            j += 1;
        }
        // Ranks i+1..=j share their average.
        let rank = (i + 1 + j) as f64 / 2.0;
        rank_sum += rank * all[i..j].iter().filter(|p| p.1).count() as f64;
        i = j;
    }
    let (p, n) = (positives.len() as f64, negatives.len() as f64);
    (rank_sum - p * (p + 1.0) / 2.0) / (p * n)
}

/// The share of positives scoring above the threshold that lets at most
/// `fpr` of the negatives through (strictly above, so ties at the threshold
/// are not counted as caught).
pub fn tpr_at_fpr(positives: &[f64], negatives: &[f64], fpr: f64) -> f64 {
    let mut neg = negatives.to_vec();
    neg.sort_by(|a, b| b.total_cmp(a));
    let k = ((fpr * neg.len() as f64).floor() as usize).min(neg.len() - 1);
    let threshold = neg[k];
    ratio(
        positives.iter().filter(|&&s| s > threshold).count(),
        positives.len(),
    )
}

/// Points of the ROC curve (false-positive rate, true-positive rate), one per
/// distinct score, thinned to at most `max_points`.
pub fn roc_curve(positives: &[f64], negatives: &[f64], max_points: usize) -> Vec<(f64, f64)> {
    let mut all: Vec<(f64, bool)> = positives
        .iter()
        .map(|&s| (s, true))
        .chain(negatives.iter().map(|&s| (s, false)))
        .collect();
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (p, n) = (positives.len().max(1) as f64, negatives.len().max(1) as f64);
    let mut points = vec![(0.0, 0.0)];
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0 == all[i].0 {
            if all[j].1 {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            j += 1;
        }
        points.push((fp / n, tp / p));
        i = j;
    }
    if points.len() > max_points {
        let step = points.len().div_ceil(max_points);
        let last = *points.last().expect("not empty");
        points = points.into_iter().step_by(step).collect();
        points.push(last);
    }
    points
}

/// The width of a column of labels: at least 22 (and `legit (friction)`),
/// wider when a label is longer, so the figures beside it stay aligned.
pub fn label_width<'a>(labels: impl Iterator<Item = &'a str>) -> usize {
    labels.map(str::len).fold(22, usize::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_is_one_for_perfect_separation_and_half_for_ties() {
        assert_eq!(roc_auc(&[0.9, 0.8], &[0.1, 0.2, 0.3]), 1.0);
        assert_eq!(roc_auc(&[0.1], &[0.9]), 0.0);
        assert_eq!(roc_auc(&[0.5, 0.5], &[0.5, 0.5, 0.5]), 0.5);
        // One positive above both negatives, one tied with one: (1 + 1 + 1 + 0.5) / 4.
        assert_eq!(roc_auc(&[0.9, 0.3], &[0.3, 0.1]), 0.875);
    }

    #[test]
    fn tpr_at_fpr_sets_the_threshold_on_negatives() {
        let negatives: Vec<f64> = (0..1000).map(|i| i as f64 / 1000.0).collect();
        // 1% of 1000 negatives: the 10 highest (0.990..0.999) may pass; the
        // threshold is 0.989, so 0.99 counts and 0.989 does not.
        assert_eq!(tpr_at_fpr(&[0.99, 0.989, 0.5, 1.0], &negatives, 0.01), 0.5);
        // All negatives tied: nothing strictly above them is a false positive.
        assert_eq!(tpr_at_fpr(&[0.2, 0.3], &[0.2; 10], 0.001), 0.5);
    }

    #[test]
    fn figures_have_legit_each_label_and_all_attacks() {
        let s = |score: f64, flagged: bool| Scored { score, flagged };
        let mut by = BTreeMap::new();
        by.insert(
            LEGIT.to_string(),
            vec![s(0.1, false), s(0.2, false), s(0.3, true), s(0.2, false)],
        );
        by.insert("brute_force".to_string(), vec![s(0.9, true), s(0.8, true)]);
        by.insert(
            "password_spray".to_string(),
            vec![s(0.1, false), s(0.6, true)],
        );
        let f = figures(&by);
        let labels: Vec<&str> = f.iter().map(|f| f.label.as_str()).collect();
        assert_eq!(
            labels,
            ["legit", "brute_force", "password_spray", "all_attacks"]
        );
        assert_eq!(f[0].flagged_rate, 0.25);
        assert_eq!(f[0].roc_auc, None);
        assert_eq!(f[1].flagged_rate, 1.0);
        assert_eq!(f[1].roc_auc, Some(1.0));
        assert_eq!(f[0].median_score, 0.2);
        assert!((f[1].rsr.unwrap() - 0.85 / 0.2).abs() < 1e-12);
        assert_eq!(f[3].events, 4);
        assert_eq!(f[3].flagged_rate, 0.75);
    }

    #[test]
    fn the_roc_curve_runs_from_origin_to_one_one() {
        let c = roc_curve(&[0.9, 0.5], &[0.5, 0.1], 100);
        assert_eq!(c, vec![(0.0, 0.0), (0.0, 0.5), (0.5, 1.0), (1.0, 1.0)]);
    }

    #[test]
    fn the_label_column_widens_for_a_long_label() {
        assert_eq!(label_width(["legit", "brute_force"].into_iter()), 22);
        assert_eq!(
            label_width(["legit", "unknown_user_brute_force"].into_iter()),
            24
        );
    }
}
