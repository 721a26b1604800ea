//! The trained model's file: named for the next free version, written as the
//! running model's file with its values replaced (comments and layout kept),
//! under a header that says how it was trained.

use super::{Change, TrainArgs};
use crate::analytics::evaluate::Counts;
use crate::event::Timestamp;
use crate::model::parameters::{Parameter, PARAMETERS};
use crate::model::{numbered, Model, ModelSpec, EMBEDDED_MODEL};
use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the header and the evaluation file say about a training run.
pub struct Trained<'a> {
    pub from: &'a ModelSpec,
    /// Where the running model came from, and its file's text.
    pub from_file: String,
    pub source_text: String,
    pub spec: &'a ModelSpec,
    pub input: &'a Path,
    pub counts: &'a Counts,
    pub training: &'a BTreeMap<String, u64>,
    pub held_out: &'a BTreeMap<String, u64>,
    pub args: &'a TrainArgs,
    pub changes: &'a [Change],
    pub steps: usize,
    /// Shares of the training legit sign-ins at or above medium and high,
    /// by the rows (ties make them at most the options, not exactly).
    pub reached: (f64, f64),
}

/// The running model's file and text (the built-in model's when none).
pub fn source(model: &Model) -> anyhow::Result<(String, String)> {
    match &model.source {
        Some(p) => Ok((
            p.display().to_string(),
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
        )),
        None => Ok((
            format!("the built-in {}", EMBEDDED_MODEL.0),
            EMBEDDED_MODEL.1.to_string(),
        )),
    }
}

/// The file to write and the version it names: `--output` (its name is the
/// version), or the next free version beside the running model's file.
pub fn output(given: Option<&Path>, model: &Model) -> anyhow::Result<(PathBuf, String)> {
    let current = &model.spec.version;
    let path = match given {
        Some(p) => p.to_path_buf(),
        None => {
            let Some(source) = &model.source else {
                bail!("the built-in model {current} is running (no models folder): give --output FILE for the trained model, or --models with a folder holding the model to start from");
            };
            let dir = source.parent().unwrap_or(Path::new("."));
            dir.join(format!("{}.toml", next_version(dir, current)?))
        }
    };
    if path.extension().is_none_or(|e| e != "toml") {
        bail!(
            "--output {}: a model file's name ends in .toml (the engine reads only those)",
            path.display()
        );
    }
    let version = path
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.trim().is_empty())
        .with_context(|| format!("--output {}: no version in the file name", path.display()))?
        .to_string();
    if &version == current {
        bail!("--output {}: that names the running model's version {current}; the trained model needs a new one", path.display());
    }
    if path.exists() {
        bail!(
            "{} already exists; it is not overwritten (give another --output)",
            path.display()
        );
    }
    let dir = super::folder_of(&path);
    if !dir.is_dir() {
        bail!("--output {}: no folder {}", path.display(), dir.display());
    }
    Ok((path, version))
}

/// `NAMEvN` one above the highest version of that name in `dir` (file names
/// and the versions inside the files both count).
fn next_version(dir: &Path, current: &str) -> anyhow::Result<String> {
    let (name, mut highest) = numbered(current).unwrap_or((current, 1));
    let name = if numbered(current).is_some() {
        name.to_string()
    } else {
        format!("{name}-v")
    };
    let rd = std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for p in rd.filter_map(|e| e.ok().map(|e| e.path())) {
        if p.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let stem = p.file_stem().and_then(|s| s.to_str()).map(String::from);
        let inside = std::fs::read_to_string(&p)
            .ok()
            .and_then(|t| t.parse::<toml::Table>().ok())
            .and_then(|t| t.get("version")?.as_str().map(String::from));
        for v in stem.into_iter().chain(inside) {
            if let Some((n, k)) = numbered(&v) {
                if n == name {
                    highest = highest.max(k);
                }
            }
        }
    }
    Ok(format!("{name}{}", highest + 1))
}

/// A feature's clip bounds to 4 decimals, as written (after its weight
/// scaled them), `min` kept within [0, max].
pub fn round_clips(spec: &mut ModelSpec) {
    for p in PARAMETERS {
        if let Parameter::Feature(f) = p {
            if let Some(s) = f.spec_mut(spec) {
                s.max = super::round4(s.max);
                s.min = super::round4(s.min).min(s.max);
            }
        }
    }
}

/// `risk-v2.toml` → `risk-v2.evaluation.json`.
pub fn evaluation_path(model: &Path) -> PathBuf {
    let stem = model
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    model.with_file_name(format!("{stem}.evaluation.json"))
}

/// Writes the model: the running model's text with the new values and a
/// header about the training in front of its own.
pub fn model_file(path: &Path, t: &Trained) -> anyhow::Result<()> {
    let text = &t.source_text;
    // The leading comment block is the old model's notes; the rest is edited.
    let body_at = text
        .lines()
        .take_while(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        .map(|l| l.len() + 1)
        .sum::<usize>()
        .min(text.len());
    let (notes, body) = text.split_at(body_at);
    let mut doc: toml_edit::DocumentMut = body
        .parse()
        .with_context(|| format!("cannot parse {} to rewrite it", t.from_file))?;
    let s = t.spec;
    set(&mut doc, &["version"], s.version.clone().into());
    set(&mut doc, &["bias"], s.bias.into());
    set(
        &mut doc,
        &["thresholds", "medium"],
        s.thresholds.medium.into(),
    );
    set(&mut doc, &["thresholds", "high"], s.thresholds.high.into());
    for p in PARAMETERS {
        match p {
            Parameter::Feature(f) => {
                let Some(fs) = f.spec(s) else { continue };
                for (key, v) in [("weight", fs.weight), ("max", fs.max), ("min", fs.min)] {
                    set(&mut doc, &["features", f.name(), key], v.into());
                }
            }
            Parameter::Signal(sig) => {
                let v = p.value(s).expect("a signal always has a score");
                set(&mut doc, &["signals", sig.name(), "score"], v.into());
            }
        }
    }
    let out = format!("{}{notes}{doc}", header(t));
    std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))
}

/// Sets a value at `keys`, creating tables on the way, keeping the comment
/// after the old value.
fn set(doc: &mut toml_edit::DocumentMut, keys: &[&str], mut value: toml_edit::Value) {
    let (last, tables) = keys.split_last().expect("a key");
    let mut table = doc.as_table_mut();
    for k in tables {
        let item = table
            .entry(k)
            .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
        table = item
            .as_table_mut()
            .expect("a model file's sections are tables");
    }
    if let Some(old) = table.get(last).and_then(|i| i.as_value()) {
        *value.decor_mut() = old.decor().clone();
    }
    table.insert(last, toml_edit::Item::Value(value));
}

fn header(t: &Trained) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut when = String::new();
    Timestamp(now).write_rfc3339(&mut when);
    let a = t.args;
    let c = t.counts;
    let list = |m: &BTreeMap<String, u64>| {
        m.iter()
            .map(|(l, n)| format!("{l} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let sum = |m: &BTreeMap<String, u64>| m.values().sum::<u64>();
    let mut h = String::new();
    let mut line = |s: String| {
        h.push('#');
        if !s.is_empty() {
            h.push(' ');
            h.push_str(&s);
        }
        h.push('\n');
    };
    line(format!(
        "Palisade risk model {}, trained by `palisade train` at {when}",
        t.spec.version
    ));
    line(format!("from {} ({}).", t.from.version, t.from_file));
    line(String::new());
    line(format!(
        "Input: {} ({} events, {} labelled sign-in outcomes{}).",
        t.input.display(),
        c.events,
        c.scored,
        if c.sorted { ", sorted by time" } else { "" }
    ));
    line(format!(
        "Training users' sign-ins: {} ({}).",
        sum(t.training),
        list(t.training)
    ));
    line(format!(
        "Held-out users' sign-ins: {} ({}).",
        sum(t.held_out),
        list(t.held_out)
    ));
    line(format!(
        "Options: --legit-label {} --friction {} --block-fpr {} --holdout {} --l2 {}",
        a.legit_label, a.friction, a.block_fpr, a.holdout, a.l2
    ));
    line(format!(
        "Fit: logistic regression by Newton's method, {} steps; users split by a hash",
        t.steps
    ));
    line("of their id. Weights and scores are the coefficients (a feature's max and min".into());
    line("scale with its weight: the same likelihood ratios are clipped); bias is the".into());
    line("intercept; medium and high are the risk scores that --friction and".into());
    line("--block-fpr of the training legit sign-ins reach.".into());
    for (status, what) in [
        ("clamped", "Held at 0 (their fit went below it)"),
        ("kept", "Kept as they were (no evidence in the history)"),
    ] {
        let keys: Vec<&str> = t
            .changes
            .iter()
            .filter(|c| c.status == status)
            .map(|c| c.key.as_str())
            .collect();
        if !keys.is_empty() {
            line(format!("{what}: {}.", keys.join(", ")));
        }
    }
    line("Held-out figures of both models: the .evaluation.json file beside this one.".to_string());
    line(String::new());
    line(format!(
        "The notes of {} follow; the values are {}'s.",
        t.from.version, t.spec.version
    ));
    h.push('\n');
    h
}
