//! Offline replay: events JSONL in, decisions JSONL out, one decision per
//! accepted event in input order. Rejected lines are reported with their line
//! number and reason and counted; they never stop the run. An event repeated
//! (the same id and outcome as one decided lately, as serve and Kafka tell a
//! redelivery) is counted and not applied again, and yields no decision.

use crate::event::bounds::{TimeBounds, TimeRefusal};
use crate::event::{Action, Event, MAX_EVENT_BYTES};
use crate::metrics::{DecisionCounters, Metrics};
use crate::node::Core;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub events: u64,
    pub rejected: u64,
    /// Events with the id and outcome of one decided lately: not applied.
    pub repeated: u64,
    /// Decisions per action: allow, challenge, block.
    pub actions: [u64; 3],
    /// Enforcements the engine issued (rules' blocks). Replay writes
    /// decisions only; it takes them so none pile up in the engine.
    pub enforcements: u64,
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
            "replayed {} events in {:.2} s ({:.0} events/s): {} allow, {} challenge, {} block; {} enforcements issued; {} repeated events not applied; {} rejected lines",
            self.events,
            self.elapsed.as_secs_f64(),
            self.events_per_second(),
            self.actions[0],
            self.actions[1],
            self.actions[2],
            self.enforcements,
            self.repeated,
            self.rejected
        )
    }
}

/// Called with the bytes read so far, for a progress bar.
pub type Progress<'a> = &'a mut dyn FnMut(u64);

/// Events decoded ahead of the one being applied: enough to tell a lone
/// event dated far ahead of its neighbours (refused) from a gap in history
/// (accepted, since most of the events after it are as far ahead).
pub const LOOKAHEAD: usize = 16;

/// A line read and decoded, waiting for its turn.
enum Pending {
    /// Boxed, so that the queue moves a pointer, not the event; with what
    /// its id is remembered as ([`Core::id_key`]).
    Event(Box<Event>, u64),
    Rejected(String),
}

/// Replays `input` through `core`, writing decisions to `output` and one line
/// per rejected input line to `rejects`. With `metrics`, every decision is
/// counted as `serve` counts it (and the engine's time per event observed).
///
/// Replay has no host clock, so the engine's bounds on event time (see
/// [`crate::event::bounds`]) are kept against the events themselves: an
/// event more than `max_ahead` after the engine's clock is refused when at
/// least half of the next [`LOOKAHEAD`]` - 1` events are more than
/// `max_ahead` before it, and one more than `max_lateness` behind the clock
/// is refused as too late.
pub fn replay(
    core: &mut Core,
    input: impl Read,
    mut output: impl Write,
    mut rejects: impl Write,
    mut progress: Option<Progress>,
    mut metrics: Option<(&Metrics, &mut DecisionCounters)>,
) -> io::Result<Summary> {
    let started = Instant::now();
    let mut summary = Summary::default();
    let mut lines = Lines::new(input);
    let mut out = Vec::with_capacity(1024);
    // Events are decoded into reused values: no allocation per event.
    let mut spare: Vec<Box<Event>> = Vec::new();
    let mut queue: VecDeque<(u64, Pending)> = VecDeque::with_capacity(LOOKAHEAD + 1);
    let mut line_no = 0u64;
    let bounds = core.engine.time_bounds();
    loop {
        let next = lines.next_line()?;
        if let Some((line, consumed)) = next {
            line_no += 1;
            if let Some(p) = progress.as_mut() {
                if line_no % 4096 == 0 {
                    p(consumed);
                }
            }
            let pending = match line {
                Line::TooLong => {
                    Pending::Rejected(format!("event is over {MAX_EVENT_BYTES} bytes"))
                }
                Line::Text(text) => {
                    let text = trim_ascii(text);
                    if text.is_empty() {
                        continue;
                    }
                    let mut event = spare.pop().unwrap_or_default();
                    match event.decode_json_into(text) {
                        // Replay runs on event time: without one, a backtest is not one.
                        Ok(()) if event.timestamp.is_none() => {
                            spare.push(event);
                            Pending::Rejected(
                                "field `timestamp`: is required in replay".to_string(),
                            )
                        }
                        Ok(()) => {
                            // Its slot in the memory of ids is on its way
                            // while the events before it are decided.
                            let key = core.id_key(&event);
                            core.prefetch(key, queue.len());
                            Pending::Event(event, key)
                        }
                        Err(e) => {
                            spare.push(event);
                            Pending::Rejected(e.to_string())
                        }
                    }
                }
            };
            queue.push_back((line_no, pending));
            if queue.len() < LOOKAHEAD {
                continue;
            }
        }
        let Some((n, pending)) = queue.pop_front() else {
            break;
        };
        let (event, key) = match pending {
            Pending::Rejected(why) => {
                summary.rejected += 1;
                writeln!(rejects, "line {n}: {}", escape_controls(&why))?;
                continue;
            }
            Pending::Event(event, key) => (event, key),
        };
        // A repeat is counted as one however late it comes (as serve and
        // Kafka answer a redelivery); the time is checked first only because
        // it costs no memory look-up.
        if let Err(why) = in_time(&bounds, core.engine.clock_ms(), &event, &queue) {
            if core.is_repeat(&event) {
                summary.repeated += 1;
            } else {
                summary.rejected += 1;
                writeln!(rejects, "line {n}: {}", why.message)?;
            }
            spare.push(event);
            continue;
        }
        let started = metrics.is_some().then(Instant::now);
        let Some(decision) = core.decide_once_keyed(&event, key) else {
            summary.repeated += 1;
            spare.push(event);
            continue;
        };
        // Nearly always empty: taking an empty list allocates nothing.
        let issued = core.engine.take_enforcements();
        summary.enforcements += issued.len() as u64;
        if let (Some((m, counters)), Some(t)) = (metrics.as_mut(), started) {
            m.evaluation.observe(t.elapsed().as_secs_f64());
            counters.count(m, &event, &decision);
            for e in &issued {
                m.enforcements.with_label_values(&[e.scope.as_str()]).inc();
            }
        }
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
        spare.push(event);
    }
    if let Some(p) = progress.as_mut() {
        p(lines.consumed);
    }
    output.flush()?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Whether replay applies `event` at the engine's clock `clock_ms`, given
/// the events decoded after it. An event more than `max_ahead` after the
/// clock (any event, before the first) is a lone forgery when at least half
/// of the events after it are more than `max_ahead` before it; after a real
/// pause in history, the events that follow are as late as it is.
fn in_time(
    bounds: &TimeBounds,
    clock_ms: u64,
    event: &Event,
    after: &VecDeque<(u64, Pending)>,
) -> Result<(), TimeRefusal> {
    let t = event.timestamp.map_or(clock_ms, |t| t.millis());
    if t > clock_ms.saturating_add(bounds.max_ahead_ms) {
        let (mut behind, mut seen) = (0, 0);
        for (_, p) in after {
            if let Pending::Event(e, _) = p {
                seen += 1;
                let u = e.timestamp.map_or(t, |u| u.millis());
                behind += usize::from(u.saturating_add(bounds.max_ahead_ms) < t);
            }
        }
        if seen > 0 && behind * 2 >= seen {
            return Err(bounds.ahead_of_neighbours(t, clock_ms));
        }
        return Ok(());
    }
    bounds.check_late(t, clock_ms)
}

/// A rejected line's reason with its control characters escaped, so that
/// input cannot forge a line of the report or move the terminal's cursor.
fn escape_controls(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return s.into();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().collect::<String>()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// Bytes read from the input at a time: room for four of the largest events,
/// and small enough that what the kernel copies in is still in the core's
/// own cache (L2) when the decoder reads it (4 MiB, larger than L2, cost more).
const CHUNK_BYTES: usize = 256 << 10;
const _: () = assert!(CHUNK_BYTES >= 4 * MAX_EVENT_BYTES);

enum Line<'a> {
    /// A line's bytes, without its newline.
    Text(&'a [u8]),
    /// A line longer than an event may be; its bytes were dropped unread.
    TooLong,
}

/// Lines of the input, handed out in place from one large buffer: a line is
/// copied only when it straddles two reads. Never holds more than one event's
/// worth of a line: a longer one is skipped to its end and reported.
struct Lines<R> {
    input: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Where the search for the next newline resumes: bytes before it hold none.
    scanned: usize,
    eof: bool,
    /// Bytes of input consumed, for the progress bar.
    consumed: u64,
}

impl<R: Read> Lines<R> {
    fn new(input: R) -> Lines<R> {
        Lines {
            input,
            buf: vec![0; CHUNK_BYTES],
            start: 0,
            end: 0,
            scanned: 0,
            eof: false,
            consumed: 0,
        }
    }

    /// The next line and the input bytes consumed so far.
    fn next_line(&mut self) -> io::Result<Option<(Line<'_>, u64)>> {
        let mut skipping = false;
        loop {
            let from = self.scanned.max(self.start);
            if let Some(found) = memchr::memchr(b'\n', &self.buf[from..self.end]) {
                let at = self.start;
                let i = from + found - at;
                self.start += i + 1;
                self.scanned = self.start;
                self.consumed += i as u64 + 1;
                if skipping || i > MAX_EVENT_BYTES {
                    return Ok(Some((Line::TooLong, self.consumed)));
                }
                return Ok(Some((Line::Text(&self.buf[at..at + i]), self.consumed)));
            }
            self.scanned = self.end;
            if self.eof {
                if self.start == self.end && !skipping {
                    return Ok(None);
                }
                let (at, len) = (self.start, self.end - self.start);
                self.start = self.end;
                self.consumed += len as u64;
                if skipping || len > MAX_EVENT_BYTES {
                    return Ok(Some((Line::TooLong, self.consumed)));
                }
                return Ok(Some((Line::Text(&self.buf[at..at + len]), self.consumed)));
            }
            if self.end - self.start > MAX_EVENT_BYTES {
                // Too long already: drop what is held and read on to its end.
                self.consumed += (self.end - self.start) as u64;
                self.start = 0;
                self.end = 0;
                self.scanned = 0;
                skipping = true;
            }
            // Out of room: move the unfinished line to the front (it is shorter
            // than an event, so this happens once per buffer's worth of input).
            if self.end == self.buf.len() {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.scanned -= self.start;
                self.start = 0;
            }
            let n = loop {
                match self.input.read(&mut self.buf[self.end..]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other?,
                }
            };
            if n == 0 {
                self.eof = true;
            }
            self.end += n;
        }
    }
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its bytes a few at a time, so lines straddle reads.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(self.0.len()).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn split(input: &[u8], step: usize) -> Vec<Option<Vec<u8>>> {
        let mut lines = Lines::new(Trickle(input, step));
        let mut out = Vec::new();
        while let Some((line, _)) = lines.next_line().unwrap() {
            out.push(match line {
                Line::Text(t) => Some(t.to_vec()),
                Line::TooLong => None,
            });
        }
        assert_eq!(
            lines.consumed,
            input.len() as u64,
            "every byte is accounted for"
        );
        out
    }

    #[test]
    fn splits_lines_across_reads_and_skips_over_long_ones() {
        let long = vec![b'x'; MAX_EVENT_BYTES + 1];
        let just = vec![b'y'; MAX_EVENT_BYTES];
        let mut input = b"one\n\ntwo\r\n".to_vec();
        input.extend_from_slice(&long);
        input.push(b'\n');
        input.extend_from_slice(&just);
        input.extend_from_slice(b"\nlast");
        for step in [1, 7, 4096, CHUNK_BYTES] {
            let lines = split(&input, step);
            assert_eq!(lines.len(), 6, "step {step}");
            assert_eq!(lines[0].as_deref(), Some(&b"one"[..]));
            assert_eq!(lines[1].as_deref(), Some(&b""[..]));
            assert_eq!(lines[2].as_deref(), Some(&b"two\r"[..]));
            assert_eq!(lines[3], None, "over the limit");
            assert_eq!(lines[4].as_deref(), Some(&just[..]), "exactly the limit");
            assert_eq!(lines[5].as_deref(), Some(&b"last"[..]), "no final newline");
        }
    }

    #[test]
    fn an_over_long_last_line_is_reported_once() {
        let input = vec![b'z'; 3 * MAX_EVENT_BYTES];
        assert_eq!(split(&input, 1000), vec![None]);
        assert_eq!(split(b"", 10), Vec::<Option<Vec<u8>>>::new());
    }
}
