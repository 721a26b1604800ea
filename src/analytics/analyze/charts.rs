//! The report's charts as SVG text for the HTML page: the timeline of
//! attempts, failures and blocks, the top sources by failures, and the
//! attempts per attack class. Drawn with plotters' SVG backend, text laid
//! out with the same embedded font as `evaluate`'s charts (it is measured
//! with it; the browser draws the text with its own sans-serif).

use super::report::{thousands, time};
use crate::analytics::evaluate::charts::{color, register_font};
use anyhow::anyhow;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use polars::prelude::{DataFrame, DataType};

const WIDE: (u32, u32) = (960, 360);
/// Width of a bar chart; its height grows with the bars.
const BARS_WIDTH: u32 = 960;
const BAR_HEIGHT: u32 = 26;

/// plotters' errors borrow the backend; only their text leaves.
fn drawing<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("{e:?}")
}

/// A column's values as floats, nulls as 0.
fn floats(df: &DataFrame, name: &str) -> anyhow::Result<Vec<f64>> {
    let c = df.column(name)?.cast(&DataType::Float64)?;
    Ok(c.f64()?.iter().map(|v| v.unwrap_or(0.0)).collect())
}

/// Attempts, failures and blocks per bucket; `timeline` as
/// [`super::tables::timeline`] gives it.
pub fn timeline(timeline: &DataFrame) -> anyhow::Result<String> {
    register_font();
    let at: Vec<i64> = timeline
        .column("bucket")?
        .cast(&DataType::Int64)?
        .i64()?
        .iter()
        .map(|v| v.unwrap_or(0))
        .collect();
    let series = [
        ("attempts", floats(timeline, "attempts")?, color(0)),
        ("failures", floats(timeline, "failures")?, color(3)),
        ("blocks", floats(timeline, "blocks")?, BLACK),
    ];
    let top = series
        .iter()
        .flat_map(|(_, v, _)| v.iter().copied())
        .fold(1.0f64, f64::max);
    let (first, last) = (
        *at.first().unwrap_or(&0),
        (*at.last().unwrap_or(&0)).max(at.first().unwrap_or(&0) + 1),
    );
    let step = tick_step(last - first);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, WIDE).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Sign-ins per bucket (UTC)", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(
                (first..last).with_key_points(ticks(first, last, step)),
                0f64..top * 1.05,
            )
            .map_err(drawing)?;
        chart
            .configure_mesh()
            .x_label_formatter(&|ms| {
                let t = time(*ms, true);
                // Days alone when the ticks are days apart.
                if step >= DAY_MS {
                    t[5..10].to_string()
                } else {
                    t[5..].to_string()
                }
            })
            .y_label_formatter(&|v| thousands(*v as i64))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(drawing)?;
        for (name, values, c) in series {
            chart
                .draw_series(LineSeries::new(
                    at.iter().copied().zip(values),
                    c.stroke_width(2),
                ))
                .map_err(drawing)?
                .label(name)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], c.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(("sans-serif", 13))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(drawing)?;
        root.present().map_err(drawing)?;
    }
    Ok(svg)
}

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Time between the timeline's labelled ticks: whole hours or days, so
/// labels fall on round times, about 4 to 14 of them.
fn tick_step(span_ms: i64) -> i64 {
    [
        (6 * HOUR_MS, HOUR_MS),
        (DAY_MS, 3 * HOUR_MS),
        (3 * DAY_MS, 12 * HOUR_MS),
        (14 * DAY_MS, DAY_MS),
        (60 * DAY_MS, 7 * DAY_MS),
    ]
    .iter()
    .find(|(up_to, _)| span_ms <= *up_to)
    .map_or(30 * DAY_MS, |(_, step)| *step)
}

/// Every multiple of `step` (UTC) from `first` to `last`.
fn ticks(first: i64, last: i64, step: i64) -> Vec<i64> {
    let start = first + (step - first.rem_euclid(step)) % step;
    (start..=last).step_by(step as usize).collect()
}

/// Horizontal bars, the first item on top.
pub fn bars(title: &str, x_desc: &str, items: &[(String, f64)]) -> anyhow::Result<String> {
    register_font();
    let n = items.len().max(1) as u32;
    let top = items.iter().map(|(_, v)| *v).fold(1.0f64, f64::max);
    let height = 90 + n * BAR_HEIGHT;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (BARS_WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(230)
            .build_cartesian_2d(0f64..top * 1.05, (0..n).into_segmented())
            .map_err(drawing)?;
        // Bar i is drawn at n-1-i, so the first item is on top.
        let name_at = |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(k) if *k < n => items
                .get((n - 1 - k) as usize)
                .map(|(name, _)| name.clone())
                .unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n as usize)
            .y_label_formatter(&name_at)
            .x_label_formatter(&|v| thousands(*v as i64))
            .x_desc(x_desc)
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(drawing)?;
        chart
            .draw_series(items.iter().enumerate().map(|(i, (_, v))| {
                let k = n - 1 - i as u32;
                let mut bar = Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(k)),
                        (*v, SegmentValue::Exact(k + 1)),
                    ],
                    color(3).filled(),
                );
                bar.set_margin(3, 3, 0, 0);
                bar
            }))
            .map_err(drawing)?;
        root.present().map_err(drawing)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_ticks_fall_on_round_times() {
        let t0 = 1_767_571_200_000; // 2026-01-05 00:00 UTC
        assert_eq!(tick_step(3 * DAY_MS), 12 * HOUR_MS);
        assert_eq!(tick_step(7 * DAY_MS), DAY_MS);
        let ticks = ticks(t0 + 1, t0 + 3 * DAY_MS, DAY_MS);
        assert_eq!(ticks, [t0 + DAY_MS, t0 + 2 * DAY_MS, t0 + 3 * DAY_MS]);
        assert_eq!(super::ticks(t0, t0 + HOUR_MS, HOUR_MS), [t0, t0 + HOUR_MS]);
    }

    #[test]
    fn bars_name_every_item_and_escape_text() {
        let svg = bars(
            "t",
            "failures",
            &[("a<b".to_string(), 3.0), ("10.0.0.1".to_string(), 1.0)],
        )
        .unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        assert!(svg.contains("a&lt;b") && svg.contains("10.0.0.1"), "{svg}");
        assert_eq!(
            svg.matches("<rect").count() - 1,
            2,
            "a background and two bars"
        );
    }
}
