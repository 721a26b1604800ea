//! Sign-in history in, for the analytics commands: the contract's JSONL, or a
//! CSV, Parquet or JSONL table read by polars and turned into events through
//! a column [`Mapping`].
//!
//! History is streamed, never held whole: JSONL line by line through the
//! engine's own decoder, tables in batches of [`BATCH_ROWS`] rows from a lazy
//! polars scan run on its streaming engine, reading only the columns the
//! mapping names (a table's other columns are never decoded). A command that
//! needs time order streams once and, if an event comes earlier than the one
//! before it, reads again with [`load_sorted`], which holds every event.
//!
//! A row that cannot become an event is reported by line (JSONL, CSV) or row
//! (Parquet) with its reason, and counted; the first [`REJECTS_SHOWN`] are
//! described on stderr.

pub mod input;
pub mod mapping;
mod ordered;

use crate::event::Event;
use anyhow::{bail, Context};
use clap::Args;
pub use input::{Format, Rejects};
pub use mapping::Mapping;
pub use ordered::in_time_order;
use polars::prelude::{
    col, DataFrame, Engine, LazyCsvReader, LazyFileListReader, LazyFrame, LazyJsonLineReader,
    ParquetReader, PlRefPath, PlanCallback, PolarsResult, ScanArgsParquet, Schema, SerReader,
};
use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};

/// Bad rows described on stderr before only counting them.
pub const REJECTS_SHOWN: u64 = 20;

/// Rows per batch from a table: big enough that polars' per-batch cost
/// vanishes, small enough that a batch of wide rows stays a few tens of MB.
pub const BATCH_ROWS: usize = 100_000;

/// Where the history is and how to read it; every analytics command takes these.
#[derive(Args, Clone, Debug)]
pub struct HistoryArgs {
    /// Sign-in history: the contract's events as JSONL (`palisade simulate`),
    /// or a CSV or Parquet table (with `--mapping` for a foreign schema).
    #[arg(long)]
    pub input: PathBuf,
    /// The input's layout [default: from the extension].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Column mapping for a foreign schema: `rba` (the das-group
    /// risk-based-authentication dataset) or a mapping TOML file [default:
    /// the contract's field names].
    #[arg(long)]
    pub mapping: Option<String>,
}

/// What `each` tells the reader after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Go,
    Stop,
}

/// What a read delivered.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    /// Events given to `each`.
    pub events: u64,
    /// Rows or lines that could not become events.
    pub rejected: u64,
    /// Whether `each` stopped the read.
    pub stopped: bool,
}

impl HistoryArgs {
    pub fn format(&self) -> anyhow::Result<Format> {
        match self.format {
            Some(f) => Ok(f),
            None => Format::of(&self.input),
        }
    }

    /// Streams every event in file order to `each`, with a progress bar on
    /// stderr (when it is a terminal) labelled `what`.
    pub fn stream(&self, what: &str, each: &mut dyn FnMut(Event) -> Flow) -> anyhow::Result<Tally> {
        let mut rejects = Rejects::new(io::stderr().lock(), REJECTS_SHOWN);
        let read = self.stream_to(what, &mut rejects, each)?;
        Ok(Tally {
            rejected: rejects.count,
            ..read
        })
    }

    /// [`HistoryArgs::stream`] with bad rows described on `rejects`.
    pub fn stream_to<W: Write>(
        &self,
        what: &str,
        rejects: &mut Rejects<W>,
        each: &mut dyn FnMut(Event) -> Flow,
    ) -> anyhow::Result<Tally> {
        let format = self.format()?;
        let before = rejects.count;
        let mut read = match (format, &self.mapping) {
            (Format::Jsonl, None) => stream_contract_jsonl(&self.input, what, rejects, each)?,
            (format, mapping) => {
                let mapping = match mapping {
                    Some(m) => Mapping::load(m)?,
                    None => Mapping::contract(),
                };
                stream_table(
                    &self.input,
                    format,
                    &mapping,
                    BATCH_ROWS,
                    what,
                    rejects,
                    each,
                )?
            }
        };
        read.rejected = rejects.count - before;
        Ok(read)
    }
}

/// Every event, in time order (a stable sort: events of one millisecond keep
/// their file order), and whether the file was out of order. Holds the whole
/// history: about 0.5 KB an event.
pub fn load_sorted(args: &HistoryArgs, what: &str) -> anyhow::Result<(Vec<Event>, Tally, bool)> {
    let mut events = Vec::new();
    let read = args.stream(what, &mut |e| {
        events.push(e);
        Flow::Go
    })?;
    let sorted = !events.windows(2).all(|w| w[0].timestamp <= w[1].timestamp);
    if sorted {
        events.sort_by_key(|e| e.timestamp);
    }
    Ok((events, read, sorted))
}

/// Says on stderr how many rows were bad, if any.
pub fn report_rejected(command: &str, read: &Tally) {
    if read.rejected > 0 {
        eprintln!(
            "palisade {command}: {} row{} could not become events (see above); the rest are used",
            read.rejected,
            if read.rejected == 1 { "" } else { "s" }
        );
    }
}

/// A progress bar on stderr when it is a terminal: `len` units (bytes or
/// rows) with rate and ETA, or a spinner with the rate when `len` is unknown.
pub fn progress(what: &str, len: Option<u64>, unit: &str) -> Option<indicatif::ProgressBar> {
    if !io::stderr().is_terminal() {
        return None;
    }
    let (bar, template) = match len {
        Some(n) => (
            indicatif::ProgressBar::new(n),
            format!("{what}: {{bar:40}} {{percent}}% {{human_pos}}/{{human_len}} {unit} {{per_sec}} eta {{eta}}"),
        ),
        None => (
            indicatif::ProgressBar::new_spinner(),
            format!("{what}: {{spinner}} {{human_pos}} {unit} {{per_sec}} {{elapsed}}"),
        ),
    };
    let template = if unit == "bytes" {
        template
            .replace("{human_pos}/{human_len}", "{bytes}/{total_bytes}")
            .replace("{per_sec}", "{bytes_per_sec}")
    } else {
        template
    };
    bar.set_style(indicatif::ProgressStyle::with_template(&template).expect("a valid template"));
    Some(bar)
}

/// Counts the bytes read through it, for the progress bar.
struct Counted<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Lines decoded per batch handed from the decoding thread to the caller's.
const LINES_PER_BATCH: usize = 4096;

/// One batch of decoded lines: each event, or the line number and why it was
/// rejected; and how far into the file the batch ends, in bytes.
struct Decoded {
    lines: Vec<Result<Event, (u64, String)>>,
    bytes: u64,
}

/// The contract's JSONL, decoded by the engine's own strict decoder line by
/// line. Not polars: its JSON reader fails a whole file on one bad line, and
/// the contract wants each one reported and counted. A second thread reads
/// and decodes while the caller's thread runs `each`, so decoding costs no
/// wall time when `each` is the slower (a whole engine per event).
fn stream_contract_jsonl<W: Write>(
    path: &Path,
    what: &str,
    rejects: &mut Rejects<W>,
    each: &mut dyn FnMut(Event) -> Flow,
) -> anyhow::Result<Tally> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = file.metadata().map(|m| m.len()).ok();
    let (send, batches) = mpsc::sync_channel::<io::Result<Decoded>>(4);
    let bar = progress(what, len, "bytes");
    let mut read = Tally::default();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        std::thread::Builder::new()
            .name("jsonl-decode".into())
            .spawn_scoped(scope, move || decode_lines(file, &send))
            .context("cannot start the decoding thread")?;
        'batches: for batch in batches.iter() {
            let batch = batch.with_context(|| format!("cannot read {}", path.display()))?;
            for line in batch.lines {
                match line {
                    Ok(e) => {
                        read.events += 1;
                        if each(e) == Flow::Stop {
                            read.stopped = true;
                            break 'batches;
                        }
                    }
                    Err((line_no, why)) => rejects.reject(&format!("line {line_no}"), &why),
                }
            }
            if let Some(b) = &bar {
                b.set_position(batch.bytes);
            }
        }
        // Dropping the receiver ends the decoding thread at its next send.
        drop(batches);
        Ok(())
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(read)
}

/// The decoding thread: reads `file` line by line and sends batches of
/// decoded lines until the end, a read error, or a closed channel.
fn decode_lines(file: File, send: &mpsc::SyncSender<io::Result<Decoded>>) {
    let mut reader = BufReader::with_capacity(
        1 << 20,
        Counted {
            inner: file,
            bytes: 0,
        },
    );
    let mut line = Vec::new();
    let mut line_no = 0u64;
    let mut lines = Vec::with_capacity(LINES_PER_BATCH);
    loop {
        line.clear();
        let n = match reader.read_until(b'\n', &mut line) {
            Ok(n) => n,
            Err(e) => {
                let _ = send.send(Err(e));
                return;
            }
        };
        if n > 0 {
            line_no += 1;
            let text = line.trim_ascii();
            if !text.is_empty() {
                lines.push(Event::from_json(text).map_err(|e| (line_no, e.to_string())));
            }
        }
        if lines.len() == LINES_PER_BATCH || (n == 0 && !lines.is_empty()) {
            let batch = Decoded {
                lines: std::mem::replace(&mut lines, Vec::with_capacity(LINES_PER_BATCH)),
                bytes: reader.get_ref().bytes,
            };
            if send.send(Ok(batch)).is_err() {
                return;
            }
        }
        if n == 0 {
            return;
        }
    }
}

/// A lazy scan of the table, typed by the mapping's `dtypes` where it gives
/// them, reading only the columns the mapping names.
pub fn scan(path: &Path, format: Format, mapping: &Mapping) -> anyhow::Result<LazyFrame> {
    let what = || format!("cannot read {}", path.display());
    let source = PlRefPath::try_from_path(path).with_context(what)?;
    let mut frame = match format {
        Format::Csv => {
            let mut schema = Schema::default();
            for (column, dtype) in &mapping.dtypes {
                schema.with_column(column.as_str().into(), input::dtype_of(dtype));
            }
            LazyCsvReader::new(source)
                .with_has_header(true)
                .with_dtype_overwrite(Some(Arc::new(schema)))
                .with_infer_schema_length(Some(10_000))
                .finish()
                .with_context(what)?
        }
        Format::Jsonl => LazyJsonLineReader::new(source)
            .with_infer_schema_length(NonZeroUsize::new(10_000))
            .finish()
            .with_context(what)?,
        Format::Parquet => {
            LazyFrame::scan_parquet(source, ScanArgsParquet::default()).with_context(what)?
        }
    };
    let schema = frame.collect_schema().with_context(what)?;
    let mut columns = Vec::new();
    for c in mapping.columns() {
        if schema.contains(c) {
            if !columns.contains(&c) {
                columns.push(c);
            }
        } else if !mapping.is_optional(c) {
            bail!(
                "{}: no column {c:?}, which the mapping needs (columns: {})",
                path.display(),
                schema
                    .iter_names()
                    .map(|c| format!("{c:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    Ok(frame.select(columns.iter().map(|c| col(*c)).collect::<Vec<_>>()))
}

/// A table through polars' streaming engine, in order, a batch at a time.
fn stream_table<W: Write>(
    path: &Path,
    format: Format,
    mapping: &Mapping,
    batch_rows: usize,
    what: &str,
    rejects: &mut Rejects<W>,
    each: &mut dyn FnMut(Event) -> Flow,
) -> anyhow::Result<Tally> {
    let frame = scan(path, format, mapping)?;
    let (send, batches) = mpsc::sync_channel::<PolarsResult<DataFrame>>(2);
    let (rows, runner) = if format == Format::Parquet {
        let groups = row_groups(path)?;
        let rows = groups.iter().sum::<u64>();
        let runner = std::thread::Builder::new()
            .name("parquet-read".into())
            .spawn(move || read_row_groups(frame, &groups, batch_rows, &send))
            .context("cannot start the reading thread")?;
        (Some(rows), runner)
    } else {
        let sink = frame
            .sink_batches(
                // A closed channel (the reader stopped) ends the query.
                PlanCallback::new(move |df| Ok(send.send(Ok(df)).is_err())),
                true,
                NonZeroUsize::new(batch_rows),
            )
            .with_context(|| format!("cannot read {}", path.display()))?;
        let runner = std::thread::Builder::new()
            .name("polars-scan".into())
            .spawn(move || sink.collect_with_engine(Engine::Streaming).map(|_| ()))
            .context("cannot start the reading thread")?;
        (None, runner)
    };
    // The line a CSV row is on, after the header; JSONL rows are lines;
    // Parquet has rows, counted from 1.
    let (first_line, place) = match format {
        Format::Csv => (2, "line"),
        Format::Jsonl => (1, "line"),
        Format::Parquet => (1, "row"),
    };
    let bar = progress(what, rows, "rows");
    let mut read = Tally::default();
    let mut offset = 0u64;
    'batches: for batch in batches.iter() {
        let batch = batch.with_context(|| format!("cannot read {}", path.display()))?;
        let events = input::events_from_frame(
            &batch,
            mapping,
            input::Place {
                first_line: first_line + offset,
                first_row: offset,
                word: place,
            },
            rejects,
        )?;
        offset += batch.height() as u64;
        for e in events {
            read.events += 1;
            if each(e) == Flow::Stop {
                read.stopped = true;
                break 'batches;
            }
        }
        if let Some(b) = &bar {
            b.set_position(offset);
        }
    }
    // Dropping the receiver ends a query that is still running.
    drop(batches);
    let ran = runner
        .join()
        .map_err(|_| anyhow::anyhow!("the polars reading thread panicked"))?;
    if !read.stopped {
        ran.with_context(|| format!("cannot read {}", path.display()))?;
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(read)
}

/// Rows per row group of a Parquet file, from its footer.
fn row_groups(path: &Path) -> anyhow::Result<Vec<u64>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut reader = <ParquetReader<File> as SerReader<File>>::new(file);
    let meta = reader
        .get_metadata()
        .with_context(|| format!("{}: not a readable Parquet file", path.display()))?;
    Ok(meta
        .row_groups
        .iter()
        .map(|g| g.num_rows() as u64)
        .collect())
}

/// Reads a Parquet scan one row group at a time and sends it in batches.
/// Not the streaming engine: in polars 0.55 its Parquet source decodes ahead
/// of a slow consumer without bound (7 GB held for a 0.9 GB file of 30M
/// events while the engine worked through them). A slice on a row group's
/// edges decodes that row group only, so memory is one decoded row group
/// (as the file's writer sized it) plus a batch of events.
fn read_row_groups(
    frame: LazyFrame,
    groups: &[u64],
    batch_rows: usize,
    send: &mpsc::SyncSender<PolarsResult<DataFrame>>,
) -> PolarsResult<()> {
    let mut offset = 0u64;
    for &rows in groups {
        let group = frame
            .clone()
            .slice(offset as i64, rows.min(u32::MAX as u64) as _)
            .collect();
        offset += rows;
        let group = match group {
            Ok(g) => g,
            Err(e) => {
                let _ = send.send(Err(e));
                return Ok(());
            }
        };
        let mut at = 0;
        while at < group.height() {
            let n = batch_rows.min(group.height() - at);
            if send.send(Ok(group.slice(at as i64, n))).is_err() {
                return Ok(());
            }
            at += n;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
