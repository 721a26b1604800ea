//! Offline analytics over event files. The labelled traffic generator
//! ([`simulate`]) feeds replays, benchmarks and evaluation and is always
//! built; the commands on history files (`evaluate`, `baseline`, `analyze`,
//! `train`) read them with polars and draw with plotters, so they are behind
//! the default-on cargo feature `analytics` (`--no-default-features` builds
//! the engine, the doors and `simulate` without them, and much faster).

pub mod simulate;

#[cfg(feature = "analytics")]
pub mod analyze;
#[cfg(feature = "analytics")]
pub mod baseline;
#[cfg(feature = "analytics")]
pub mod evaluate;
#[cfg(feature = "analytics")]
pub mod history;
#[cfg(feature = "analytics")]
pub mod train;

/// Writes a command's report to stdout. A reader that closed the pipe early
/// (`| head`) has what it wanted: the rest is dropped, not a panic, so the
/// command still writes its files.
#[cfg(feature = "analytics")]
pub fn print_report(text: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("cannot write the report to standard output"),
    }
}
