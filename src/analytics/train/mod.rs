//! `palisade train`: fits the risk model's parameters (feature weights,
//! signal scores, bias, thresholds) to labelled sign-in history and writes
//! them as a new model version, with the held-out figures of the old and the
//! new model side by side.
//!
//! 1. The history is replayed through the engine with the running model, in
//!    time order, as `palisade evaluate` does. Each labelled sign-in outcome
//!    (evaluate's [`scored`] rule) gives a row: per trainable parameter what
//!    its reasons show ([`parameters::row`]: a feature's clipped
//!    log-likelihood ratio, a signal's count), the rules' scores as a fixed
//!    offset (they add to the same log-odds but are the rules' parameters,
//!    and act mostly through their own actions), attack or not.
//! 2. Users are split by a hash of their id, `--holdout` of them held out,
//!    so no user's habits are on both sides.
//! 3. A logistic regression on the training rows ([`fit`]) gives the bias,
//!    weights and scores; `medium` and `high` are the risk scores at which
//!    `--friction` and `--block-fpr` of the training legit sign-ins reach them.
//! 4. The file is written, loaded by the engine's own loader with every other
//!    file of its folder (what `palisade check` and `serve` do; a file it
//!    refuses is removed and the command fails), and the history replayed
//!    again with it. The held-out users' figures are printed and written
//!    beside the model as `VERSION.evaluation.json`.
//!
//! The rows come from the running model's decisions, and what the engine
//! learns depends on them (only a sign-in it lets through teaches a habit):
//! under the new model profiles grow a little differently. The second replay
//! measures the new model as it would run, rules and actions included, not on
//! the old model's rows.

mod report;
mod write;

use super::evaluate::figures::{Scored, LEGIT};
use super::evaluate::{scored, Counts};
use super::history::{self, HistoryArgs};
use crate::config::Config;
use crate::engine::{Engine, EngineParts};
use crate::event::{Action, Event};
use crate::model::fit::{self, Design, FitOptions};
use crate::model::parameters::{self, PARAMETERS};
use crate::model::{load_model, ModelSpec};
use anyhow::{bail, Context};
use clap::Args;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Training rows each class needs: below this a fit of ~15 parameters says
/// more about the sample than about the attacks.
pub const MIN_CLASS_ROWS: usize = 100;
/// Allowed range of `--holdout`: some users must be held out to measure the
/// model, and most must train it.
pub const HOLDOUT_RANGE: (f64, f64) = (0.05, 0.5);
/// Largest `--friction`: a threshold that challenges more legitimate sign-ins
/// than this is a misconfiguration, not a risk model.
pub const MAX_FRICTION: f64 = 0.2;

#[derive(Args)]
pub struct TrainArgs {
    /// Labelled history (the label column, or `--mapping` flags, name each
    /// event's label).
    #[command(flatten)]
    pub history: HistoryArgs,
    /// The label of legitimate sign-ins; every other label is an attack.
    #[arg(long, default_value = LEGIT)]
    pub legit_label: String,
    /// The model file to write; its name is the version [default: the next
    /// free `NAMEvN.toml` beside the running model, e.g. risk-v2.toml].
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Share of the training legit sign-ins at or above `medium` (challenged).
    #[arg(long, default_value_t = 0.01)]
    pub friction: f64,
    /// Share of the training legit sign-ins at or above `high` (blocked).
    #[arg(long, default_value_t = 0.001)]
    pub block_fpr: f64,
    /// Share of users held out of the fit to measure both models on.
    #[arg(long, default_value_t = 0.2)]
    pub holdout: f64,
    /// L2 penalty pulling each weight and score towards the running model's
    /// value, weighing like this many sign-ins; 0 for none.
    #[arg(long, default_value_t = 1.0)]
    pub l2: f64,
}

/// One labelled sign-in, as the running model saw it.
struct Row {
    x: [f32; PARAMETERS.len()],
    offset: f32,
    label: u16,
    held_out: bool,
    old: Scored,
}

/// The first replay: the engine with the running model, and its rows.
struct Collect {
    engine: Engine,
    spec: ModelSpec,
    rows: Vec<Row>,
    labels: Labels,
    counts: Counts,
}

/// Labels interned, in order of first sight.
#[derive(Default)]
struct Labels {
    names: Vec<String>,
    index: HashMap<String, u16>,
}

impl Labels {
    fn id(&mut self, label: &str) -> u16 {
        if let Some(&i) = self.index.get(label) {
            return i;
        }
        let i = u16::try_from(self.names.len()).expect("fewer than 65536 labels");
        self.names.push(label.to_string());
        self.index.insert(label.to_string(), i);
        i
    }
}

/// Whether a user is held out: a hash of the id (FNV-1a, then a 64-bit
/// finaliser so close ids spread), stable across runs and machines.
pub fn held_out(user: &str, share: f64) -> bool {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in user.as_bytes() {
        h = (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    ((h >> 11) as f64 / (1u64 << 53) as f64) < share
}

fn flagged(d: &crate::event::Decision) -> bool {
    d.audit_action.unwrap_or(d.action) != Action::Allow
}

/// What a fit did to one parameter.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Change {
    pub key: String,
    pub before: Option<f64>,
    pub after: Option<f64>,
    /// Training rows where it showed (non-zero).
    pub rows: u64,
    /// `fitted`, `clamped` (its fit went below 0: held at 0), or `kept` (no
    /// evidence: left out of the model, weighted 0, or never shown).
    pub status: &'static str,
}

/// Runs the command; an `Err` from the engine's configuration is the
/// caller's to turn into exit code 64.
pub fn run(args: &TrainArgs, config: &Config) -> Result<(), crate::failure::Failure> {
    check_options(args)?;
    let parts = match EngineParts::from_config(config) {
        Ok(p) => p,
        Err(e) => return Err(crate::failure::Failure::refused([e])),
    };
    let old_spec = parts.model.spec.clone();
    let (path, version) = write::output(args.output.as_deref(), &parts.model)?;
    let (from_file, source_text) = write::source(&parts.model)?;
    eprintln!("palisade train: {}", parts.describe());

    // 1. The rows, under the running model.
    let first = RefCell::new(Some(parts));
    let start = || -> anyhow::Result<Collect> {
        let parts = match first.borrow_mut().take() {
            Some(p) => p,
            None => EngineParts::from_config(config).map_err(|e| anyhow::anyhow!("{e}"))?,
        };
        Ok(Collect {
            spec: parts.model.spec.clone(),
            engine: Engine::new(parts),
            rows: Vec::new(),
            labels: Labels::default(),
            counts: Counts::default(),
        })
    };
    let ordered = history::in_time_order(
        &args.history,
        "train",
        "replaying",
        config.limits.recent_event_ids,
        &mut || start(),
        &mut |c, e| take(c, e, args.holdout),
    )?;
    let (collected, read, sorted) = (ordered.state, ordered.read, ordered.sorted);
    history::report_rejected("train", &read);
    let Collect {
        rows,
        labels,
        mut counts,
        ..
    } = collected;
    counts.rejected = read.rejected;
    counts.events = read.events;
    counts.sorted = sorted;
    let legit = labels.index.get(&args.legit_label).copied();
    let attack = |r: &Row| Some(r.label) != legit;
    let tally = |held: bool| -> BTreeMap<String, u64> {
        let mut t = BTreeMap::new();
        for r in rows.iter().filter(|r| r.held_out == held) {
            *t.entry(labels.names[r.label as usize].clone()).or_default() += 1;
        }
        t
    };
    let (training, held) = (tally(false), tally(true));
    check_rows(args, &rows, &attack, &training, &held)?;

    // 2. The fit.
    let learnable: Vec<usize> = (0..PARAMETERS.len())
        .filter(|&j| PARAMETERS[j].learnable(&old_spec))
        .collect();
    let shows = |j: usize| rows.iter().filter(|r| !r.held_out && r.x[j] != 0.0).count() as u64;
    let shown: Vec<u64> = (0..PARAMETERS.len()).map(shows).collect();
    let active: Vec<usize> = learnable.into_iter().filter(|&j| shown[j] > 0).collect();
    let mut design = Design::new(active.len());
    let mut x = vec![0.0; active.len()];
    for r in rows.iter().filter(|r| !r.held_out) {
        for (a, &j) in active.iter().enumerate() {
            x[a] = r.x[j] as f64;
        }
        design.push(&x, r.offset as f64, attack(r));
    }
    let options = FitOptions {
        intercept: old_spec.bias,
        prior: active
            .iter()
            .map(|&j| PARAMETERS[j].value(&old_spec).unwrap_or(0.0))
            .collect(),
        nonnegative: vec![true; active.len()],
        l2: args.l2,
    };
    eprintln!(
        "palisade train: fitting {} parameters and the bias on {} sign-ins",
        active.len(),
        design.rows()
    );
    let fitted = fit::fit(&design, &options).context("cannot fit the model")?;
    drop(design);

    // 3. The new parameters, rounded as written, and the thresholds they give.
    let mut spec = old_spec.clone();
    spec.version = version.clone();
    spec.bias = round4(fitted.intercept);
    for (a, &j) in active.iter().enumerate() {
        PARAMETERS[j].set(&mut spec, round4(fitted.coefficients[a]));
    }
    write::round_clips(&mut spec);
    let value: Vec<f64> = PARAMETERS
        .iter()
        .map(|p| p.value(&spec).unwrap_or(0.0))
        .collect();
    let legit_scores: Vec<f64> = rows
        .iter()
        .filter(|r| !r.held_out && !attack(r))
        .map(|r| {
            let z = spec.bias
                + r.offset as f64
                + r.x
                    .iter()
                    .zip(&value)
                    .map(|(x, v)| *x as f64 * v)
                    .sum::<f64>();
            1.0 / (1.0 + (-z).exp())
        })
        .collect();
    spec.thresholds.medium = fit::threshold_for_rate(&legit_scores, args.friction);
    spec.thresholds.high = fit::threshold_for_rate(&legit_scores, args.block_fpr);
    if spec.thresholds.high <= spec.thresholds.medium {
        return Err(anyhow::anyhow!(
            "the training legit sign-ins' scores are tied around the thresholds (medium {}, high {}): no high threshold blocks fewer than --friction; lower --block-fpr or use more history",
            spec.thresholds.medium,
            spec.thresholds.high
        ).into());
    }
    let share = |t: f64| {
        legit_scores.iter().filter(|&&s| s >= t).count() as f64 / legit_scores.len() as f64
    };
    let reached = (share(spec.thresholds.medium), share(spec.thresholds.high));
    let changes: Vec<Change> = PARAMETERS
        .iter()
        .enumerate()
        .map(|(j, p)| {
            let a = active.iter().position(|&k| k == j);
            Change {
                key: p.key(),
                before: p.value(&old_spec),
                after: p.value(&spec),
                rows: shown[j],
                status: match a {
                    None => "kept",
                    Some(a) if fitted.clamped.contains(&a) => "clamped",
                    Some(_) => "fitted",
                },
            }
        })
        .collect();

    // 4. Written, checked by the engine's loader, and replayed.
    let trained = write::Trained {
        from: &old_spec,
        from_file,
        source_text,
        spec: &spec,
        input: &args.history.input,
        counts: &counts,
        training: &training,
        held_out: &held,
        args,
        changes: &changes,
        steps: fitted.steps,
        reached,
    };
    write::model_file(&path, &trained)?;
    let mut with_new = config.clone();
    with_new.models = Some(folder_of(&path));
    with_new.model = Some(version.clone());
    let new_parts = match EngineParts::from_config(&with_new) {
        Ok(p) => p,
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            return Err(anyhow::anyhow!(
                "the engine refuses the trained model, so {} was removed:\n{e}",
                path.display()
            )
            .into());
        }
    };
    let legit_name = args.legit_label.clone();
    let key = |label: &str| {
        if label == legit_name {
            LEGIT.to_string()
        } else {
            label.to_string()
        }
    };
    let mut old_by: BTreeMap<String, Vec<Scored>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.held_out) {
        old_by
            .entry(key(&labels.names[r.label as usize]))
            .or_default()
            .push(r.old);
    }
    drop(rows);
    let first = RefCell::new(Some(new_parts));
    let start = || -> anyhow::Result<(Engine, BTreeMap<String, Vec<Scored>>)> {
        let parts = match first.borrow_mut().take() {
            Some(p) => p,
            None => EngineParts::from_config(&with_new).map_err(|e| anyhow::anyhow!("{e}"))?,
        };
        Ok((Engine::new(parts), BTreeMap::new()))
    };
    let (_, new_by) = history::in_time_order(
        &args.history,
        "train",
        "measuring",
        config.limits.recent_event_ids,
        &mut || start(),
        &mut |(engine, by), e| {
            let d = engine.evaluate(e);
            if let (true, Some(l)) = (scored(e), &e.label) {
                if held_out(&e.user, args.holdout) {
                    by.entry(key(l)).or_default().push(Scored {
                        score: d.risk_score,
                        flagged: flagged(&d),
                    });
                }
            }
        },
    )?
    .state;
    let comparison =
        report::Comparison::new(&trained, &path, &old_by, &new_by, fitted.log_likelihood);
    super::print_report(&comparison.table())?;
    let json_path = write::evaluation_path(&path);
    let text = serde_json::to_string_pretty(&comparison)?;
    std::fs::write(&json_path, text + "\n")
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    super::print_report(&format!(
        "\nwrote {} and {}\n{}\n",
        path.display(),
        json_path.display(),
        runs_now(&path, config)
    ))?;
    Ok(())
}

/// One event of the first replay.
fn take(c: &mut Collect, e: &Event, holdout: f64) {
    let d = c.engine.evaluate(e);
    let label = match (scored(e), &e.label) {
        (false, _) => {
            c.counts.not_scored += 1;
            return;
        }
        (true, None) => {
            c.counts.unlabelled += 1;
            return;
        }
        (true, Some(l)) => l,
    };
    c.counts.scored += 1;
    let (x, offset) = parameters::row(&c.spec, &d.reasons);
    c.rows.push(Row {
        x: x.map(|v| v as f32),
        offset: offset as f32,
        label: c.labels.id(label),
        held_out: held_out(&e.user, holdout),
        old: Scored {
            score: d.risk_score,
            flagged: flagged(&d),
        },
    });
}

fn check_options(a: &TrainArgs) -> anyhow::Result<()> {
    let (lo, hi) = HOLDOUT_RANGE;
    if !(lo..=hi).contains(&a.holdout) {
        bail!("--holdout must be within [{lo}, {hi}], got {}", a.holdout);
    }
    if !(a.friction > 0.0 && a.friction <= MAX_FRICTION) {
        bail!(
            "--friction must be within (0, {MAX_FRICTION}], got {}",
            a.friction
        );
    }
    if !(a.block_fpr > 0.0 && a.block_fpr < a.friction) {
        bail!(
            "--block-fpr must be above 0 and below --friction ({}), got {}",
            a.friction,
            a.block_fpr
        );
    }
    if !(a.l2.is_finite() && a.l2 >= 0.0) {
        bail!("--l2 must be >= 0, got {}", a.l2);
    }
    Ok(())
}

/// Enough of each class on each side of the split.
fn check_rows(
    args: &TrainArgs,
    rows: &[Row],
    attack: &dyn Fn(&Row) -> bool,
    training: &BTreeMap<String, u64>,
    held: &BTreeMap<String, u64>,
) -> anyhow::Result<()> {
    let input = args.history.input.display();
    if rows.is_empty() {
        bail!("{input}: no labelled sign-in outcomes (sign_in successes or failures with a label) to train on");
    }
    let count = |held_out: bool, is_attack: bool| {
        rows.iter()
            .filter(|r| r.held_out == held_out && attack(r) == is_attack)
            .count()
    };
    let labels = |t: &BTreeMap<String, u64>| {
        t.iter()
            .map(|(l, n)| format!("{l} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (legit, attacks) = (count(false, false), count(false, true));
    if legit == 0 {
        bail!(
            "{input}: no sign-in labelled {:?} (--legit-label) among the training users (labels: {}); every label but it is an attack",
            args.legit_label,
            labels(training)
        );
    }
    if attacks == 0 {
        bail!(
            "{input}: every training sign-in is labelled {:?}: nothing to tell attacks by",
            args.legit_label
        );
    }
    if legit < MIN_CLASS_ROWS || attacks < MIN_CLASS_ROWS {
        bail!(
            "{input}: too few sign-ins to train on: {legit} legit and {attacks} attacks among the training users, at least {MIN_CLASS_ROWS} of each needed"
        );
    }
    if count(true, false) == 0 || count(true, true) == 0 {
        bail!(
            "{input}: the held-out users ({}) need legit and attack sign-ins both to measure the models; raise --holdout or use more history",
            labels(held)
        );
    }
    Ok(())
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// The folder a file is in (`.` for a bare name).
fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Which model the folder the file went into now runs with the configuration.
fn runs_now(path: &Path, config: &Config) -> String {
    let dir = folder_of(path);
    let configured = config
        .models
        .clone()
        .or_else(|| Some(PathBuf::from("models")).filter(|p| p.is_dir()));
    let same = configured
        .as_deref()
        .and_then(|c| c.canonicalize().ok())
        .zip(dir.canonicalize().ok())
        .is_some_and(|(a, b)| a == b);
    match load_model(
        Some(&dir),
        if same { config.model.as_deref() } else { None },
    ) {
        Ok(m) if same => format!("the engine now runs {}", m.origin),
        Ok(m) => format!(
            "{} is not the configured models folder; with --models {} the engine would run {}",
            dir.display(),
            dir.display(),
            m.origin
        ),
        Err(problems) => format!(
            "{} does not select one model by itself ({}); set `model = \"VERSION\"` in the config",
            dir.display(),
            problems
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_holds_out_the_share_asked_for_and_is_stable() {
        let users: Vec<String> = (0..20_000)
            .map(|i| format!("user{i}@example.com"))
            .collect();
        let held = users.iter().filter(|u| held_out(u, 0.2)).count() as f64;
        assert!((held / 20_000.0 - 0.2).abs() < 0.01, "{held}");
        // A user held out at 10% is held out at 20%: the split nests.
        assert!(users
            .iter()
            .filter(|u| held_out(u, 0.1))
            .all(|u| held_out(u, 0.2)));
        // Pinned: the same users are held out on every machine and version.
        let first: Vec<usize> = (0..200)
            .filter(|&i| held_out(&users[i], 0.2))
            .take(5)
            .collect();
        assert_eq!(first, [2, 10, 18, 27, 28]);
    }
}
