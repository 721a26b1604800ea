//! Building an index from a corpus, streaming: lines are parsed into sorted
//! runs of at most [`RUN_ENTRIES`] hashes (24 bytes each; 384 MiB, twice that
//! while a run is sorted), each run spilled to a temporary file beside the
//! output, then all runs merged k ways straight into the index. Memory is
//! bounded by the run size and the 8 MiB prefix table, whatever the input's
//! size; temporary disk is 24 bytes per input hash (less the duplicates merged
//! within a run). A corpus that fits in one run is never spilled.

mod input;
mod sort;
mod writer;

pub use input::InputFormat;

use super::PwnedError;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sort::{Entry, Merge, TempFiles};
use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal};
use std::path::PathBuf;
use std::time::Instant;
use writer::IndexWriter;

/// Hashes per sorted run.
pub const RUN_ENTRIES: usize = 1 << 24;
/// Malformed lines printed before they are only counted.
const SHOWN_MALFORMED: usize = 20;

#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// A corpus file, or a directory of HIBP prefix files.
    pub input: PathBuf,
    /// The index to write (through `OUTPUT.tmp`, renamed when complete).
    pub output: PathBuf,
    /// Store full suffixes, so the index can serve /range (false: `--no-range`).
    pub range: bool,
    /// More malformed lines than this abort the build.
    pub max_malformed: u64,
    pub format: InputFormat,
    /// Show a progress bar (only ever on a terminal).
    pub progress: bool,
}

#[derive(Debug, Clone)]
pub struct BuildSummary {
    /// The format read (detected when asked for `auto`).
    pub format: InputFormat,
    pub range: bool,
    /// Valid hashes read, duplicates included.
    pub input_hashes: u64,
    /// Hashes in the index.
    pub hashes: u64,
    /// Input hashes merged into another (same hash; without range, same 80
    /// leading bits).
    pub duplicates: u64,
    pub malformed: u64,
    /// The first malformed lines, as printed: `FILE:LINE: what is wrong`.
    pub malformed_shown: Vec<String>,
    /// Sorted runs spilled to disk (0: the input fit in one run).
    pub spilled_runs: usize,
    /// The index's size.
    pub bytes: u64,
    pub seconds: f64,
}

impl BuildSummary {
    /// Input hashes per second.
    pub fn rate(&self) -> f64 {
        self.input_hashes as f64 / self.seconds.max(1e-9)
    }
}

impl std::fmt::Display for BuildSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} hashes written ({}), {} duplicates merged, {} malformed lines skipped; {} bytes, {:.2} bytes per hash; {:.1} s, {:.0} hashes/s",
            self.hashes,
            if self.range { "with range" } else { "no range" },
            self.duplicates,
            self.malformed,
            self.bytes,
            self.bytes as f64 / self.hashes.max(1) as f64,
            self.seconds,
            self.rate()
        )
    }
}

/// Builder, streaming: used by `palisade pwned build`. Malformed lines are
/// printed to stderr as they are met (the first 20), then only counted.
pub fn build(opts: &BuildOptions) -> Result<BuildSummary, PwnedError> {
    build_with_runs(opts, RUN_ENTRIES)
}

/// [`build`] with a chosen run size (tests use tiny runs to exercise the merge).
#[doc(hidden)]
pub fn build_with_runs(
    opts: &BuildOptions,
    run_entries: usize,
) -> Result<BuildSummary, PwnedError> {
    let start = Instant::now();
    let show = opts.progress && std::io::stderr().is_terminal();
    let bar = if show {
        ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    let (sources, format) = input::sources(&opts.input, opts.format, &mut |w| {
        bar.suspend(|| eprintln!("palisade pwned build: {w}"))
    })?;
    let total: u64 = sources.iter().map(|s| s.len).sum();
    // Style first: a draw between the two would show the old style's units.
    bar.set_style(style(
        "reading {bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
    ));
    bar.set_length(total);

    let mut temps = TempFiles::default();
    let mut run: Vec<Entry> = Vec::with_capacity(run_entries.min(1 << 20));
    let (mut input_hashes, mut duplicates, mut malformed) = (0u64, 0u64, 0u64);
    let mut shown = Vec::new();
    let (mut done_bytes, mut all_lines) = (0u64, 0u64);
    let mut line = Vec::with_capacity(256);
    for source in &sources {
        let io = |e| PwnedError::Io {
            path: source.path.clone(),
            source: e,
        };
        // HIBP's directory holds a million files of ~30 KB: no 1 MiB buffer each.
        let capacity = (source.len as usize + 1).clamp(4096, 1 << 20);
        let mut r = BufReader::with_capacity(capacity, File::open(&source.path).map_err(io)?);
        let mut number = 0u64;
        loop {
            line.clear();
            let n = r.read_until(b'\n', &mut line).map_err(io)?;
            if n == 0 {
                break;
            }
            number += 1;
            all_lines += 1;
            done_bytes += n as u64;
            if all_lines % 65536 == 0 {
                bar.set_position(done_bytes);
                bar.set_message(format!("{input_hashes} hashes"));
            }
            let parsed = match format {
                InputFormat::Passwords => match input::hash_password(&line) {
                    Some(h) => Ok((h, 1)),
                    None => continue,
                },
                _ if input::trim(&line).is_empty() => continue,
                _ => input::parse_hash_line(&line, source.prefix),
            };
            match parsed {
                Ok((h, count)) => {
                    run.push(Entry::new(&h, count));
                    input_hashes += 1;
                    if run.len() >= run_entries {
                        duplicates += sort::sort_run(&mut run);
                        let path = run_path(opts, temps.0.len());
                        temps.0.push(path.clone());
                        sort::spill(&run, &path)?;
                        run.clear();
                    }
                }
                Err(what) => {
                    malformed += 1;
                    if shown.len() < SHOWN_MALFORMED {
                        let msg = format!("{}:{number}: {what}", source.path.display());
                        bar.suspend(|| eprintln!("palisade pwned build: {msg}"));
                        shown.push(msg);
                    }
                    if malformed > opts.max_malformed {
                        return Err(PwnedError::TooManyMalformed {
                            path: source.path.clone(),
                            line: number,
                            max: opts.max_malformed,
                        });
                    }
                }
            }
        }
    }
    if malformed > shown.len() as u64 {
        bar.suspend(|| {
            eprintln!(
                "palisade pwned build: {} more malformed lines not shown",
                malformed - shown.len() as u64
            )
        });
    }
    if input_hashes == 0 {
        return Err(PwnedError::Empty {
            path: opts.input.clone(),
        });
    }

    duplicates += sort::sort_run(&mut run);
    let to_merge = input_hashes - duplicates;
    bar.set_style(style(
        "writing {bar:30} {pos}/{len} hashes {per_sec} eta {eta}",
    ));
    bar.set_message("");
    bar.set_length(to_merge);
    bar.set_position(0);
    let mut merge = Merge::new(&temps.0, run)?;
    let mut w = IndexWriter::create(&opts.output, opts.range)?;
    let mut pushed = 0u64;
    let result = (|| {
        while let Some(e) = merge.next()? {
            w.push(e)?;
            pushed += 1;
            if pushed % (1 << 20) == 0 {
                bar.set_position(pushed);
            }
        }
        Ok::<_, PwnedError>(())
    })();
    if let Err(e) = result {
        w.abandon();
        return Err(e);
    }
    let merged = w.merged;
    let spilled_runs = temps.0.len();
    drop(merge);
    drop(temps);
    let (bytes, written) = w.finish(&opts.output)?.expect("hashes were read");
    bar.finish_and_clear();
    Ok(BuildSummary {
        format,
        range: opts.range,
        input_hashes,
        hashes: written,
        duplicates: duplicates + merged,
        malformed,
        malformed_shown: shown,
        spilled_runs,
        bytes,
        seconds: start.elapsed().as_secs_f64(),
    })
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).expect("a valid template")
}

/// The `i`th spilled run: beside the output, so on its disk, not /tmp's.
fn run_path(opts: &BuildOptions, i: usize) -> PathBuf {
    let mut name = opts.output.as_os_str().to_owned();
    name.push(format!(".run{i}.tmp"));
    PathBuf::from(name)
}
