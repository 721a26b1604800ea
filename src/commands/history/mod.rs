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

use anyhow::{bail, Context};
use clap::Args;
pub use input::{Format, Rejects};
pub use mapping::Mapping;
use palisade::event::Event;
use polars::prelude::{
    col, DataFrame, Engine, LazyCsvReader, LazyFileListReader, LazyFrame, LazyJsonLineReader,
    PlRefPath, PlanCallback, ScanArgsParquet, Schema,
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
                stream_table(&self.input, format, &mapping, what, rejects, each)?
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

/// Replays the history in time order into state made by `start`: streams
/// it while it is in order; an event earlier than the one before it stops
/// the stream, and the history is read again whole, sorted, into fresh state
/// (the engine runs on event time: out-of-order input would look like bursts
/// and gaps that never happened). Returns the state, the read's tally and
/// whether it had to be sorted.
pub fn replay_in_order<S>(
    args: &HistoryArgs,
    what: &str,
    start: &dyn Fn() -> anyhow::Result<S>,
    each: &mut dyn FnMut(&mut S, &Event),
) -> anyhow::Result<(S, Tally, bool)> {
    let mut state = start()?;
    let mut last = None;
    let read = args.stream(what, &mut |e| {
        if e.timestamp < last {
            return Flow::Stop;
        }
        last = e.timestamp;
        each(&mut state, &e);
        Flow::Go
    })?;
    if !read.stopped {
        return Ok((state, read, false));
    }
    eprintln!(
        "palisade: {} is not in time order; reading it whole to sort it",
        args.input.display()
    );
    let (events, read, _) = load_sorted(args, "reading")?;
    let mut state = start()?;
    let bar = progress(what, Some(events.len() as u64), "events");
    for (i, e) in events.iter().enumerate() {
        each(&mut state, e);
        if i % 4096 == 0 {
            if let Some(b) = &bar {
                b.set_position(i as u64);
            }
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok((state, read, true))
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

/// The contract's JSONL, decoded by the engine's own strict decoder line by
/// line. Not polars: its JSON reader fails a whole file on one bad line, and
/// the contract wants each one reported and counted.
fn stream_contract_jsonl<W: Write>(
    path: &Path,
    what: &str,
    rejects: &mut Rejects<W>,
    each: &mut dyn FnMut(Event) -> Flow,
) -> anyhow::Result<Tally> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = file.metadata().map(|m| m.len()).ok();
    let mut reader = BufReader::with_capacity(
        1 << 20,
        Counted {
            inner: file,
            bytes: 0,
        },
    );
    let bar = progress(what, len, "bytes");
    let mut read = Tally::default();
    let mut line = Vec::new();
    let mut line_no = 0u64;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        match Event::from_json(text) {
            Ok(e) => {
                read.events += 1;
                if each(e) == Flow::Stop {
                    read.stopped = true;
                    break;
                }
            }
            Err(e) => rejects.reject(&format!("line {line_no}"), &e.to_string()),
        }
        if line_no % 8192 == 0 {
            if let Some(b) = &bar {
                b.set_position(reader.get_ref().bytes);
            }
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(read)
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
    what: &str,
    rejects: &mut Rejects<W>,
    each: &mut dyn FnMut(Event) -> Flow,
) -> anyhow::Result<Tally> {
    let rows = match format {
        Format::Parquet => File::open(path)
            .ok()
            .and_then(|f| {
                <polars::prelude::ParquetReader<File> as polars::prelude::SerReader<File>>::new(f)
                    .num_rows()
                    .ok()
            })
            .map(|n| n as u64),
        _ => None,
    };
    let frame = scan(path, format, mapping)?;
    let (send, batches) = mpsc::sync_channel::<DataFrame>(2);
    let sink = frame
        .sink_batches(
            // A closed channel (the reader stopped) ends the query.
            PlanCallback::new(move |df| Ok(send.send(df).is_err())),
            true,
            NonZeroUsize::new(BATCH_ROWS),
        )
        .with_context(|| format!("cannot read {}", path.display()))?;
    let runner = std::thread::Builder::new()
        .name("polars-scan".into())
        .spawn(move || sink.collect_with_engine(Engine::Streaming).map(|_| ()))
        .context("cannot start the reading thread")?;
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
