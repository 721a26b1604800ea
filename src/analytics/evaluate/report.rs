//! The evaluation's report: tables for people (per label, per attacking
//! source, legitimate users, and with `--per-day` per day), the same figures
//! as JSON for machines, and with a second rule set, both rule sets' per-label
//! figures side by side with the difference.

use super::days::{self, DayFigures, WorstDays};
use super::figures::{figures, label_width, LabelFigures, FPRS, LEGIT};
use super::sources::{SourceFigures, BLOCKED_BY, QUALIFY_FAILURES, STOPPED_BY};
use super::users::{LegitFigures, SHARED_USERS};
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
    /// Per attack label, over its sources (an event's `ip`).
    pub sources: Vec<SourceFigures>,
    pub legit_users: LegitFigures,
    /// Per UTC day, in order.
    pub per_day: Vec<DayFigures>,
    /// The days legitimate users met the most challenges and blocks, the
    /// most blocks; absent without legitimate sign-ins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worst_day: Option<WorstDays>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compare: Option<Compare>,
    /// Whether the text shows the per-day table (`--per-day`).
    #[serde(skip)]
    show_days: bool,
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
        let detail = shipped
            .detail
            .as_ref()
            .expect("the shipped pass has its detail");
        let per_day = detail.days.figures();
        Report {
            input: args.history.input.display().to_string(),
            counts,
            rules_version: shipped.rules_version.clone(),
            model_version: shipped.model_version.clone(),
            labels,
            sources: detail.sources.figures(),
            legit_users: detail.users.figures(),
            worst_day: days::worst(&per_day),
            per_day,
            compare,
            show_days: args.per_day,
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
        let w = self.label_width();
        let _ = writeln!(
            out,
            "{:<w$} {:>9} {:>10} {:>8} {:>9} {:>10} {:>8} {:>8}",
            "label", "events", "flagged", "ROC AUC", "TPR@1%", "TPR@0.1%", "median", "RSR"
        );
        for f in &self.labels {
            let _ = writeln!(out, "{}", row(f, w));
        }
        let _ = writeln!(
            out,
            "\nflagged = challenged or blocked: the detection rate of an attack, the friction on legit.\n\
             TPR@x = attacks caught at the risk_score threshold that flags x of legit sign-ins.\n\
             RSR = median risk score of the label / of legit (Wiefling et al.)."
        );
        self.sources_table(&mut out);
        self.legit_lines(&mut out);
        if self.show_days {
            self.days_table(&mut out);
        }
        if let Some(cmp) = &self.compare {
            let _ = writeln!(
                out,
                "\nbacktest: shipped rules {} against {} ({})",
                self.rules_version, cmp.rules, cmp.rules_version
            );
            let _ = writeln!(
                out,
                "{:<w$} {:>9} {:>9} {:>9}   {:>8} {:>8} {:>8}",
                "label", "flagged", "changed", "diff", "AUC", "changed", "diff"
            );
            for ((a, b), d) in self.labels.iter().zip(&cmp.labels).zip(&cmp.difference) {
                let _ = writeln!(
                    out,
                    "{:<w$} {:>9} {:>9} {:>+8.2}pp   {:>8} {:>8} {:>8}",
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

impl Report {
    /// The label column's width: 22, or the longest label's.
    fn label_width(&self) -> usize {
        label_width(self.labels.iter().map(|f| f.label.as_str()))
    }

    /// Per attack label, how early its sources were stopped.
    fn sources_table(&self, out: &mut String) {
        if self.sources.is_empty() {
            return;
        }
        let w = self.label_width();
        let _ = writeln!(
            out,
            "\nper source (an event's ip), per attack label; qualifying: {QUALIFY_FAILURES} failures within 10 minutes"
        );
        let _ = writeln!(
            out,
            "{:<w$} {:>8} {:>8} {:>8} {:>9} {:>9} {:>10} {:>11} {:>12} {:>12}",
            "label",
            "sources",
            "qualify",
            format!("stop@{STOPPED_BY}"),
            format!("block@{BLOCKED_BY}"),
            "1st stop",
            "1st block",
            "never stop",
            "never block",
            "let through"
        );
        for f in &self.sources {
            let median = |m: Option<f64>| match m {
                _ if f.qualifying == 0 => "-".to_string(),
                None => "never".to_string(),
                Some(m) => format!("{m}"),
            };
            let _ = writeln!(
                out,
                "{:<w$} {:>8} {:>8} {:>8} {:>9} {:>9} {:>10} {:>11} {:>12} {:>12}",
                f.label,
                f.sources,
                f.qualifying,
                f.stopped_by_6th_rate.map_or("-".into(), percent),
                f.blocked_by_10th_rate.map_or("-".into(), percent),
                median(f.median_first_stopped),
                median(f.median_first_blocked),
                f.never_stopped,
                f.never_blocked,
                percent(f.let_through_rate),
            );
        }
        let _ = writeln!(
            out,
            "\nstop@{STOPPED_BY} / block@{BLOCKED_BY} = qualifying sources challenged or blocked by their {STOPPED_BY}th sign-in / blocked by their {BLOCKED_BY}th.\n\
             1st stop / 1st block = median sign-in of a qualifying source first challenged or blocked / first blocked;\n\
             never stop / never block = qualifying sources never stopped / blocked, counted as later than any (\"never\": half or more).\n\
             let through = the label's sign-ins allowed, from all its sources."
        );
    }

    /// Legitimate users counted as people, and the worst days.
    fn legit_lines(&self, out: &mut String) {
        let u = &self.legit_users;
        if u.users == 0 {
            return;
        }
        let share = |n: u64| percent(n as f64 / u.users as f64);
        let _ = writeln!(
            out,
            "\nlegit users: {} with a scored sign-in; {} ({}) blocked at least once, {} ({}) challenged or blocked at least once",
            u.users,
            u.blocked,
            share(u.blocked),
            u.flagged,
            share(u.flagged)
        );
        let _ = writeln!(
            out,
            "shared addresses (legit sign-ins of {SHARED_USERS}+ distinct users): {}; {} legit users signed in from one, {} of them blocked on one",
            u.shared_addresses, u.users_on_shared, u.blocked_on_shared
        );
        if let Some(w) = &self.worst_day {
            let _ = writeln!(
                out,
                "worst day for legit users: {} {} flagged (of {} sign-ins); {} {} blocked (of {})",
                w.flagged.day,
                percent(w.flagged.flagged_rate),
                w.flagged.legit,
                w.blocked.day,
                percent(w.blocked.blocked_rate),
                w.blocked.legit
            );
        }
    }

    /// `--per-day`: one row per UTC day.
    fn days_table(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "\n{:<12} {:>9} {:>11} {:>9} {:>9} {:>9} {:>9}",
            "day (UTC)", "legit", "challenged", "blocked", "flagged", "attacks", "flagged"
        );
        for d in &self.per_day {
            let _ = writeln!(
                out,
                "{:<12} {:>9} {:>11} {:>9} {:>9} {:>9} {:>9}",
                d.day,
                d.legit,
                percent(d.challenged_rate),
                percent(d.blocked_rate),
                percent(d.flagged_rate),
                d.attacks,
                d.attacks_flagged_rate.map_or("-".into(), percent),
            );
        }
    }
}

fn row(f: &LabelFigures, w: usize) -> String {
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
        "{:<w$} {:>9} {:>10} {:>8} {:>9} {:>10} {:>8.4} {:>8}",
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
