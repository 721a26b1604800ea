//! The evaluation's report: a table for people, the same figures as JSON for
//! machines, and with a second rule set, both side by side with the difference.

use super::figures::{figures, LabelFigures, FPRS, LEGIT};
use super::{Counts, EvaluateArgs, Pass};
use serde::Serialize;
use std::fmt::Write;

#[derive(Serialize)]
pub struct Report {
    pub input: String,
    pub counts: Counts,
    pub rules_version: String,
    pub model_version: String,
    pub labels: Vec<LabelFigures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compare: Option<Compare>,
}

/// The same history under the changed rules.
#[derive(Serialize)]
pub struct Compare {
    pub rules: String,
    pub rules_version: String,
    pub labels: Vec<LabelFigures>,
    /// Changed minus shipped, per label.
    pub difference: Vec<Difference>,
}

#[derive(Serialize)]
pub struct Difference {
    pub label: String,
    pub flagged_rate: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roc_auc: Option<f64>,
}

impl Report {
    pub fn new(
        args: &EvaluateArgs,
        counts: Counts,
        shipped: &Pass,
        changed: Option<&Pass>,
    ) -> Report {
        let labels = figures(&shipped.by_label);
        let compare = changed.map(|c| {
            let theirs = figures(&c.by_label);
            let difference = labels
                .iter()
                .zip(&theirs)
                .map(|(a, b)| Difference {
                    label: a.label.clone(),
                    flagged_rate: b.flagged_rate - a.flagged_rate,
                    roc_auc: a.roc_auc.zip(b.roc_auc).map(|(a, b)| b - a),
                })
                .collect();
            Compare {
                rules: args
                    .compare_rules
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                rules_version: c.rules_version.clone(),
                labels: theirs,
                difference,
            }
        });
        Report {
            input: args.history.input.display().to_string(),
            counts,
            rules_version: shipped.rules_version.clone(),
            model_version: shipped.model_version.clone(),
            labels,
            compare,
        }
    }

    /// The figures as a text table, then the backtest if there is one.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let c = &self.counts;
        let _ = writeln!(
            out,
            "{}: {} events ({} scored sign-in outcomes, {} attempts or other kinds not scored, {} unlabelled), {} bad rows rejected{}",
            self.input,
            c.events,
            c.scored,
            c.not_scored,
            c.unlabelled,
            c.rejected,
            if c.sorted { ", sorted by time" } else { "" }
        );
        let _ = writeln!(
            out,
            "rules {}, model {}",
            self.rules_version, self.model_version
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<22} {:>9} {:>10} {:>8} {:>9} {:>10} {:>8} {:>8}",
            "label", "events", "flagged", "ROC AUC", "TPR@1%", "TPR@0.1%", "median", "RSR"
        );
        for f in &self.labels {
            let _ = writeln!(out, "{}", row(f));
        }
        let _ = writeln!(
            out,
            "\nflagged = challenged or blocked: the detection rate of an attack, the friction on legit.\n\
             TPR@x = attacks caught at the risk_score threshold that flags x of legit sign-ins.\n\
             RSR = median risk score of the label / of legit (Wiefling et al.)."
        );
        if let Some(cmp) = &self.compare {
            let _ = writeln!(
                out,
                "\nbacktest: shipped rules {} against {} ({})",
                self.rules_version, cmp.rules, cmp.rules_version
            );
            let _ = writeln!(
                out,
                "{:<22} {:>9} {:>9} {:>9}   {:>8} {:>8} {:>8}",
                "label", "flagged", "changed", "diff", "AUC", "changed", "diff"
            );
            for ((a, b), d) in self.labels.iter().zip(&cmp.labels).zip(&cmp.difference) {
                let _ = writeln!(
                    out,
                    "{:<22} {:>9} {:>9} {:>+8.2}pp   {:>8} {:>8} {:>8}",
                    a.label,
                    percent(a.flagged_rate),
                    percent(b.flagged_rate),
                    d.flagged_rate * 100.0,
                    opt(a.roc_auc),
                    opt(b.roc_auc),
                    d.roc_auc.map_or("-".into(), |v| format!("{v:+.4}")),
                );
            }
        }
        out
    }
}

fn row(f: &LabelFigures) -> String {
    let tpr = |i: usize| {
        f.tpr_at_fpr
            .as_ref()
            .and_then(|t| t.get(&format!("{}", FPRS[i])).copied())
            .map_or("-".to_string(), percent)
    };
    let label = if f.label == LEGIT {
        "legit (friction)".to_string()
    } else {
        f.label.clone()
    };
    format!(
        "{:<22} {:>9} {:>10} {:>8} {:>9} {:>10} {:>8.4} {:>8}",
        label,
        f.events,
        percent(f.flagged_rate),
        opt(f.roc_auc),
        tpr(0),
        tpr(1),
        f.median_score,
        f.rsr.map_or("-".to_string(), |r| format!("{r:.2}")),
    )
}

fn percent(v: f64) -> String {
    format!("{:.2}%", v * 100.0)
}

fn opt(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.4}"))
}
