//! Labelled sign-in history in: the contract's JSONL, or a CSV, Parquet or
//! JSONL table read with polars and turned into events through a [`Mapping`].
//!
//! A row that cannot become an event (no user, a bad address, a bad time) is
//! reported by line and reason and counted, never dropped silently.

use super::mapping::Mapping;
use crate::event::{
    Event, FailureReason, Kind, Mfa, Outcome, PasswordSha1, Timestamp, MAX_FIELD_BYTES,
};
use anyhow::{bail, Context};
use polars::prelude::{ChunkFullNull, DataFrame, DataType, Int64Chunked, StringChunked, TimeUnit};
#[cfg(test)]
use polars::prelude::{CsvReadOptions, JsonFormat, JsonReader, ParquetReader, Schema, SerReader};
#[cfg(test)]
use std::fs::File;
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
#[cfg(test)]
use std::sync::Arc;

/// How the input file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Jsonl,
    Csv,
    Parquet,
}

impl Format {
    /// From the file's extension.
    pub fn of(path: &Path) -> anyhow::Result<Format> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        Ok(match ext.as_str() {
            "jsonl" | "ndjson" | "json" => Format::Jsonl,
            "csv" => Format::Csv,
            "parquet" | "pq" => Format::Parquet,
            _ => bail!(
                "{}: cannot tell the format from the extension; give --format jsonl, csv or parquet",
                path.display()
            ),
        })
    }
}

/// Rows that could not become events: every one counted, the first few
/// described on the writer (stderr on the command line).
pub struct Rejects<W: Write> {
    out: W,
    shown: u64,
    /// How many are described before only counting.
    pub limit: u64,
    pub count: u64,
}

impl<W: Write> Rejects<W> {
    pub fn new(out: W, limit: u64) -> Rejects<W> {
        Rejects {
            out,
            shown: 0,
            limit,
            count: 0,
        }
    }

    /// Counts a bad row; `place` is e.g. `line 12`.
    pub fn reject(&mut self, place: &str, reason: &str) {
        self.count += 1;
        if self.shown < self.limit {
            self.shown += 1;
            // A failed write to stderr must not stop the evaluation.
            let _ = writeln!(self.out, "{place}: {reason}");
        } else if self.shown == self.limit {
            self.shown += 1;
            let _ = writeln!(
                self.out,
                "(more bad rows are counted but not shown; the summary has the total)"
            );
        }
    }
}

#[cfg(test)]
/// The whole table, every column kept, typed by the mapping's `dtypes` where
/// it gives them.
pub fn read_frame(path: &Path, format: Format, mapping: &Mapping) -> anyhow::Result<DataFrame> {
    let what = || format!("cannot read {}", path.display());
    let frame = match format {
        Format::Csv => {
            let mut schema = Schema::default();
            for (column, dtype) in &mapping.dtypes {
                schema.with_column(column.as_str().into(), dtype_of(dtype));
            }
            CsvReadOptions::default()
                .with_has_header(true)
                .with_schema_overwrite(Some(Arc::new(schema)))
                .with_infer_schema_length(Some(10_000))
                .try_into_reader_with_file_path(Some(path.into()))
                .with_context(what)?
                .finish()
                .with_context(what)?
        }
        Format::Jsonl => {
            let file = File::open(path).with_context(what)?;
            JsonReader::new(file)
                .with_json_format(JsonFormat::JsonLines)
                .finish()
                .with_context(what)?
        }
        Format::Parquet => {
            let file = File::open(path).with_context(what)?;
            ParquetReader::new(file).finish().with_context(what)?
        }
    };
    Ok(frame)
}

pub(super) fn dtype_of(name: &str) -> DataType {
    match name {
        "int" => DataType::Int64,
        "float" => DataType::Float64,
        "bool" => DataType::Boolean,
        _ => DataType::String,
    }
}

/// A column as text, or all-null when an optional column is missing.
fn text(frame: &DataFrame, column: &str, optional: bool) -> anyhow::Result<StringChunked> {
    match frame.column(column) {
        Ok(c) => {
            let s = c
                .as_materialized_series()
                .cast(&DataType::String)
                .with_context(|| format!("column {column:?} cannot be read as text"))?;
            Ok(s.str()?.rechunk().into_owned())
        }
        Err(_) if optional => Ok(StringChunked::full_null(column.into(), frame.height())),
        Err(_) => bail!(
            "the input has no column {column:?} (columns: {})",
            frame
                .get_column_names()
                .iter()
                .map(|c| format!("{c:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Times in milliseconds since the epoch, from a datetime column, or text
/// parsed by the mapping's format (UTC) or as RFC 3339.
enum Times {
    Millis(Int64Chunked),
    Text(StringChunked, Option<String>),
}

impl Times {
    fn of(frame: &DataFrame, mapping: &Mapping) -> anyhow::Result<Times> {
        let column = frame
            .column(&mapping.timestamp)
            .with_context(|| format!("the input has no column {:?}", mapping.timestamp))?;
        if let DataType::Datetime(_, _) = column.dtype() {
            let ms = column
                .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))?
                .cast(&DataType::Int64)?;
            return Ok(Times::Millis(ms.i64()?.rechunk().into_owned()));
        }
        Ok(Times::Text(
            text(frame, &mapping.timestamp, false)?,
            mapping.timestamp_format.clone(),
        ))
    }

    fn get(&self, row: usize) -> Result<Timestamp, String> {
        let ms = match self {
            Times::Millis(c) => c.get(row).ok_or("timestamp is empty")?,
            Times::Text(c, format) => {
                let s = c.get(row).ok_or("timestamp is empty")?;
                match format {
                    None => {
                        return Timestamp::parse_rfc3339(s)
                            .map_err(|e| format!("timestamp {s:?} {e}"))
                    }
                    Some(f) => chrono::NaiveDateTime::parse_from_str(s, f)
                        .map_err(|e| format!("timestamp {s:?} does not match {f:?}: {e}"))?
                        .and_utc()
                        .timestamp_millis(),
                }
            }
        };
        let ms = u64::try_from(ms).map_err(|_| "timestamp is before 1970".to_string())?;
        // Through the contract's parser for its range check.
        Timestamp::parse_rfc3339(&Timestamp(ms).to_rfc3339()).map_err(|e| format!("timestamp {e}"))
    }
}

fn reason_word(word: &str) -> Option<FailureReason> {
    match word {
        "bad_password" => Some(FailureReason::BadPassword),
        "unknown_user" => Some(FailureReason::UnknownUser),
        "mfa_failed" => Some(FailureReason::MfaFailed),
        "locked" => Some(FailureReason::Locked),
        _ => None,
    }
}

/// At most 60 characters of a value, for a message.
fn clip(v: &str) -> &str {
    match v.char_indices().nth(60) {
        Some((i, _)) => &v[..i],
        None => v,
    }
}

/// Where a frame's first row is in the file, for ids and rejections.
#[derive(Debug, Clone, Copy)]
pub struct Place {
    /// The line of the first row (2 for a CSV with a header), so a bad row is
    /// reported where an editor shows it (for rows with no field spanning
    /// lines); for Parquet, the row counted from 1.
    pub first_line: u64,
    /// The first row's index in the file, from 0: the event id of a row when
    /// the mapping has no id column.
    pub first_row: u64,
    /// `line` or `row`.
    pub word: &'static str,
}

impl Place {
    /// A whole file read as one frame.
    #[cfg(test)]
    pub fn whole(format: Format) -> Place {
        match format {
            Format::Csv => Place {
                first_line: 2,
                first_row: 0,
                word: "line",
            },
            Format::Jsonl => Place {
                first_line: 1,
                first_row: 0,
                word: "line",
            },
            Format::Parquet => Place {
                first_line: 1,
                first_row: 0,
                word: "row",
            },
        }
    }
}

/// Turns each row of the frame into an event.
pub fn events_from_frame<W: Write>(
    frame: &DataFrame,
    mapping: &Mapping,
    place: Place,
    rejects: &mut Rejects<W>,
) -> anyhow::Result<Vec<Event>> {
    let opt = |c: &Option<String>| -> anyhow::Result<Option<StringChunked>> {
        match c {
            None => Ok(None),
            Some(c) => text(frame, c, mapping.is_optional(c)).map(Some),
        }
    };
    let ids = opt(&mapping.event_id)?;
    let times = Times::of(frame, mapping)?;
    let users = text(frame, &mapping.user, false)?;
    let ips = text(frame, &mapping.ip, false)?;
    let kinds = opt(&mapping.kind)?;
    let outcomes = text(frame, &mapping.outcome, false)?;
    let agents = opt(&mapping.user_agent)?;
    let devices = opt(&mapping.device_id)?;
    let labels = opt(&mapping.label)?;
    let reasons = opt(&mapping.failure_reason_column)?;
    let hashes = opt(&mapping.password_sha1)?;
    let exists = opt(&mapping.user_exists)?;
    let mfas = opt(&mapping.mfa)?;
    let tenants = opt(&mapping.tenant)?;
    let flags = mapping
        .labels
        .iter()
        .map(|f| Ok((text(frame, &f.column, false)?, f.label.clone())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let failure_reason = mapping.failure_reason.as_deref().and_then(reason_word);
    let mut events = Vec::with_capacity(frame.height());
    for row in 0..frame.height() {
        fn get(c: &Option<StringChunked>, row: usize) -> Option<&str> {
            c.as_ref().and_then(|c| c.get(row))
        }
        let event = (|| -> Result<Event, String> {
            let timestamp = times.get(row)?;
            let user = users.get(row).unwrap_or_default();
            if user.is_empty() {
                return Err("user is empty".into());
            }
            let ip_text = ips.get(row).ok_or("ip is empty")?;
            let ip: IpAddr = ip_text
                .trim()
                .parse()
                .map_err(|_| format!("ip {ip_text:?} is not an IPv4 or IPv6 address"))?;
            let kind = match get(&kinds, row) {
                None | Some("sign_in") => Kind::SignIn,
                Some("sign_up") => Kind::SignUp,
                Some("password_change") => Kind::PasswordChange,
                Some("password_reset") => Kind::PasswordReset,
                Some(k) => return Err(format!("kind {k:?} is not a contract kind")),
            };
            let raw = outcomes.get(row).ok_or("outcome is empty")?;
            let word = if mapping.outcome_values.is_empty() {
                raw.to_string()
            } else {
                mapping
                    .outcome_values
                    .get(&raw.to_ascii_lowercase())
                    .cloned()
                    .ok_or_else(|| {
                        format!("outcome {raw:?} is not in the mapping's outcome_values")
                    })?
            };
            let outcome = match word.as_str() {
                "success" => Outcome::Success,
                "failure" => Outcome::Failure,
                "attempt" => Outcome::Attempt,
                _ => {
                    return Err(format!(
                        "outcome {raw:?} is not success, failure or attempt"
                    ))
                }
            };
            let field = |name: &str, v: Option<&str>| -> Result<Option<String>, String> {
                match v {
                    Some(v) if v.len() > MAX_FIELD_BYTES => Err(format!(
                        "{name} is {} bytes, the limit is {MAX_FIELD_BYTES}",
                        v.len()
                    )),
                    Some(v) if !v.is_empty() => Ok(Some(v.to_string())),
                    _ => Ok(None),
                }
            };
            if user.len() > MAX_FIELD_BYTES {
                return Err(format!(
                    "user is {} bytes, the limit is {MAX_FIELD_BYTES}",
                    user.len()
                ));
            }
            let flagged = flags.iter().find(|(c, _)| {
                c.get(row)
                    .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1"))
            });
            let label = match (get(&labels, row), flagged) {
                (Some(l), _) if !l.is_empty() => Some(l.to_string()),
                (_, Some((_, l))) => Some(l.clone()),
                _ => mapping.default_label.clone(),
            };
            let failure_reason = match get(&reasons, row) {
                Some(r) if !r.is_empty() => Some(reason_word(r).ok_or_else(|| {
                    format!("failure_reason {r:?} is not bad_password, unknown_user, mfa_failed or locked")
                })?),
                _ => failure_reason,
            };
            let password_sha1 = match get(&hashes, row) {
                Some(h) if !h.is_empty() => {
                    let mut bytes = [0u8; 20];
                    hex::decode_to_slice(h.trim(), &mut bytes).map_err(|_| {
                        format!("password_sha1 {:?} is not 40 hex characters", clip(h))
                    })?;
                    Some(PasswordSha1(bytes))
                }
                _ => None,
            };
            let user_exists = match get(&exists, row).map(str::to_ascii_lowercase).as_deref() {
                None | Some("") => None,
                Some("true" | "1") => Some(true),
                Some("false" | "0") => Some(false),
                Some(v) => return Err(format!("user_exists {v:?} is not true or false")),
            };
            let mfa = match get(&mfas, row) {
                None | Some("") => None,
                Some("none") => Some(Mfa::None),
                Some("passed") => Some(Mfa::Passed),
                Some("failed") => Some(Mfa::Failed),
                Some(v) => return Err(format!("mfa {:?} is not none, passed or failed", clip(v))),
            };
            Ok(Event {
                event_id: get(&ids, row).map_or_else(
                    || (place.first_row + row as u64).to_string(),
                    str::to_string,
                ),
                timestamp: Some(timestamp),
                kind,
                user: user.to_string(),
                ip,
                outcome,
                failure_reason: failure_reason.filter(|_| outcome == Outcome::Failure),
                user_agent: field("user_agent", get(&agents, row))?,
                device_id: field("device_id", get(&devices, row))?,
                password_sha1,
                user_exists,
                mfa,
                tenant: field("tenant", get(&tenants, row))?,
                label,
            })
        })();
        match event {
            Ok(e) => events.push(e),
            Err(reason) => rejects.reject(
                &format!("{} {}", place.word, place.first_line + row as u64),
                &reason,
            ),
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests;
