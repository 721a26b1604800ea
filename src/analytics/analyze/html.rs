//! The report as one self-contained HTML page: no script, no request for
//! anything outside it. The summary, three inline SVG charts and every view
//! of [`super::report`], each cut to `--top` rows (the page says so; the
//! table files hold every row). Every text from the history (user names are
//! whatever was typed) is escaped.

use super::report::{self, cells, numeric, thousands, View};
use super::tables::Tables;
use super::{charts, Summary};
use polars::prelude::DataType;
use std::fmt::Write;

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222;max-width:1200px}\
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em}h2 small{color:#888;font-weight:normal}\
table{border-collapse:collapse;font-size:.9em}th,td{padding:.25em .6em;border-bottom:1px solid #ddd;text-align:left}\
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f4f4f4}\
p.note{color:#666;font-size:.9em}figure{margin:1em 0}svg{max-width:100%;height:auto}";

/// Text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page.
pub fn page(s: &Summary, t: &Tables) -> anyhow::Result<String> {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Palisade campaign report: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>Palisade campaign report</h1>\n",
        escape(&s.input)
    );
    for l in report::header(s) {
        let _ = writeln!(out, "<p>{}</p>", escape(&l));
    }
    let _ = writeln!(out, "<ul>");
    for l in report::totals(t) {
        let _ = writeln!(out, "<li>{}</li>", escape(&l));
    }
    let _ = writeln!(out, "</ul>");
    let views = report::views(s, t);
    let _ = writeln!(out, "<p>Tables: {}</p>", {
        views
            .iter()
            .filter(|v| v.skipped.is_none())
            .map(|v| format!("<a href=\"#{0}\">{0}</a>", escape(&v.name)))
            .collect::<Vec<_>>()
            .join(" · ")
    });
    let _ = writeln!(out, "<h2 id=\"charts\">Charts</h2>");
    let figures = [
        charts::timeline(&t.timeline)?,
        charts::bars(
            &format!("Top {} source addresses by failures", s.top),
            "failures",
            &top_items(&t.sources[0].1, "ip", "failures", s.top)?,
        )?,
        charts::bars(
            "Attempts per attack class",
            "attempts from the class's sources",
            &top_items(&t.classes, "class", "attempts", s.top)?,
        )?,
    ];
    for svg in figures {
        let _ = writeln!(out, "<figure>\n{svg}\n</figure>");
    }
    for view in &views {
        table(&mut out, view, s.top);
    }
    let _ = writeln!(
        out,
        "<p class=\"note\">{}</p>",
        escape(&report::thresholds())
    );
    let _ = writeln!(out, "</body>\n</html>");
    Ok(out)
}

/// The first `top` rows' names and values, for a bar chart.
fn top_items(
    df: &polars::prelude::DataFrame,
    name: &str,
    value: &str,
    top: usize,
) -> anyhow::Result<Vec<(String, f64)>> {
    let names = df.column(name)?.cast(&DataType::String)?;
    let values = df.column(value)?.cast(&DataType::Float64)?;
    Ok(names
        .str()?
        .iter()
        .zip(values.f64()?.iter())
        .take(top)
        .map(|(n, v)| (n.unwrap_or("-").to_string(), v.unwrap_or(0.0)))
        .collect())
}

fn table(out: &mut String, view: &View, top: usize) {
    let _ = writeln!(
        out,
        "<h2 id=\"{0}\">{1} <small>({0})</small></h2>",
        escape(&view.name),
        escape(&view.title)
    );
    if let Some(why) = &view.skipped {
        let _ = writeln!(out, "<p class=\"note\">Not shown: {}.</p>", escape(why));
        return;
    }
    let rows = view.df.height();
    if rows == 0 {
        let _ = writeln!(out, "<p>None.</p>");
        return;
    }
    if rows > top {
        let _ = writeln!(
            out,
            "<p class=\"note\">The top {top} of {} rows (--top); every row is in the {} table of --tables.</p>",
            thousands(rows as i64),
            escape(&view.name)
        );
    }
    let _ = write!(out, "<table>\n<thead><tr>");
    for (_, heading) in &view.columns {
        let _ = write!(out, "<th>{}</th>", escape(heading));
    }
    let _ = writeln!(out, "</tr></thead>\n<tbody>");
    for row in cells(view, top) {
        let _ = write!(out, "<tr>");
        for ((column, _), text) in view.columns.iter().zip(row) {
            if numeric(view, column) {
                let _ = write!(out, "<td class=\"n\">{}</td>", escape(&text));
            } else {
                let _ = write!(out, "<td>{}</td>", escape(&text));
            }
        }
        let _ = writeln!(out, "</tr>");
    }
    let _ = writeln!(out, "</tbody>\n</table>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_leaves_no_markup() {
        assert_eq!(
            escape("<script>alert('x')</script>&\"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;y&quot;"
        );
    }
}
