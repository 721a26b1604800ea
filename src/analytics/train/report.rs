//! What training did: the parameters before and after, and the held-out
//! users' figures under the running and the trained model side by side, as
//! a table and as the `.evaluation.json` beside the model.

use super::write::Trained;
use super::Change;
use crate::analytics::evaluate::figures::{
    figures, label_width, LabelFigures, Scored, FPRS, LEGIT,
};
use crate::analytics::evaluate::Counts;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

#[derive(Serialize)]
pub struct Comparison {
    pub model: String,
    pub file: String,
    pub trained_from: String,
    pub trained_from_file: String,
    pub input: String,
    pub options: Options,
    pub counts: Counts,
    /// Labelled sign-ins per label, of the training and the held-out users.
    pub training: BTreeMap<String, u64>,
    pub held_out_sign_ins: BTreeMap<String, u64>,
    pub bias: BeforeAfter,
    pub medium: BeforeAfter,
    pub high: BeforeAfter,
    pub parameters: Vec<Change>,
    pub fit: FitSummary,
    /// The held-out users' sign-ins, replayed with each model.
    pub held_out: Models,
}

#[derive(Serialize)]
pub struct Options {
    pub legit_label: String,
    pub friction: f64,
    pub block_fpr: f64,
    pub holdout: f64,
    pub l2: f64,
}

#[derive(Serialize)]
pub struct BeforeAfter {
    pub before: f64,
    pub after: f64,
    /// For a threshold: the share of the training legit sign-ins at or above
    /// it under the trained model, by the first replay's rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub training_legit_share: Option<f64>,
}

#[derive(Serialize)]
pub struct FitSummary {
    pub newton_steps: usize,
    /// Of the training rows at the fitted (unrounded) coefficients.
    pub log_likelihood: f64,
}

#[derive(Serialize)]
pub struct Models {
    pub old: ModelFigures,
    pub new: ModelFigures,
}

#[derive(Serialize)]
pub struct ModelFigures {
    pub version: String,
    pub labels: Vec<LabelFigures>,
}

impl Comparison {
    pub fn new(
        t: &Trained,
        path: &Path,
        old: &BTreeMap<String, Vec<Scored>>,
        new: &BTreeMap<String, Vec<Scored>>,
        log_likelihood: f64,
    ) -> Comparison {
        let a = t.args;
        let ba = |before: f64, after: f64, share: Option<f64>| BeforeAfter {
            before,
            after,
            training_legit_share: share,
        };
        Comparison {
            model: t.spec.version.clone(),
            file: path.display().to_string(),
            trained_from: t.from.version.clone(),
            trained_from_file: t.from_file.clone(),
            input: t.input.display().to_string(),
            options: Options {
                legit_label: a.legit_label.clone(),
                friction: a.friction,
                block_fpr: a.block_fpr,
                holdout: a.holdout,
                l2: a.l2,
            },
            counts: t.counts.clone(),
            training: t.training.clone(),
            held_out_sign_ins: t.held_out.clone(),
            bias: ba(t.from.bias, t.spec.bias, None),
            medium: ba(
                t.from.thresholds.medium,
                t.spec.thresholds.medium,
                Some(t.reached.0),
            ),
            high: ba(
                t.from.thresholds.high,
                t.spec.thresholds.high,
                Some(t.reached.1),
            ),
            parameters: t.changes.to_vec(),
            fit: FitSummary {
                newton_steps: t.steps,
                log_likelihood,
            },
            held_out: Models {
                old: ModelFigures {
                    version: t.from.version.clone(),
                    labels: figures(old),
                },
                new: ModelFigures {
                    version: t.spec.version.clone(),
                    labels: figures(new),
                },
            },
        }
    }

    /// The parameters, then the held-out figures of both models.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let (o, n) = (&self.held_out.old.version, &self.held_out.new.version);
        let _ = writeln!(out, "parameters: {o} -> {n}");
        let num = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
        let _ = writeln!(
            out,
            "  {:<36} {:>9} {:>9}",
            "bias",
            num(Some(self.bias.before)),
            num(Some(self.bias.after))
        );
        for (name, v) in [
            ("thresholds.medium", &self.medium),
            ("thresholds.high", &self.high),
        ] {
            let _ = writeln!(
                out,
                "  {:<36} {:>9} {:>9}   {} of the training legit sign-ins reach it",
                name,
                format!("{:.4}", v.before),
                format!("{:.6}", v.after),
                percent(v.training_legit_share.unwrap_or(0.0))
            );
        }
        for c in &self.parameters {
            let _ = writeln!(
                out,
                "  {:<36} {:>9} {:>9}   {} ({} training sign-ins show it)",
                c.key,
                num(c.before),
                num(c.after),
                c.status,
                c.rows
            );
        }
        let total: u64 = self.held_out_sign_ins.values().sum();
        let _ = writeln!(
            out,
            "\nheld-out users ({:.0}%): {total} labelled sign-ins, replayed with each model",
            self.options.holdout * 100.0
        );
        let w = label_width(self.held_out.old.labels.iter().map(|f| f.label.as_str()));
        let header = format!(
            "{:<w$} {:>8} {:>9} {:>9} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9}",
            "label", "events", "flagged", "", "ROC AUC", "", "TPR@1%", "", "TPR@0.1%", ""
        );
        let _ = writeln!(out, "{}", header.trim_end());
        let short = |v: &str| v.rsplit('-').next().unwrap_or(v).to_string();
        let (so, sn) = (short(o), short(n));
        let _ = writeln!(
            out,
            "{:<w$} {:>8} {:>9} {:>9} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9}",
            "", "", so, sn, so, sn, so, sn, so, sn
        );
        for (a, b) in self
            .held_out
            .old
            .labels
            .iter()
            .zip(&self.held_out.new.labels)
        {
            let label = if a.label == LEGIT {
                "legit (friction)".to_string()
            } else {
                a.label.clone()
            };
            let _ = writeln!(
                out,
                "{:<w$} {:>8} {:>9} {:>9} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9}",
                label,
                a.events,
                percent(a.flagged_rate),
                percent(b.flagged_rate),
                opt(a.roc_auc),
                opt(b.roc_auc),
                tpr(a, 0),
                tpr(b, 0),
                tpr(a, 1),
                tpr(b, 1),
            );
        }
        let _ = writeln!(
            out,
            "\nflagged = challenged or blocked (rules included): the detection rate of an attack, the friction on legit.\n\
             TPR@x = attacks caught at the risk_score threshold that flags x of legit sign-ins."
        );
        out
    }
}

fn tpr(f: &LabelFigures, i: usize) -> String {
    f.tpr_at_fpr
        .as_ref()
        .and_then(|t| t.get(&format!("{}", FPRS[i])).copied())
        .map_or("-".to_string(), percent)
}

fn percent(v: f64) -> String {
    format!("{:.2}%", v * 100.0)
}

fn opt(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.4}"))
}
