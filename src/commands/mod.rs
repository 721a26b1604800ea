//! Commands that live in the binary only, not the library: the analytics
//! commands built on polars, whose build is kept out of every library test.

pub mod analyze;
pub mod baseline;
pub mod evaluate;
pub mod history;

/// Writes a command's report to stdout. A reader that closed the pipe early
/// (`| head`) has what it wanted: the rest is dropped, not a panic, so the
/// command still writes its files.
pub fn print_report(text: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("cannot write the report to standard output"),
    }
}
pub mod train;
