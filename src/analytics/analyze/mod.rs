//! `palisade analyze`: an attack-campaign report over sign-in history. Which
//! addresses, networks, ASNs and countries attacked, when, against which
//! accounts, with which kind of attack (brute force, credential stuffing,
//! password spraying), which accounts may have been taken over, and what the
//! engine did about it.
//!
//! Every event goes through the engine in time order, as in `evaluate`, for
//! its action (in audit mode, and for audited rules, the action that would
//! have been taken) and its reasons. Each sign-in (every `sign_in` event:
//! asks before the password check and outcomes alike) becomes a row of
//! compact columns ([`columns`]; about [`columns::BYTES_PER_EVENT`] bytes a
//! sign-in, held until the report is done); polars' lazy engine computes the
//! tables from them ([`tables`], [`classify`]). Other kinds of event go
//! through the engine, since they change its state, and are only counted.
//!
//! The report is a terminal summary, and on request every table as CSV or
//! Parquet (`--tables`) and one self-contained HTML page with SVG charts
//! (`--html`).

mod charts;
mod classify;
mod columns;
mod html;
mod report;
mod tables;

use super::history::{self, HistoryArgs};
use crate::config::Config;
use crate::engine::{Engine, EngineParts};
use anyhow::Context;
use clap::{Args, ValueEnum};
use columns::Columns;
use std::path::PathBuf;
use std::time::Duration;

/// Rows a table can show in the summary and the HTML page: the page stays
/// small enough for any browser; the table files hold every row.
pub const MAX_TOP: u32 = 1000;
/// Timeline buckets at most, so a chart and its table stay readable.
pub const MAX_BUCKETS: i64 = 10_000;
/// The shortest bucket: event times are milliseconds, reports are not.
pub const MIN_BUCKET: Duration = Duration::from_secs(1);

#[derive(Args)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Write every table into this folder (created if missing): timeline,
    /// sources_ip, sources_network, sources_asn, sources_country, accounts,
    /// takeovers, campaigns, classes; every row, not only the top.
    #[arg(long, value_name = "DIR")]
    pub tables: Option<PathBuf>,
    /// The tables' file format.
    #[arg(long, value_enum, default_value_t = TableFormat::Csv)]
    pub table_format: TableFormat,
    /// Write the report as one self-contained HTML page (charts as inline SVG).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Rows shown per table in the summary and the HTML page.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_TOP)))]
    pub top: u32,
    /// The timeline's bucket, such as 15m, 1h or 1day [default: from the
    /// history's span: 15m up to a day, 1h up to a week, 6h up to a month,
    /// 1day up to a year, else 7days].
    #[arg(long, value_parser = parse_bucket)]
    pub bucket: Option<Duration>,
    /// A success after at least this many failures of the account in the 24
    /// hours before it (and since its previous success) is a possible takeover.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub takeover_failures: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TableFormat {
    Csv,
    Parquet,
}

fn parse_bucket(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("{s:?} is not a duration such as 15m, 1h or 1day: {e}"))?;
    if d < MIN_BUCKET {
        return Err(format!(
            "{s:?} is shorter than {}, the shortest bucket",
            humantime::format_duration(MIN_BUCKET)
        ));
    }
    Ok(d)
}

/// The bucket for a history spanning `span_ms`: a few dozen to a few
/// hundred buckets.
pub fn default_bucket(span_ms: i64) -> Duration {
    const HOUR: u64 = 3600;
    const DAY: i64 = 86_400_000;
    let secs = match span_ms {
        s if s <= DAY => 15 * 60,
        s if s <= 7 * DAY => HOUR,
        s if s <= 31 * DAY => 6 * HOUR,
        s if s <= 366 * DAY => 24 * HOUR,
        _ => 7 * 24 * HOUR,
    };
    Duration::from_secs(secs)
}

/// What was read, for the report's first lines.
#[derive(Debug, Default)]
pub struct Summary {
    pub input: String,
    pub events: u64,
    pub rejected: u64,
    pub sign_ins: u64,
    pub other_kinds: u64,
    pub untimed: u64,
    pub sorted: bool,
    pub span: (i64, i64),
    pub bucket: Duration,
    pub rules_version: String,
    pub model_version: String,
    pub audit: bool,
    /// Why country or ASN are unknown, if they are.
    pub geo_note: Option<String>,
    pub top: usize,
    pub takeover_failures: u32,
}

/// Runs the command; an `Err` from the engine's configuration is the
/// caller's to turn into exit code 64.
pub fn run(args: &AnalyzeArgs, config: &Config) -> Result<(), crate::failure::Failure> {
    let parts = match EngineParts::from_config(config) {
        Ok(p) => p,
        Err(e) => return Err(crate::failure::Failure::refused([e])),
    };
    // Outputs are checked before the history is read, so a bad path fails
    // before an hour's work.
    if let Some(dir) = &args.tables {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--tables: cannot create {}", dir.display()))?;
    }
    let html_file = match &args.html {
        Some(p) => Some(
            std::fs::File::create(p)
                .with_context(|| format!("--html: cannot create {}", p.display()))?,
        ),
        None => None,
    };
    eprintln!("palisade analyze: {}", parts.describe());
    let families = columns::families(&parts);
    let mut first = Some(parts);
    let ordered = history::in_time_order(
        &args.history,
        "analyze",
        "analyzing",
        config.limits.recent_event_ids,
        &mut || {
            let parts = match first.take() {
                Some(p) => p,
                None => EngineParts::from_config(config).map_err(|e| anyhow::anyhow!("{e}"))?,
            };
            Ok((Engine::new(parts), Columns::default()))
        },
        &mut |(engine, columns), e| {
            let d = engine.evaluate(e);
            columns.push(e, &d, &families, engine.geoip());
        },
    )?;
    history::report_rejected("analyze", &ordered.read);
    let (engine, mut columns) = ordered.state;
    let read = ordered.read;
    let Some(span) = columns.span() else {
        return Err(anyhow::anyhow!(
            "{}: no sign-in events to analyze ({} event{} read, {} of other kinds; {} row{} rejected)",
            args.history.input.display(),
            read.events,
            if read.events == 1 { "" } else { "s" },
            columns.other_kinds,
            read.rejected,
            if read.rejected == 1 { "" } else { "s" },
        ).into());
    };
    let bucket = args
        .bucket
        .unwrap_or_else(|| default_bucket(span.1 - span.0));
    let bucket_ms = bucket.as_millis().min(i64::MAX as u128) as i64;
    let buckets = (span.1 - span.0) / bucket_ms + 1;
    if buckets > MAX_BUCKETS {
        return Err(anyhow::anyhow!(
            "--bucket {} gives {buckets} buckets over the history's {}; at most {MAX_BUCKETS}: choose a longer bucket",
            humantime::format_duration(bucket),
            report::span_text(span.1 - span.0),
        ).into());
    }
    let geo = engine.geoip();
    let geo_note = match (columns.has_country(), columns.has_asn()) {
        (true, true) => None,
        (country, asn) => Some(geo_note(country, asn, geo.has_city(), geo.has_asn())),
    };
    let summary = Summary {
        input: args.history.input.display().to_string(),
        events: read.events,
        rejected: read.rejected,
        sign_ins: columns.len() as u64,
        other_kinds: columns.other_kinds,
        untimed: columns.untimed,
        sorted: ordered.sorted,
        span,
        bucket,
        rules_version: engine.rules_version().to_string(),
        model_version: engine.model_version().to_string(),
        audit: config.mode == crate::config::Mode::Audit,
        geo_note,
        top: args.top as usize,
        takeover_failures: args.takeover_failures,
    };
    drop(engine);
    eprintln!(
        "palisade analyze: {} sign-ins held as columns (about {})",
        report::thousands(columns.len() as i64),
        bytesize::ByteSize::b(columns.len() as u64 * columns::BYTES_PER_EVENT)
    );
    let frame = columns.take_frame()?;
    let tables = tables::compute(frame, &columns, span, bucket_ms, args.takeover_failures)?;
    super::print_report(&report::terminal(&summary, &tables))?;
    if let Some(dir) = &args.tables {
        let written = tables::write(&tables, dir, args.table_format == TableFormat::Parquet)?;
        eprintln!(
            "palisade analyze: {} tables in {}",
            written.len(),
            dir.display()
        );
    }
    if let (Some(path), Some(file)) = (&args.html, html_file) {
        let page = html::page(&summary, &tables)?;
        use std::io::Write;
        let mut file = std::io::BufWriter::new(file);
        file.write_all(page.as_bytes())
            .and_then(|()| file.flush())
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!(
            "palisade analyze: report in {} ({})",
            path.display(),
            bytesize::ByteSize::b(page.len() as u64)
        );
    }
    Ok(())
}

/// Why country or ASN is unknown: no database configured, or the database
/// knew none of the addresses.
fn geo_note(country: bool, asn: bool, city_db: bool, asn_db: bool) -> String {
    let why = |known: bool, db: bool, what: &str, flag: &str| match (known, db) {
        (true, _) => None,
        (false, false) => Some(format!("{what} unknown: no database configured ({flag})")),
        (false, true) => Some(format!(
            "{what} unknown: the {flag} database knows none of the addresses"
        )),
    };
    [
        why(country, city_db, "country", "--geoip-city"),
        why(asn, asn_db, "ASN", "--geoip-asn"),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_bucket_grows_with_the_span() {
        let day = 86_400_000;
        assert_eq!(default_bucket(0), Duration::from_secs(900));
        assert_eq!(default_bucket(day), Duration::from_secs(900));
        assert_eq!(default_bucket(3 * day), Duration::from_secs(3600));
        assert_eq!(default_bucket(7 * day), Duration::from_secs(3600));
        assert_eq!(default_bucket(30 * day), Duration::from_secs(6 * 3600));
        assert_eq!(default_bucket(200 * day), Duration::from_secs(86_400));
        assert_eq!(default_bucket(800 * day), Duration::from_secs(7 * 86_400));
    }

    #[test]
    fn a_bucket_must_be_a_duration_of_a_second_or_more() {
        assert_eq!(parse_bucket("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_bucket("1day"), Ok(Duration::from_secs(86_400)));
        let e = parse_bucket("soon").unwrap_err();
        assert!(e.contains("\"soon\" is not a duration"), "{e}");
        let e = parse_bucket("10ms").unwrap_err();
        assert!(e.contains("shorter than 1s"), "{e}");
    }

    #[test]
    fn the_geo_note_says_which_database_is_missing() {
        assert_eq!(
            geo_note(false, false, false, false),
            "country unknown: no database configured (--geoip-city); ASN unknown: no database configured (--geoip-asn)"
        );
        assert_eq!(
            geo_note(true, false, true, true),
            "ASN unknown: the --geoip-asn database knows none of the addresses"
        );
    }
}
