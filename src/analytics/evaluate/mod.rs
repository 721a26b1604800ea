//! `palisade evaluate`: replays labelled sign-in history through the engine
//! and reports, per label, what the rules caught and what legitimate users
//! paid for it; with `--compare-rules`, what a rule change would have done
//! (a backtest on the same history).
//!
//! Every event goes through the engine, in time order, so state builds as in
//! production. Only `sign_in` outcomes (success or failure) are scored: a
//! simulated sign-in is an attempt followed by its outcome, and scoring both
//! would count one sign-in twice; the outcome's decision is the one that has
//! seen the password's verdict, and datasets such as RBA hold outcomes only.
//! In audit mode the action that would have been taken is the one counted.
//!
//! Beside the per-label figures, the shipped rules' pass also tallies each
//! attacking source ([`sources`]), each legitimate user ([`users`]) and each
//! UTC day ([`days`]); each module says what its memory grows with. The
//! per-label figures keep every scored sign-in's score (16 bytes each) for the
//! ROC curves; the rest grows with sources, users and addresses, not sign-ins.

pub(crate) mod charts;
mod days;
pub(crate) mod figures;
mod report;
mod sources;
mod users;

use super::history::{self, HistoryArgs};
use crate::config::Config;
use crate::engine::{Engine, EngineParts};
use crate::event::{Action, Event, Kind, Outcome};
use anyhow::Context;
use clap::Args;
use figures::Scored;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Args)]
pub struct EvaluateArgs {
    /// Labelled history (the label column, or `--mapping` flags, name each
    /// event's label).
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write roc.png and scores.png into this folder.
    #[arg(long)]
    pub charts: Option<PathBuf>,
    /// Evaluate again with the rules in this folder and show the difference
    /// per label (a backtest of a rule change).
    #[arg(long)]
    pub compare_rules: Option<PathBuf>,
    /// Write one CSV row per attack label and source address: attempts,
    /// failures, let through, first stopped and first blocked attempt.
    #[arg(long, value_name = "FILE.csv")]
    pub sources: Option<PathBuf>,
    /// Also print the figures per UTC day (always in `--json`).
    #[arg(long)]
    pub per_day: bool,
}

/// What one pass over the history gave.
pub struct Pass {
    pub rules_version: String,
    pub model_version: String,
    pub by_label: BTreeMap<String, Vec<Scored>>,
    /// Per source, legitimate user and day: the shipped rules' pass only.
    pub detail: Option<Detail>,
}

/// What the shipped rules' decisions did per attacking source, legitimate
/// user and UTC day.
#[derive(Default)]
pub struct Detail {
    pub sources: sources::Sources,
    pub users: users::LegitUsers,
    pub days: days::Days,
}

impl Detail {
    /// Counts one scored sign-in of `label` and the action it met.
    fn add(&mut self, e: &Event, label: &str, action: Action) {
        let legit = label == figures::LEGIT;
        self.days.add(e.timestamp, legit, action);
        if legit {
            self.users.add(e.tenant.as_deref(), &e.user, e.ip, action);
        } else {
            let time = e.timestamp.map_or(0, |t| t.millis());
            let failed = e.outcome == Outcome::Failure;
            self.sources.add(label, e.ip, time, failed, action);
        }
    }
}

/// Counts of what was read and what was scored.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Counts {
    /// Rows or lines that could not become events.
    pub rejected: u64,
    pub events: u64,
    /// Sign-in outcomes with a label: the ones the figures are about.
    pub scored: u64,
    /// Attempts and other kinds: through the engine, not scored.
    pub not_scored: u64,
    /// Sign-in outcomes with no label: through the engine, not scored.
    pub unlabelled: u64,
    /// Whether the input had to be sorted by time first.
    pub sorted: bool,
}

/// Runs the command; an `Err` from the engine's configuration is the
/// caller's to turn into exit code 64.
pub fn run(args: &EvaluateArgs, config: &Config) -> Result<(), crate::failure::Failure> {
    let build = || -> Result<Parts, String> {
        let base = EngineParts::from_config(config).map_err(|e| e.to_string())?;
        let changed = match &args.compare_rules {
            None => None,
            Some(dir) => {
                let mut c = config.clone();
                c.rules = Some(dir.clone());
                Some(EngineParts::from_config(&c).map_err(|e| e.to_string())?)
            }
        };
        Ok((base, changed))
    };
    let parts = match build() {
        Ok(p) => p,
        Err(e) => return Err(crate::failure::Failure::refused([e])),
    };
    eprintln!("palisade evaluate: {}", parts.0.describe());
    let recent_ids = config.limits.recent_event_ids;
    let (counts, shipped, changed) = evaluate(&args.history, parts, recent_ids, &|| {
        build().map_err(|e| anyhow::anyhow!(e))
    })?;
    let report = report::Report::new(args, counts, &shipped, changed.as_ref());
    super::print_report(&report.table())?;
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.sources {
        let detail = shipped
            .detail
            .as_ref()
            .expect("the shipped pass has its detail");
        let mut file = std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        );
        detail
            .sources
            .write_csv(&mut file)
            .and_then(|()| std::io::Write::flush(&mut file))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(dir) = &args.charts {
        charts::write(dir, &shipped.by_label)?;
        eprintln!(
            "palisade evaluate: charts in {} (roc.png, scores.png)",
            dir.display()
        );
    }
    Ok(())
}

/// Whether an event's decision counts in the figures.
pub fn scored(e: &Event) -> bool {
    e.kind == Kind::SignIn && e.outcome != Outcome::Attempt
}

/// Replays the history through one engine per rule set, side by side, so
/// the history is read once, in time order ([`history::in_time_order`]:
/// `again` builds the engines afresh if the input has to be sorted first).
pub fn evaluate(
    input: &HistoryArgs,
    parts: Parts,
    recent_ids: usize,
    again: &dyn Fn() -> anyhow::Result<Parts>,
) -> anyhow::Result<(Counts, Pass, Option<Pass>)> {
    let mut first = Some(parts);
    let ordered = history::in_time_order(
        input,
        "evaluate",
        "evaluating",
        recent_ids,
        &mut || {
            let (base, changed) = match first.take() {
                Some(p) => p,
                None => again()?,
            };
            Ok(Passes::new(base, changed))
        },
        &mut |passes, e| passes.take(e),
    )?;
    let (passes, read, sorted) = (ordered.state, ordered.read, ordered.sorted);
    history::report_rejected("evaluate", &read);
    let mut counts = passes.counts;
    counts.rejected = read.rejected;
    counts.events = read.events;
    counts.sorted = sorted;
    let [shipped, changed] = passes.engines.map(|p| {
        p.map(|(engine, tally)| Pass {
            rules_version: engine.rules_version().to_string(),
            model_version: engine.model_version().to_string(),
            by_label: tally.by_label,
            detail: tally.detail,
        })
    });
    Ok((counts, shipped.expect("the shipped rules' pass"), changed))
}

/// The shipped rules' engine, and the changed rules' one for a backtest.
pub type Parts = (EngineParts, Option<EngineParts>);

/// What one engine scored, per label, and for the shipped rules the detail.
struct Tally {
    by_label: BTreeMap<String, Vec<Scored>>,
    detail: Option<Detail>,
}

/// The engines of one evaluation and what each scored.
struct Passes {
    engines: [Option<(Engine, Tally)>; 2],
    counts: Counts,
}

impl Passes {
    fn new(base: EngineParts, changed: Option<EngineParts>) -> Passes {
        let tally = |detail: bool| Tally {
            by_label: BTreeMap::new(),
            detail: detail.then(Detail::default),
        };
        Passes {
            engines: [
                Some((Engine::new(base), tally(true))),
                changed.map(|p| (Engine::new(p), tally(false))),
            ],
            counts: Counts::default(),
        }
    }

    fn take(&mut self, e: &Event) {
        let label = match (scored(e), &e.label) {
            (false, _) => {
                self.counts.not_scored += 1;
                None
            }
            (true, None) => {
                self.counts.unlabelled += 1;
                None
            }
            (true, Some(l)) => {
                self.counts.scored += 1;
                Some(l)
            }
        };
        for (engine, tally) in self.engines.iter_mut().flatten() {
            let d = engine.evaluate(e);
            if let Some(label) = label {
                let action = d.audit_action.unwrap_or(d.action);
                let s = Scored {
                    score: d.risk_score,
                    flagged: action != Action::Allow,
                };
                match tally.by_label.get_mut(label) {
                    Some(v) => v.push(s),
                    None => {
                        tally.by_label.insert(label.clone(), vec![s]);
                    }
                }
                if let Some(detail) = &mut tally.detail {
                    detail.add(e, label, action);
                }
            }
        }
    }
}
