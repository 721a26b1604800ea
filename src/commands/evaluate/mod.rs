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

mod charts;
mod figures;
mod input;
mod mapping;
mod report;

use anyhow::Context;
use clap::Args;
use figures::Scored;
use input::{Format, Rejects};
use mapping::Mapping;
use palisade::config::Config;
use palisade::engine::{Engine, EngineParts};
use palisade::event::{Action, Event, Kind, Outcome};
use std::collections::BTreeMap;
use std::io::{self, IsTerminal};
use std::path::PathBuf;

/// Bad rows described on stderr before only counting them.
const REJECTS_SHOWN: u64 = 20;

#[derive(Args)]
pub struct EvaluateArgs {
    /// Labelled history: the contract's events as JSONL (`palisade simulate`),
    /// or a CSV or Parquet table with `--mapping`.
    #[arg(long)]
    pub input: PathBuf,
    /// The input's layout [default: from the extension].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Column mapping for a foreign schema: `rba` (the das-group
    /// risk-based-authentication dataset) or a mapping TOML file [default:
    /// the contract's field names].
    #[arg(long)]
    pub mapping: Option<String>,
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
}

/// What one pass over the history gave.
pub struct Pass {
    pub rules_version: String,
    pub model_version: String,
    pub by_label: BTreeMap<String, Vec<Scored>>,
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
pub fn run(args: &EvaluateArgs, config: &Config) -> anyhow::Result<Result<(), String>> {
    let base = match EngineParts::from_config(config) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let changed = match &args.compare_rules {
        None => None,
        Some(dir) => {
            let mut c = config.clone();
            c.rules = Some(dir.clone());
            match EngineParts::from_config(&c) {
                Ok(p) => Some(p),
                Err(e) => return Ok(Err(e.to_string())),
            }
        }
    };
    eprintln!("palisade evaluate: {}", base.describe());
    let mut counts = Counts::default();
    let mut events = load(args, &mut counts)?;
    if !events.windows(2).all(|w| w[0].timestamp <= w[1].timestamp) {
        // The engine runs on event time; out-of-order input would look like
        // bursts and gaps that never happened.
        events.sort_by_key(|e| e.timestamp);
        counts.sorted = true;
        eprintln!("palisade evaluate: the input was not in time order; sorted it");
    }
    counts.events = events.len() as u64;
    for e in &events {
        match (scored(e), &e.label) {
            (false, _) => counts.not_scored += 1,
            (true, None) => counts.unlabelled += 1,
            (true, Some(_)) => counts.scored += 1,
        }
    }
    let shipped = replay(base, &events, "shipped rules");
    let changed = changed.map(|p| replay(p, &events, "changed rules"));
    let report = report::Report::new(args, counts, &shipped, changed.as_ref());
    print!("{}", report.table());
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(dir) = &args.charts {
        charts::write(dir, &shipped.by_label)?;
        eprintln!(
            "palisade evaluate: charts in {} (roc.png, scores.png)",
            dir.display()
        );
    }
    Ok(Ok(()))
}

/// Whether an event's decision counts in the figures.
fn scored(e: &Event) -> bool {
    e.kind == Kind::SignIn && e.outcome != Outcome::Attempt
}

fn load(args: &EvaluateArgs, counts: &mut Counts) -> anyhow::Result<Vec<Event>> {
    let format = match args.format {
        Some(f) => f,
        None => Format::of(&args.input)?,
    };
    let mut rejects = Rejects::new(io::stderr().lock(), REJECTS_SHOWN);
    let events = match (format, &args.mapping) {
        (Format::Jsonl, None) => input::read_contract_jsonl(&args.input, &mut rejects)?,
        (format, mapping) => {
            let mapping = match mapping {
                Some(m) => Mapping::load(m)?,
                None => Mapping::contract(),
            };
            let frame = input::read_frame(&args.input, format, &mapping)?;
            // The line a CSV row is on, after the header; JSONL rows are
            // lines; Parquet has rows, counted from 1.
            let first_line = if format == Format::Csv { 2 } else { 1 };
            input::events_from_frame(&frame, &mapping, first_line, &mut rejects)?
        }
    };
    counts.rejected = rejects.count;
    if rejects.count > 0 {
        eprintln!(
            "palisade evaluate: {} row{} could not become events (see above); the rest are evaluated",
            rejects.count,
            if rejects.count == 1 { "" } else { "s" }
        );
    }
    Ok(events)
}

/// One pass of the history through a fresh engine.
fn replay(parts: EngineParts, events: &[Event], what: &str) -> Pass {
    let mut engine = Engine::new(parts);
    let bar = io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(events.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(&format!(
                "{what}: {{bar:40}} {{human_pos}}/{{human_len}} events {{per_sec}} eta {{eta}}"
            ))
            .expect("a valid template"),
        );
        bar
    });
    let mut by_label: BTreeMap<String, Vec<Scored>> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        let d = engine.evaluate(e);
        if let (true, Some(label)) = (scored(e), &e.label) {
            let action = d.audit_action.unwrap_or(d.action);
            let s = Scored {
                score: d.risk_score,
                flagged: action != Action::Allow,
            };
            match by_label.get_mut(label) {
                Some(v) => v.push(s),
                None => {
                    by_label.insert(label.clone(), vec![s]);
                }
            }
        }
        if i % 4096 == 0 {
            if let Some(b) = &bar {
                b.set_position(i as u64);
            }
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Pass {
        rules_version: engine.rules_version().to_string(),
        model_version: engine.model_version().to_string(),
        by_label,
    }
}
