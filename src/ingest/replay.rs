//! Offline replay: events JSONL in, decisions JSONL out, one decision per
//! accepted event in input order. Rejected lines are reported with their line
//! number and reason and counted; they never stop the run.

use crate::engine::Engine;
use crate::event::{Action, Event, MAX_EVENT_BYTES};
use std::io::{self, BufRead, Read, Write};
use std::time::{Duration, Instant};

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub events: u64,
    pub rejected: u64,
    /// Decisions per action: allow, challenge, block.
    pub actions: [u64; 3],
    pub elapsed: Duration,
}

impl Summary {
    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "replayed {} events in {:.2} s ({:.0} events/s): {} allow, {} challenge, {} block; {} rejected lines",
            self.events,
            self.elapsed.as_secs_f64(),
            self.events_per_second(),
            self.actions[0],
            self.actions[1],
            self.actions[2],
            self.rejected
        )
    }
}

/// Called with the bytes read so far, for a progress bar.
pub type Progress<'a> = &'a mut dyn FnMut(u64);

/// Replays `input` through `engine`, writing decisions to `output` and one line
/// per rejected input line to `rejects`.
pub fn replay(
    engine: &mut Engine,
    mut input: impl BufRead,
    mut output: impl Write,
    mut rejects: impl Write,
    mut progress: Option<Progress>,
) -> io::Result<Summary> {
    let started = Instant::now();
    let mut summary = Summary::default();
    let mut line = Vec::with_capacity(1024);
    let mut out = Vec::with_capacity(1024);
    let mut line_no = 0u64;
    let mut read = 0u64;
    loop {
        line.clear();
        line_no += 1;
        // Never hold more than one event's worth of a line: a longer one is
        // rejected and the rest of it skipped.
        let n = (&mut input)
            .take(MAX_EVENT_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        read += n as u64;
        let too_long = line.last() != Some(&b'\n') && line.len() > MAX_EVENT_BYTES;
        if too_long {
            read += skip_line(&mut input)?;
        }
        if let Some(p) = progress.as_mut() {
            if line_no % 4096 == 0 {
                p(read);
            }
        }
        let text = trim_ascii(&line);
        if text.is_empty() {
            continue;
        }
        if too_long {
            summary.rejected += 1;
            writeln!(
                rejects,
                "line {line_no}: event is over {MAX_EVENT_BYTES} bytes"
            )?;
            continue;
        }
        match Event::from_json(text) {
            Ok(event) if event.timestamp.is_none() => {
                // Replay runs on event time: without one, a backtest is not one.
                summary.rejected += 1;
                writeln!(
                    rejects,
                    "line {line_no}: field `timestamp`: is required in replay"
                )?;
            }
            Ok(event) => {
                let decision = engine.evaluate(&event);
                summary.events += 1;
                summary.actions[match decision.action {
                    Action::Allow => 0,
                    Action::Challenge => 1,
                    Action::Block => 2,
                }] += 1;
                out.clear();
                decision.write_json(&mut out);
                out.push(b'\n');
                output.write_all(&out)?;
            }
            Err(e) => {
                summary.rejected += 1;
                writeln!(rejects, "line {line_no}: {e}")?;
            }
        }
    }
    if let Some(p) = progress.as_mut() {
        p(read);
    }
    output.flush()?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

fn skip_line(input: &mut impl BufRead) -> io::Result<u64> {
    let mut skipped = 0u64;
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(skipped);
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                input.consume(i + 1);
                return Ok(skipped + i as u64 + 1);
            }
            None => {
                let n = buf.len();
                input.consume(n);
                skipped += n as u64;
            }
        }
    }
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}
