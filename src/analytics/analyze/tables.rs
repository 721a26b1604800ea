//! The campaign tables, computed by polars' lazy engine over the sign-in
//! columns ([`super::columns`]). Users, addresses, networks and countries
//! stay numbers until a table is small (grouped); only then are they turned
//! into text, so no query drags strings along.

use super::classify;
use super::columns::Columns;
use anyhow::Context;
use polars::prelude::{
    col, len, lit, Column, DataFrame, DataType, Expr, IntoLazy, JoinArgs, JoinType, LazyFrame,
    PolarsResult, SortMultipleOptions, TimeUnit, UnionArgs,
};
use std::path::Path;

/// How far back a success looks for the failures that make it a possible
/// takeover.
pub const TAKEOVER_WINDOW_MS: i64 = 24 * 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// Every table of the report. Users, addresses and the rest are text;
/// times are UTC datetimes (ms).
pub struct Tables {
    /// `bucket`, `attempts`, `failures`, `successes`, `challenges`, `blocks`,
    /// every bucket from the first sign-in's to the last's.
    pub timeline: DataFrame,
    /// Per address, network, ASN and country, most failures first.
    pub sources: Vec<(Dimension, DataFrame)>,
    /// Accounts with at least one failure, most failures first.
    pub accounts: DataFrame,
    /// Successes after `--takeover-failures` failures within
    /// [`TAKEOVER_WINDOW_MS`], in time order.
    pub takeovers: DataFrame,
    /// Per source address with a campaign's failures: its class and why.
    pub campaigns: DataFrame,
    /// Per class: sources, attempts, accounts.
    pub classes: DataFrame,
}

/// What sources are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Ip,
    Network,
    Asn,
    Country,
}

impl Dimension {
    pub const ALL: [Dimension; 4] = [
        Dimension::Ip,
        Dimension::Network,
        Dimension::Asn,
        Dimension::Country,
    ];

    /// The column, and the table's name after `sources_`.
    pub fn name(self) -> &'static str {
        match self {
            Dimension::Ip => "ip",
            Dimension::Network => "network",
            Dimension::Asn => "asn",
            Dimension::Country => "country",
        }
    }
}

fn datetime(name: &str) -> Expr {
    col(name).cast(DataType::Datetime(TimeUnit::Milliseconds, None))
}

fn share(a: &str, b: &str) -> Expr {
    col(a).cast(DataType::Float64) / col(b).cast(DataType::Float64)
}

/// Computes every table. `events` from [`Columns::take_frame`], `columns`
/// for its dictionaries, `span` the first and last sign-in's time (ms).
pub fn compute(
    events: LazyFrame,
    columns: &Columns,
    span: (i64, i64),
    bucket_ms: i64,
    takeover_failures: u32,
) -> anyhow::Result<Tables> {
    let places = columns.places_frame()?;
    let campaigns = classify::campaigns(events.clone())
        .sort_by_exprs(
            [col("failures"), col("attempts"), col("ip")],
            SortMultipleOptions::default().with_order_descending_multi([true, true, false]),
        )
        .collect()
        .context("cannot classify the sources")?;
    let classes = classify::classes(events.clone(), campaigns.clone().lazy())
        .sort_by_exprs(
            [col("attempts"), col("class")],
            SortMultipleOptions::default().with_order_descending_multi([true, false]),
        )
        .collect()
        .context("cannot summarize the classes")?;
    let mut sources = Vec::new();
    for dim in Dimension::ALL {
        let mut df = sources_by(events.clone(), places.clone(), dim)
            .collect()
            .with_context(|| format!("cannot compute the sources by {}", dim.name()))?;
        if dim == Dimension::Ip {
            df = df
                .lazy()
                .left_join(places.clone(), col("ip"), col("ip"))
                .left_join(
                    campaigns.clone().lazy().select([col("ip"), col("class")]),
                    col("ip"),
                    col("ip"),
                )
                .collect()?;
        }
        sources.push((dim, df));
    }
    let mut tables = Tables {
        timeline: timeline(events.clone(), Some(span), bucket_ms)
            .collect()
            .context("cannot compute the timeline")?,
        sources,
        accounts: accounts(events.clone())
            .collect()
            .context("cannot compute the accounts")?,
        takeovers: takeovers(events.clone(), takeover_failures)
            .and_then(LazyFrame::collect)
            .context("cannot look for takeovers")?,
        campaigns: campaigns
            .lazy()
            .left_join(places, col("ip"), col("ip"))
            .select(
                [
                    "ip",
                    "class",
                    "attempts",
                    "failures",
                    "successes",
                    "accounts",
                    "accounts_succeeded",
                    "attempts_per_account",
                    "failures_per_account",
                    "unknown_user_failures",
                    "unknown_user_share",
                    "hashed",
                    "hashed_share",
                    "passwords",
                    "password_share",
                    "brute_reasons",
                    "brute_reason_share",
                    "stuffing_reasons",
                    "stuffing_reason_share",
                    "spray_reasons",
                    "spray_reason_share",
                    "first_seen",
                    "last_seen",
                    "network",
                    "asn",
                    "country",
                ]
                .map(col),
            )
            .collect()?,
        classes,
    };
    decode_all(&mut tables, columns)?;
    Ok(tables)
}

/// Sign-ins per time bucket, empty buckets included (as zeros).
pub fn timeline(events: LazyFrame, span: Option<(i64, i64)>, bucket_ms: i64) -> LazyFrame {
    let floor = |t: i64| t - t.rem_euclid(bucket_ms);
    let all: Vec<i64> = match span {
        Some((first, last)) => (floor(first)..=floor(last))
            .step_by(bucket_ms as usize)
            .collect(),
        None => Vec::new(),
    };
    let buckets = DataFrame::new(all.len(), vec![Column::new("bucket".into(), all)])
        .expect("one column")
        .lazy();
    let counts = events
        .with_column((col("t") - col("t") % lit(bucket_ms)).alias("bucket"))
        .group_by([col("bucket")])
        .agg([
            len().alias("attempts"),
            col("failure").sum().alias("failures"),
            col("success").sum().alias("successes"),
            col("action").eq(lit(1u32)).sum().alias("challenges"),
            col("action").eq(lit(2u32)).sum().alias("blocks"),
        ]);
    let counted = ["attempts", "failures", "successes", "challenges", "blocks"];
    buckets
        .left_join(counts, col("bucket"), col("bucket"))
        .with_columns(
            counted
                .iter()
                .map(|c| col(*c).fill_null(lit(0u32)))
                .collect::<Vec<_>>(),
        )
        .sort(["bucket"], SortMultipleOptions::default())
        .with_column(datetime("bucket"))
}

/// Sign-ins per source, by `dim`.
fn sources_by(events: LazyFrame, places: LazyFrame, dim: Dimension) -> LazyFrame {
    let events = match dim {
        Dimension::Ip => events,
        _ => events.left_join(
            places.select([col("ip"), col(dim.name())]),
            col("ip"),
            col("ip"),
        ),
    };
    events
        .group_by([col(dim.name())])
        .agg([
            len().alias("attempts"),
            col("failure").sum().alias("failures"),
            col("user").n_unique().alias("accounts"),
            col("success").sum().alias("successes"),
            col("action").eq(lit(2u32)).sum().alias("blocked"),
            col("t").min().alias("first_seen"),
            col("t").max().alias("last_seen"),
        ])
        .with_columns([
            share("failures", "attempts").alias("failure_rate"),
            share("blocked", "attempts").alias("blocked_share"),
            datetime("first_seen"),
            datetime("last_seen"),
        ])
        .select([
            col(dim.name()),
            col("attempts"),
            col("failures"),
            col("failure_rate"),
            col("accounts"),
            col("successes"),
            col("blocked"),
            col("blocked_share"),
            col("first_seen"),
            col("last_seen"),
        ])
        .sort_by_exprs(
            [col("failures"), col("attempts"), col(dim.name())],
            SortMultipleOptions::default()
                .with_order_descending_multi([true, true, false])
                .with_nulls_last(true),
        )
}

/// Accounts with failures: how hard and from how many addresses they were
/// tried, and whether anyone signed in.
pub fn accounts(events: LazyFrame) -> LazyFrame {
    events
        .group_by([col("user")])
        .agg([
            len().alias("attempts"),
            col("failure").sum().alias("failures"),
            col("ip").n_unique().alias("source_ips"),
            col("ip")
                .filter(col("failure"))
                .n_unique()
                .alias("failure_ips"),
            col("success").sum().alias("successes"),
            col("unknown_user").sum().alias("unknown_user_failures"),
            col("action").eq(lit(2u32)).sum().alias("blocked"),
            col("t").min().alias("first_seen"),
            col("t").max().alias("last_seen"),
        ])
        .filter(col("failures").gt(lit(0)))
        .with_columns([datetime("first_seen"), datetime("last_seen")])
        .sort_by_exprs(
            [col("failures"), col("attempts"), col("user")],
            SortMultipleOptions::default().with_order_descending_multi([true, true, false]),
        )
}

/// Possible takeovers: each success of an account that failed at least
/// `min_failures` times in the [`TAKEOVER_WINDOW_MS`] before it (up to the
/// same millisecond) and since its previous success, with the failures'
/// count and addresses and what the engine did on the success; most
/// failures first. A success answers the failures before it: the next
/// success of the account needs failures of its own, so one burst of
/// mistyping is not listed once per later sign-in.
///
/// Pairs each success with its account's failures of the same and the
/// previous UTC day only (the window is one day), so an account failing all
/// year does not pair every success with every failure.
pub fn takeovers(events: LazyFrame, min_failures: u32) -> PolarsResult<LazyFrame> {
    let day = |t: &str| col(t) - col(t) % lit(DAY_MS);
    // Only accounts that ever failed often enough and ever succeeded.
    let candidates = events
        .clone()
        .group_by([col("user")])
        .agg([
            col("failure").sum().alias("f"),
            col("success").sum().alias("s"),
        ])
        .filter(col("f").gt_eq(lit(min_failures)).and(col("s").gt(lit(0))))
        .select([col("user")]);
    let successes = events
        .clone()
        .with_row_index("row", None)
        .filter(col("success"))
        .inner_join(candidates.clone(), col("user"), col("user"))
        .select([
            col("row"),
            col("user"),
            col("t").alias("success_at"),
            col("ip"),
            col("action"),
            day("t").alias("day"),
            (day("t") - lit(DAY_MS)).alias("day_before"),
        ])
        .sort(
            ["user", "success_at", "row"],
            SortMultipleOptions::default(),
        )
        .with_column(
            col("success_at")
                .shift(lit(1))
                .over([col("user")])?
                .alias("previous_success"),
        );
    let failures = events
        .filter(col("failure"))
        .inner_join(candidates, col("user"), col("user"))
        .select([
            col("user"),
            col("t").alias("failed_at"),
            col("ip").alias("failure_ip"),
            day("t").alias("failure_day"),
        ]);
    let on = |d: &str| {
        successes.clone().join(
            failures.clone(),
            [col("user"), col(d)],
            [col("user"), col("failure_day")],
            JoinArgs::new(JoinType::Inner),
        )
    };
    let pairs = polars::prelude::concat([on("day"), on("day_before")], UnionArgs::default())
        .expect("both sides have the same columns");
    Ok(pairs
        .filter(
            col("failed_at")
                .lt_eq(col("success_at"))
                .and(col("failed_at").gt_eq(col("success_at") - lit(TAKEOVER_WINDOW_MS)))
                .and(
                    col("previous_success")
                        .is_null()
                        .or(col("failed_at").gt(col("previous_success"))),
                ),
        )
        .group_by([col("row")])
        .agg([
            col("user").first(),
            col("success_at").first(),
            col("ip").first(),
            col("action").first(),
            len().alias("failures_before"),
            col("failure_ip").n_unique().alias("failure_ips"),
            col("failure_ip")
                .eq(col("ip"))
                .sum()
                .alias("failures_from_success_ip"),
        ])
        .filter(col("failures_before").gt_eq(lit(min_failures)))
        .sort_by_exprs(
            [col("failures_before"), col("success_at"), col("row")],
            SortMultipleOptions::default().with_order_descending_multi([true, false, false]),
        )
        .select([
            col("user"),
            datetime("success_at"),
            col("ip"),
            col("failures_before"),
            col("failure_ips"),
            col("failures_from_success_ip"),
            col("action"),
        ]))
}

/// Replaces a column of numbers by their text (`None` stays null).
fn decode(df: &mut DataFrame, name: &str, text: impl Fn(u32) -> String) -> anyhow::Result<()> {
    let Ok(column) = df.column(name) else {
        return Ok(());
    };
    let values: Vec<Option<String>> = column
        .u32()
        .with_context(|| format!("column {name} is not a number"))?
        .iter()
        .map(|id| id.map(&text))
        .collect();
    df.with_column(Column::new(name.into(), values))?;
    Ok(())
}

fn decode_all(t: &mut Tables, c: &Columns) -> anyhow::Result<()> {
    let ip = |id: u32| c.ips.values[id as usize].to_string();
    let user = |id: u32| c.users.values[id as usize].clone();
    let network = |id: u32| c.networks.values[id as usize].clone();
    let country = |id: u32| c.countries.values[id as usize].clone();
    let action = |a: u32| ["allow", "challenge", "block"][a as usize].to_string();
    for (_, df) in t.sources.iter_mut() {
        decode(df, "ip", ip)?;
        decode(df, "network", network)?;
        decode(df, "country", country)?;
    }
    decode(&mut t.campaigns, "ip", ip)?;
    decode(&mut t.campaigns, "network", network)?;
    decode(&mut t.campaigns, "country", country)?;
    t.campaigns = t
        .campaigns
        .clone()
        .lazy()
        .with_columns([datetime("first_seen"), datetime("last_seen")])
        .collect()?;
    decode(&mut t.accounts, "user", user)?;
    decode(&mut t.takeovers, "user", user)?;
    decode(&mut t.takeovers, "ip", ip)?;
    decode(&mut t.takeovers, "action", action)?;
    Ok(())
}

/// The table files, by name (without the extension).
pub fn named(t: &Tables) -> Vec<(String, &DataFrame)> {
    let mut out = vec![("timeline".to_string(), &t.timeline)];
    for (dim, df) in &t.sources {
        out.push((format!("sources_{}", dim.name()), df));
    }
    out.push(("accounts".to_string(), &t.accounts));
    out.push(("takeovers".to_string(), &t.takeovers));
    out.push(("campaigns".to_string(), &t.campaigns));
    out.push(("classes".to_string(), &t.classes));
    out
}

/// Writes every table into `dir` as CSV or Parquet; the paths written.
pub fn write(t: &Tables, dir: &Path, parquet: bool) -> anyhow::Result<Vec<std::path::PathBuf>> {
    use polars::prelude::{CsvWriter, ParquetWriter, SerWriter};
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    for (name, df) in named(t) {
        let path = dir.join(format!(
            "{name}.{}",
            if parquet { "parquet" } else { "csv" }
        ));
        let file = std::fs::File::create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut df = df.clone();
        let wrote = if parquet {
            ParquetWriter::new(file).finish(&mut df).map(|_| ())
        } else {
            CsvWriter::new(file).include_header(true).finish(&mut df)
        };
        wrote.with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
pub(super) mod tests;
