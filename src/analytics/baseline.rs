//! `palisade baseline`: user profiles and global frequencies learned from
//! sign-in history, written as a checkpoint the engine starts from, so a new
//! deployment does not treat every user as new on its first day.
//!
//! Every `sign_in` success teaches, in time order, through the engine's own
//! learning step ([`Engine::learn_history`]): the same habit slots, ageing and
//! frequency caps as in production, so a profile from a baseline is the
//! profile the engine would have built had it seen those sign-ins allowed. No
//! rule runs and nothing is scored. Failures and attempts are read and
//! counted but teach nothing, as in the engine. Labelled history can leave
//! out its attacks' successes with `--skip-label`.
//!
//! The checkpoint is at log position 0: `palisade serve` on the same data
//! folder (and hash key) loads it, then replays its whole journal on top.

use super::history::{Flow, HistoryArgs};
use crate::config::Config;
use crate::engine::{Engine, EngineParts};
use crate::event::{Event, Kind, Outcome};
use crate::node::checkpoint::NodeCheckpoints;
use crate::state::checkpoint::Checkpoints;
use crate::state::history::History;
use crate::state::recent_ids::RecentIds;
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
pub struct BaselineArgs {
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Leave out successes with this label (repeat for more): a labelled
    /// history's attacks, which must not become anyone's habits.
    #[arg(long = "skip-label", value_name = "LABEL")]
    pub skip_labels: Vec<String>,
    /// Write the checkpoint into this folder [default: the data folder's
    /// `checkpoints`, where `palisade serve` looks].
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Write even if the folder already holds checkpoints (the engine starts
    /// from the newest, so a baseline beside later checkpoints is ignored).
    #[arg(long)]
    pub force: bool,
}

/// What a baseline learned.
#[derive(Debug, Default)]
struct Learned {
    successes: u64,
    skipped: u64,
    other: u64,
}

impl Learned {
    /// Whether the event teaches; counts it either way.
    fn wanted(&mut self, e: &Event, skip: &[String]) -> bool {
        if e.kind != Kind::SignIn || e.outcome != Outcome::Success {
            self.other += 1;
            false
        } else if e.label.as_ref().is_some_and(|l| skip.contains(l)) {
            self.skipped += 1;
            false
        } else {
            self.successes += 1;
            true
        }
    }
}

/// Runs the command; an `Err` from the engine's configuration is the
/// caller's to turn into exit code 64.
pub fn run(args: &BaselineArgs, config: &Config) -> Result<(), crate::failure::Failure> {
    let parts = match EngineParts::from_config(config) {
        Ok(p) => p,
        Err(e) => return Err(crate::failure::Failure::refused([e])),
    };
    let dir = match &args.output {
        Some(d) => d.clone(),
        None => config.data_dir().join("checkpoints"),
    };
    let checkpoints = Checkpoints::new(dir.clone(), usize::MAX);
    let existing = checkpoints.list().unwrap_or_default();
    if !existing.is_empty() && !args.force {
        return Err(anyhow::anyhow!(
            "{} already holds {} checkpoint{} (the newest {}): the engine starts from the newest, so a baseline there would be ignored; move them away, write elsewhere with --output, or give --force",
            dir.display(),
            existing.len(),
            if existing.len() == 1 { "" } else { "s" },
            existing.last().map(|(_, p)| p.display().to_string()).unwrap_or_default()
        ).into());
    }
    eprintln!("palisade baseline: {}", parts.describe());
    let started = Instant::now();
    let mut engine = Engine::new(parts);
    let mut learned = Learned::default();
    let mut last = None;
    let read = args.history.stream("learning", &mut |e| {
        if e.timestamp < last {
            return Flow::Stop;
        }
        last = e.timestamp;
        if learned.wanted(&e, &args.skip_labels) {
            engine.learn_history(&e);
        }
        Flow::Go
    })?;
    let read = if read.stopped {
        eprintln!(
            "palisade baseline: the input is not in time order; reading its successes whole to sort them"
        );
        engine = Engine::new(EngineParts::from_config(config).map_err(|e| anyhow::anyhow!("{e}"))?);
        learned = Learned::default();
        let mut successes = Vec::new();
        let read = args.history.stream("reading", &mut |e| {
            if learned.wanted(&e, &args.skip_labels) {
                successes.push(e);
            }
            Flow::Go
        })?;
        successes.sort_by_key(|e| e.timestamp);
        for e in &successes {
            engine.learn_history(e);
        }
        read
    } else {
        read
    };
    super::history::report_rejected("baseline", &read);
    let seconds = started.elapsed().as_secs_f64();
    let stats = engine.state_stats();
    let (path, bytes) = checkpoints
        .write(&engine, &History::new(0, 0), &RecentIds::new(0), 0)
        .with_context(|| format!("cannot write the baseline into {}", dir.display()))?;
    let frequencies = engine
        .frequency_sizes()
        .iter()
        .map(|(feature, n)| format!("{n} {feature}"))
        .collect::<Vec<_>>()
        .join(", ");
    super::print_report(&format!(
        "{} events read in {seconds:.1} s ({:.0} a second); {} rejected\n\
         {} successful sign-ins learned, {} skipped by label, {} other events (failures, attempts, other kinds) teach nothing\n\
         {} user profiles; global frequencies: {frequencies}\n\
         checkpoint {} ({}): `palisade serve` with this data folder and hash key starts from it\n",
        read.events,
        read.events as f64 / seconds.max(1e-9),
        read.rejected,
        learned.successes,
        learned.skipped,
        learned.other,
        stats.profiles,
        path.display(),
        bytesize::ByteSize::b(bytes)
    ))?;
    Ok(())
}
