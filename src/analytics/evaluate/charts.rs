//! PNG charts of an evaluation: the ROC curve of `risk_score` per label, and
//! the distribution of risk scores of legitimate sign-ins against attacks.
//! Drawn with plotters into bitmaps; the font is embedded (DejaVu Sans, its
//! licence beside it in `fonts/`) so charts look the same on any machine,
//! including one with no fonts installed.

use super::figures::{roc_curve, Scored, LEGIT};
use anyhow::{anyhow, Context};
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Once;

const FONT: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");
const SIZE: (u32, u32) = (1000, 700);
/// Bins of the score distribution over [0, 1].
const BINS: usize = 50;

pub(crate) fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .unwrap_or_else(|_| panic!("the embedded DejaVu Sans is a valid font"));
    });
}

pub(crate) fn color(i: usize) -> RGBColor {
    const PALETTE: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
    ];
    PALETTE[i % PALETTE.len()]
}

/// Writes `roc.png` and `scores.png` into `dir` (created if missing).
pub fn write(dir: &Path, by_label: &BTreeMap<String, Vec<Scored>>) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    register_font();
    let roc = dir.join("roc.png");
    draw_roc(&roc, by_label).with_context(|| format!("cannot draw {}", roc.display()))?;
    let scores = dir.join("scores.png");
    draw_scores(&scores, by_label).with_context(|| format!("cannot draw {}", scores.display()))?;
    Ok(())
}

fn scores_of(s: &[Scored]) -> Vec<f64> {
    s.iter().map(|s| s.score).collect()
}

/// plotters' errors borrow the backend; only their text leaves.
fn drawing<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("{e:?}")
}

fn draw_roc(path: &Path, by_label: &BTreeMap<String, Vec<Scored>>) -> anyhow::Result<()> {
    let legit = scores_of(by_label.get(LEGIT).map_or(&[][..], |v| v));
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(drawing)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "ROC of risk_score, each label against legit",
            ("sans-serif", 24),
        )
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..1f64, 0f64..1f64)
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .x_desc("false-positive rate (legitimate sign-ins flagged)")
        .y_desc("true-positive rate")
        .label_style(("sans-serif", 16))
        .draw()
        .map_err(drawing)?;
    chart
        .draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.3)))
        .map_err(drawing)?;
    if !legit.is_empty() {
        for (i, (label, scored)) in by_label.iter().filter(|(l, _)| *l != LEGIT).enumerate() {
            let c = color(i);
            let points = roc_curve(&scores_of(scored), &legit, 2000);
            chart
                .draw_series(LineSeries::new(points, c.stroke_width(2)))
                .map_err(drawing)?
                .label(label.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], c.stroke_width(2)));
        }
    }
    finish(&mut chart, &root, SeriesLabelPosition::LowerRight)
}

/// Share of the values in each of [`BINS`] bins over [0, 1].
fn histogram(values: &[f64]) -> Vec<(f64, f64)> {
    let mut counts = [0u64; BINS];
    for v in values {
        let bin = ((v.clamp(0.0, 1.0) * BINS as f64) as usize).min(BINS - 1);
        counts[bin] += 1;
    }
    let n = values.len().max(1) as f64;
    counts
        .iter()
        .enumerate()
        .map(|(i, &c)| ((i as f64 + 0.5) / BINS as f64, c as f64 / n))
        .collect()
}

fn draw_scores(path: &Path, by_label: &BTreeMap<String, Vec<Scored>>) -> anyhow::Result<()> {
    let series: Vec<(String, Vec<(f64, f64)>)> = by_label
        .iter()
        .map(|(label, s)| (label.clone(), histogram(&scores_of(s))))
        .collect();
    let top = series
        .iter()
        .flat_map(|(_, h)| h.iter().map(|p| p.1))
        .fold(0.0f64, f64::max)
        .max(0.01);
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(drawing)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Risk score distribution per label", ("sans-serif", 24))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..1f64, 0f64..top * 1.05)
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .x_desc("risk_score")
        .y_desc("share of the label's sign-ins")
        .label_style(("sans-serif", 16))
        .draw()
        .map_err(drawing)?;
    let mut attack = 0;
    for (label, points) in series {
        // Legit in black, drawn thicker: the baseline every attack is read against.
        let (c, width) = if label == LEGIT {
            (BLACK, 3)
        } else {
            attack += 1;
            (color(attack - 1), 2)
        };
        chart
            .draw_series(LineSeries::new(points, c.stroke_width(width)))
            .map_err(drawing)?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], c.stroke_width(width)));
    }
    finish(&mut chart, &root, SeriesLabelPosition::UpperMiddle)
}

type Chart<'a> = ChartContext<
    'a,
    BitMapBackend<'a>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// Draws the legend at `position` and writes the image.
fn finish(
    chart: &mut Chart<'_>,
    root: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    position: SeriesLabelPosition,
) -> anyhow::Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font(("sans-serif", 16))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(drawing)?;
    root.present().map_err(drawing)?;
    Ok(())
}
