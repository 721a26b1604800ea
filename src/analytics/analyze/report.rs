//! The report for people: which tables to show, with which columns and
//! headings, how each cell reads, and the terminal summary. The HTML page
//! ([`super::html`]) shows the same views.

use super::classify;
use super::tables::{Dimension, Tables, TAKEOVER_WINDOW_MS};
use super::Summary;
use crate::event::Timestamp;
use polars::prelude::{AnyValue, DataFrame, TimeUnit};
use std::fmt::Write;

/// Text cells longer than this are cut (with `…`) in the summary: a user
/// name is whatever an attacker typed.
pub const MAX_CELL_CHARS: usize = 40;

/// One table as shown: a title, its file name, and its columns with headings.
pub struct View<'a> {
    pub name: String,
    pub title: String,
    pub df: &'a DataFrame,
    pub columns: Vec<(&'static str, &'static str)>,
    /// Why the table is not shown, when it is not (country and ASN without
    /// GeoIP).
    pub skipped: Option<String>,
}

/// Every table the report shows, in order.
pub fn views<'a>(s: &Summary, t: &'a Tables) -> Vec<View<'a>> {
    let mut out = vec![View {
        name: "classes".into(),
        title: format!(
            "Attack classes, per source address with at least {} failures",
            classify::MIN_FAILURES
        ),
        df: &t.classes,
        columns: vec![
            ("class", "class"),
            ("sources", "sources"),
            ("attempts", "attempts"),
            ("failures", "failures"),
            ("accounts", "accounts"),
            ("accounts_succeeded", "signed in"),
        ],
        skipped: None,
    }];
    out.push(View {
        name: "campaigns".into(),
        title: "Campaign sources, most failures first".into(),
        df: &t.campaigns,
        columns: vec![
            ("ip", "ip"),
            ("class", "class"),
            ("attempts", "attempts"),
            ("failures", "failures"),
            ("accounts", "accounts"),
            ("attempts_per_account", "per account"),
            ("password_share", "passwords/try"),
            ("unknown_user_share", "unknown users"),
            ("accounts_succeeded", "signed in"),
            ("first_seen", "first seen"),
        ],
        skipped: None,
    });
    for (dim, df) in &t.sources {
        let (title, skipped) = match dim {
            Dimension::Ip => ("Top source addresses", None),
            Dimension::Network => ("Top source networks (/24, IPv6 /48)", None),
            Dimension::Asn => ("Top source ASNs", unknown(s, "ASN")),
            Dimension::Country => ("Top source countries", unknown(s, "country")),
        };
        let mut columns = vec![
            (dim.name(), dim.name()),
            ("attempts", "attempts"),
            ("failures", "failures"),
            ("failure_rate", "fail %"),
            ("accounts", "accounts"),
            ("successes", "successes"),
            ("blocked_share", "blocked %"),
            ("first_seen", "first seen"),
            ("last_seen", "last seen"),
        ];
        if *dim == Dimension::Ip {
            columns.insert(1, ("class", "class"));
        }
        out.push(View {
            name: format!("sources_{}", dim.name()),
            title: format!("{title}, most failures first"),
            df,
            columns,
            skipped,
        });
    }
    out.push(View {
        name: "accounts".into(),
        title: "Accounts targeted, most failures first".into(),
        df: &t.accounts,
        columns: vec![
            ("user", "user"),
            ("attempts", "attempts"),
            ("failures", "failures"),
            ("failure_ips", "failure ips"),
            ("successes", "successes"),
            ("unknown_user_failures", "unknown user"),
            ("blocked", "blocked"),
            ("last_seen", "last seen"),
        ],
        skipped: None,
    });
    out.push(View {
        name: "takeovers".into(),
        title: format!(
            "Possible takeovers: a success after at least {} failures of the account in the {} h before it (and since its previous success), most failures first",
            s.takeover_failures,
            TAKEOVER_WINDOW_MS / 3_600_000
        ),
        df: &t.takeovers,
        columns: vec![
            ("user", "user"),
            ("success_at", "success at"),
            ("ip", "ip"),
            ("failures_before", "failures"),
            ("failure_ips", "failure ips"),
            ("failures_from_success_ip", "from that ip"),
            ("action", "engine"),
        ],
        skipped: None,
    });
    out
}

fn unknown(s: &Summary, what: &str) -> Option<String> {
    let note = s.geo_note.as_deref()?;
    note.split("; ")
        .find(|n| n.starts_with(what))
        .map(str::to_string)
}

/// How a cell reads: counts with thousands separators, shares as percent,
/// times in UTC to the second (buckets to the minute), ASNs as `AS…`.
pub fn cell(column: &str, v: AnyValue) -> String {
    match v {
        AnyValue::Null => "-".to_string(),
        AnyValue::String(s) => s.to_string(),
        AnyValue::StringOwned(s) => s.to_string(),
        AnyValue::Boolean(b) => if b { "yes" } else { "no" }.to_string(),
        AnyValue::Float64(f) if column.ends_with("_rate") || column.ends_with("_share") => {
            format!("{:.1}%", f * 100.0)
        }
        AnyValue::Float64(f) => format!("{f:.2}"),
        AnyValue::Datetime(ms, unit, _) | AnyValue::DatetimeOwned(ms, unit, _) => {
            let ms = match unit {
                TimeUnit::Milliseconds => ms,
                TimeUnit::Microseconds => ms / 1000,
                TimeUnit::Nanoseconds => ms / 1_000_000,
            };
            time(ms, column == "bucket")
        }
        v if column == "asn" => format!("AS{}", v.extract::<u64>().unwrap_or_default()),
        v => match v.extract::<i64>() {
            Some(n) => thousands(n),
            None => v.to_string(),
        },
    }
}

/// `YYYY-MM-DD HH:MM:SS`, or to the minute.
pub fn time(ms: i64, minutes: bool) -> String {
    let text = Timestamp(ms.max(0) as u64).to_rfc3339();
    let end = if minutes { 16 } else { 19 };
    text[..end.min(text.len())].replacen('T', " ", 1)
}

/// A span to the minute, or to the hour past a day.
pub fn span_text(ms: i64) -> String {
    let unit = if ms >= 86_400_000 { 3600 } else { 60 };
    let secs = (ms / 1000) as u64 / unit * unit;
    humantime::format_duration(std::time::Duration::from_secs(secs)).to_string()
}

pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// A cell for a terminal: control characters (a terminal would obey them)
/// shown as `�`, cut to [`MAX_CELL_CHARS`].
fn for_terminal(text: String) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect();
    if clean.chars().count() > MAX_CELL_CHARS {
        let cut: String = clean.chars().take(MAX_CELL_CHARS - 1).collect();
        format!("{cut}…")
    } else {
        clean
    }
}

/// The cells of the first `rows` rows, column by column as in `view`.
pub fn cells(view: &View, rows: usize) -> Vec<Vec<String>> {
    let n = view.df.height().min(rows);
    (0..n)
        .map(|i| {
            view.columns
                .iter()
                .map(
                    |(c, _)| match view.df.column(c).and_then(|col| col.get(i)) {
                        Ok(v) => cell(c, v),
                        Err(_) => "-".to_string(),
                    },
                )
                .collect()
        })
        .collect()
}

/// Whether the column's cells are numbers (right-aligned).
pub fn numeric(view: &View, column: &str) -> bool {
    view.df
        .column(column)
        .is_ok_and(|c| c.dtype().is_primitive_numeric())
        && column != "asn"
}

fn text_table(out: &mut String, view: &View, rows: usize) {
    let cells: Vec<Vec<String>> = cells(view, rows)
        .into_iter()
        .map(|r| r.into_iter().map(for_terminal).collect())
        .collect();
    let widths: Vec<usize> = view
        .columns
        .iter()
        .enumerate()
        .map(|(i, (_, h))| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([h.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |out: &mut String, values: Vec<&str>| {
        let mut text = String::new();
        for (i, v) in values.iter().enumerate() {
            let pad = widths[i].saturating_sub(v.chars().count());
            if i > 0 {
                text.push_str("  ");
            }
            if numeric(view, view.columns[i].0) {
                text.push_str(&" ".repeat(pad));
                text.push_str(v);
            } else {
                text.push_str(v);
                text.push_str(&" ".repeat(pad));
            }
        }
        let _ = writeln!(out, "  {}", text.trim_end());
    };
    line(out, view.columns.iter().map(|(_, h)| *h).collect());
    for r in &cells {
        line(out, r.iter().map(String::as_str).collect());
    }
}

/// A count with its noun, singular or plural.
pub fn count(n: u64, noun: &str) -> String {
    format!(
        "{} {noun}{}",
        thousands(n as i64),
        if n == 1 { "" } else { "s" }
    )
}

/// The first lines: what was read, when, and how it was judged.
pub fn header(s: &Summary) -> Vec<String> {
    let mut lines = vec![format!(
        "{}: {} ({} sign-in{}, {} of other kinds), {} rejected{}",
        s.input,
        count(s.events, "event"),
        thousands(s.sign_ins as i64),
        if s.sign_ins == 1 { "" } else { "s" },
        thousands(s.other_kinds as i64),
        count(s.rejected, "bad row"),
        if s.sorted { ", sorted by time" } else { "" }
    )];
    let span = span_text(s.span.1 - s.span.0);
    lines.push(format!(
        "{} to {} UTC ({span}); timeline in buckets of {}",
        time(s.span.0, true),
        time(s.span.1, true),
        humantime::format_duration(s.bucket)
    ));
    lines.push(format!(
        "rules {}, model {}{}",
        s.rules_version,
        s.model_version,
        if s.audit {
            "; audit mode: actions are what the engine would have done"
        } else {
            ""
        }
    ));
    if s.untimed > 0 {
        lines.push(format!(
            "{} had no timestamp and took the time of the event before",
            count(s.untimed, "event")
        ));
    }
    if let Some(note) = &s.geo_note {
        lines.push(note.clone());
    }
    lines
}

/// A count column's values (nulls as 0), none if there is no such column.
pub fn column_u64(df: &DataFrame, name: &str) -> Vec<u64> {
    df.column(name)
        .and_then(|c| c.cast(&polars::prelude::DataType::UInt64))
        .map(|c| c.u64().map(|c| c.iter().map(|v| v.unwrap_or(0)).collect()))
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default()
}

/// Totals over the timeline, and its busiest bucket by failures.
pub fn totals(t: &Tables) -> Vec<String> {
    let sum = |c: &str| -> u64 { column_u64(&t.timeline, c).iter().sum() };
    let (attempts, failures) = (sum("attempts"), sum("failures"));
    let mut lines = vec![format!(
        "sign-ins: {} attempts, {} failed ({:.1}%), {} succeeded; engine: {} challenged, {} blocked",
        thousands(attempts as i64),
        thousands(failures as i64),
        failures as f64 * 100.0 / attempts.max(1) as f64,
        thousands(sum("successes") as i64),
        thousands(sum("challenges") as i64),
        thousands(sum("blocks") as i64),
    )];
    // The first bucket with the most failures.
    let busiest = column_u64(&t.timeline, "failures")
        .iter()
        .enumerate()
        .max_by_key(|(i, v)| (**v, std::cmp::Reverse(*i)))
        .map(|(i, _)| i);
    if let Some(i) = busiest.filter(|_| failures > 0) {
        let get = |c: &str| {
            t.timeline
                .column(c)
                .and_then(|col| col.get(i))
                .map(|v| cell(c, v))
                .unwrap_or_default()
        };
        lines.push(format!(
            "busiest bucket: {} with {} failures of {} attempts, {} blocked",
            get("bucket"),
            get("failures"),
            get("attempts"),
            get("blocks")
        ));
    }
    lines
}

/// The terminal summary: header, totals, then each view's top rows.
pub fn terminal(s: &Summary, t: &Tables) -> String {
    let mut out = String::new();
    for l in header(s)
        .into_iter()
        .chain([String::new()])
        .chain(totals(t))
    {
        let _ = writeln!(out, "{l}");
    }
    for view in views(s, t) {
        let _ = writeln!(out);
        if let Some(why) = &view.skipped {
            let _ = writeln!(out, "{}: not shown, {why}", view.title);
            continue;
        }
        let rows = view.df.height();
        let shown = rows.min(s.top);
        let _ = writeln!(
            out,
            "{}{}",
            view.title,
            if shown < rows {
                format!(" (top {shown} of {})", thousands(rows as i64))
            } else {
                format!(" ({})", thousands(rows as i64))
            }
        );
        if rows == 0 {
            let _ = writeln!(out, "  none");
            continue;
        }
        text_table(&mut out, &view, s.top);
    }
    let _ = writeln!(out, "\n{}", thresholds());
    out
}

/// How sources are classed, in words, with the thresholds.
pub fn thresholds() -> String {
    format!(
        "How sources are classed (per address with at least {} failures): a shared address (an office's or \
         a carrier's NAT, no campaign) = at least {} accounts signed in and at most {:.0}% of sign-ins failed; \
         else brute force = at most {} accounts, \
         at least {} failures each; credential stuffing and password spraying = at least {} accounts, at most {} \
         sign-ins each, told apart by distinct passwords per sign-in (spraying at most {:.0}%, stuffing at least \
         {:.0}%; when at least {:.0}% of the sign-ins carry password_sha1) or failures for unknown users (stuffing \
         at least {:.0}%), else by the engine's reasons (a family's rules on at least {:.0}% of the sign-ins); \
         anything else with that many failures is other.",
        classify::MIN_FAILURES,
        classify::SHARED_MIN_ACCOUNTS_SIGNED_IN,
        classify::SHARED_MAX_FAILURE_SHARE * 100.0,
        classify::BRUTE_MAX_ACCOUNTS,
        classify::BRUTE_MIN_FAILURES_PER_ACCOUNT,
        classify::MASS_MIN_ACCOUNTS,
        classify::MASS_MAX_ATTEMPTS_PER_ACCOUNT,
        classify::SPRAY_MAX_PASSWORD_SHARE * 100.0,
        classify::STUFFING_MIN_PASSWORD_SHARE * 100.0,
        classify::HASHED_MIN_SHARE * 100.0,
        classify::STUFFING_MIN_UNKNOWN_SHARE * 100.0,
        classify::RULE_MIN_SHARE * 100.0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_read_as_people_expect() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(-1000), "-1,000");
        assert_eq!(cell("failure_rate", AnyValue::Float64(0.1234)), "12.3%");
        assert_eq!(cell("asn", AnyValue::UInt32(15169)), "AS15169");
        assert_eq!(cell("failures", AnyValue::UInt32(12345)), "12,345");
        assert_eq!(cell("class", AnyValue::Null), "-");
        let t = 1_767_571_200_000 + 3_723_000; // 2026-01-05 01:02:03
        assert_eq!(
            cell(
                "first_seen",
                AnyValue::Datetime(t, TimeUnit::Milliseconds, None)
            ),
            "2026-01-05 01:02:03"
        );
        assert_eq!(
            cell(
                "bucket",
                AnyValue::Datetime(t, TimeUnit::Milliseconds, None)
            ),
            "2026-01-05 01:02"
        );
    }

    #[test]
    fn a_terminal_never_sees_control_characters_or_endless_names() {
        assert_eq!(for_terminal("a\u{1b}[2Jb".into()), "a\u{FFFD}[2Jb");
        let long = for_terminal("x".repeat(100));
        assert_eq!(long.chars().count(), MAX_CELL_CHARS);
        assert!(long.ends_with('…'));
    }
}
