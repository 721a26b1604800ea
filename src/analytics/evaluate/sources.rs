//! Per attacking source: how early each address was stopped, set against what
//! fail2ban or CrowdSec would do (ban at the 5th or 6th failure).
//!
//! A source is an event's `ip`, taken per attack label: the same address under
//! two labels is two sources. Over a source's scored sign-ins of its label, in
//! time order, it counts attempts, failures and attempts let through, and
//! remembers the attempt (1-based) first challenged or blocked and first
//! blocked. A source *qualifies* (would trip a default fail2ban jail) when it
//! made [`QUALIFY_FAILURES`] failures within [`WINDOW_MS`]: a window closed at
//! both ends, as fail2ban's `findtime`, so failures exactly 10 minutes apart
//! are within it and 10 minutes and 1 ms apart are not.
//!
//! Memory: a [`Source`] is 28 bytes, plus its key (label index and address)
//! in the index, about 70 bytes a source with the map's overhead; sources are
//! far fewer than events. The largest failure count in any 10-minute window is
//! exact without keeping any source's failure times: one queue holds every
//! failure of the last 10 minutes of event time (16 bytes each), and each
//! source counts how many of its own are in it. So the queue is bounded by the
//! failure rate, never by the history's length.

use crate::event::Action;
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::collections::VecDeque;
use std::io::Write;
use std::net::IpAddr;

use super::figures::{median, ratio, ALL_ATTACKS};

/// The window failures are counted in: 10 minutes (fail2ban's default `findtime`).
pub const WINDOW_MS: u64 = 600_000;
/// Failures within the window that make a source qualify (fail2ban's default `maxretry`).
pub const QUALIFY_FAILURES: u32 = 5;
/// A qualifying source should be challenged or blocked by this attempt...
pub const STOPPED_BY: u32 = 6;
/// ...and blocked by this one.
pub const BLOCKED_BY: u32 = 10;

/// One source's record.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    pub attempts: u32,
    pub failures: u32,
    /// Attempts whose action was `allow`.
    pub let_through: u32,
    /// The attempt first challenged or blocked; 0 while never.
    first_stopped: u32,
    /// The attempt first blocked; 0 while never.
    first_blocked: u32,
    /// This source's failures now in the window queue.
    in_window: u32,
    pub max_failures_in_window: u32,
}

impl Source {
    pub fn first_stopped(&self) -> Option<u32> {
        (self.first_stopped > 0).then_some(self.first_stopped)
    }

    pub fn first_blocked(&self) -> Option<u32> {
        (self.first_blocked > 0).then_some(self.first_blocked)
    }

    pub fn qualifies(&self) -> bool {
        self.max_failures_in_window >= QUALIFY_FAILURES
    }
}

/// Every attacking source of a history, as its sign-ins arrive in time order.
#[derive(Default)]
pub struct Sources {
    /// The attack labels seen, by index.
    labels: Vec<String>,
    index: FxHashMap<(u32, IpAddr), u32>,
    sources: Vec<Source>,
    /// Every failure of the last [`WINDOW_MS`] of event time: (time, source).
    window: VecDeque<(u64, u32)>,
}

impl Sources {
    /// Counts one scored sign-in of `label` from `ip` at `time_ms` (events come
    /// in time order), with the action it met.
    pub fn add(&mut self, label: &str, ip: IpAddr, time_ms: u64, failed: bool, action: Action) {
        let label = match self.labels.iter().position(|l| l == label) {
            Some(i) => i as u32,
            None => {
                self.labels.push(label.to_string());
                (self.labels.len() - 1) as u32
            }
        };
        let next = self.sources.len() as u32;
        let id = *self.index.entry((label, ip)).or_insert(next);
        if id == next {
            self.sources.push(Source::default());
        }
        if failed {
            while let Some(&(t, old)) = self.window.front() {
                if t.saturating_add(WINDOW_MS) >= time_ms {
                    break;
                }
                self.sources[old as usize].in_window -= 1;
                self.window.pop_front();
            }
            self.window.push_back((time_ms, id));
        }
        let s = &mut self.sources[id as usize];
        s.attempts += 1;
        if failed {
            s.failures += 1;
            s.in_window += 1;
            s.max_failures_in_window = s.max_failures_in_window.max(s.in_window);
        }
        match action {
            Action::Allow => s.let_through += 1,
            Action::Challenge => {
                if s.first_stopped == 0 {
                    s.first_stopped = s.attempts;
                }
            }
            Action::Block => {
                if s.first_stopped == 0 {
                    s.first_stopped = s.attempts;
                }
                if s.first_blocked == 0 {
                    s.first_blocked = s.attempts;
                }
            }
        }
    }

    /// Every source as (label, address, record), by label, then address.
    pub fn rows(&self) -> Vec<(&str, IpAddr, &Source)> {
        let mut rows: Vec<(&str, IpAddr, &Source)> = self
            .index
            .iter()
            .map(|(&(label, ip), &id)| {
                (
                    self.labels[label as usize].as_str(),
                    ip,
                    &self.sources[id as usize],
                )
            })
            .collect();
        rows.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        rows
    }

    /// The figures per label, by label, then all attacks together when there
    /// is more than one label (each (label, source) counted once).
    pub fn figures(&self) -> Vec<SourceFigures> {
        let rows = self.rows();
        let mut out = Vec::new();
        let mut labels: Vec<&str> = self.labels.iter().map(String::as_str).collect();
        labels.sort_unstable();
        for label in &labels {
            let of: Vec<&Source> = rows.iter().filter(|r| r.0 == *label).map(|r| r.2).collect();
            out.push(summarize(label, &of));
        }
        if labels.len() > 1 {
            let all: Vec<&Source> = rows.iter().map(|r| r.2).collect();
            out.push(summarize(ALL_ATTACKS, &all));
        }
        out
    }

    /// Writes one CSV row per (label, source), as [`Sources::rows`] orders them.
    pub fn write_csv(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "label,ip,attempts,failures,let_through,first_stopped,first_blocked,max_failures_in_10m,qualifies"
        )?;
        let never = |v: Option<u32>| v.map_or(String::new(), |v| v.to_string());
        for (label, ip, s) in self.rows() {
            writeln!(
                out,
                "{},{ip},{},{},{},{},{},{},{}",
                csv_field(label),
                s.attempts,
                s.failures,
                s.let_through,
                never(s.first_stopped()),
                never(s.first_blocked()),
                s.max_failures_in_window,
                s.qualifies()
            )?;
        }
        Ok(())
    }
}

/// A CSV field, quoted when it holds a comma, quote or line break (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// What one label's sources met.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SourceFigures {
    pub label: String,
    pub sources: u64,
    /// Sources with [`QUALIFY_FAILURES`] failures within 10 minutes.
    pub qualifying: u64,
    /// Share of qualifying sources challenged or blocked by their 6th
    /// attempt, of those that made 6 attempts or were stopped sooner (a
    /// source that gave up at its 5th has no 6th to be stopped at); `null`
    /// when there are none.
    pub stopped_by_6th_rate: Option<f64>,
    /// How many sources that share is of.
    pub stopped_by_6th_of: u64,
    /// Share of qualifying sources blocked by their 10th attempt, of those
    /// that made 10 attempts or were blocked sooner.
    pub blocked_by_10th_rate: Option<f64>,
    pub blocked_by_10th_of: u64,
    /// Median attempt a qualifying source was first challenged or blocked,
    /// a source never stopped counting as stopped after every finite one;
    /// `null` when half of them or more were never stopped (or none qualify).
    pub median_first_stopped: Option<f64>,
    /// The same for the first block.
    pub median_first_blocked: Option<f64>,
    /// Qualifying sources never challenged or blocked.
    pub never_stopped: u64,
    /// Qualifying sources never blocked.
    pub never_blocked: u64,
    /// Every attempt of the label's sources, qualifying or not.
    pub attempts: u64,
    pub let_through: u64,
    /// `let_through` / `attempts`.
    pub let_through_rate: f64,
}

fn summarize(label: &str, sources: &[&Source]) -> SourceFigures {
    let qualifying: Vec<&&Source> = sources.iter().filter(|s| s.qualifies()).collect();
    let q = qualifying.len();
    let by = |v: Option<u32>, at: u32| v.is_some_and(|v| v <= at);
    // Whether "stopped by attempt `at`" can be answered: the source made
    // that many attempts, or was stopped before.
    let decided = |s: &Source, first: Option<u32>, at: u32| s.attempts >= at || by(first, at);
    let rate = |first: &dyn Fn(&Source) -> Option<u32>, at: u32| {
        let of: Vec<_> = qualifying
            .iter()
            .filter(|s| decided(s, first(s), at))
            .collect();
        let hit = of.iter().filter(|s| by(first(s), at)).count();
        (
            (!of.is_empty()).then(|| ratio(hit, of.len())),
            of.len() as u64,
        )
    };
    let (stopped_by_6th_rate, stopped_by_6th_of) = rate(&|s| s.first_stopped(), STOPPED_BY);
    let (blocked_by_10th_rate, blocked_by_10th_of) = rate(&|s| s.first_blocked(), BLOCKED_BY);
    let finite = |v: f64| v.is_finite().then_some(v);
    let attempt = |v: Option<u32>| v.map_or(f64::INFINITY, f64::from);
    let stopped: Vec<f64> = qualifying
        .iter()
        .map(|s| attempt(s.first_stopped()))
        .collect();
    let blocked: Vec<f64> = qualifying
        .iter()
        .map(|s| attempt(s.first_blocked()))
        .collect();
    let attempts: u64 = sources.iter().map(|s| u64::from(s.attempts)).sum();
    let let_through: u64 = sources.iter().map(|s| u64::from(s.let_through)).sum();
    SourceFigures {
        label: label.to_string(),
        sources: sources.len() as u64,
        qualifying: q as u64,
        stopped_by_6th_rate,
        stopped_by_6th_of,
        blocked_by_10th_rate,
        blocked_by_10th_of,
        median_first_stopped: (q > 0).then(|| median(&stopped)).and_then(finite),
        median_first_blocked: (q > 0).then(|| median(&blocked)).and_then(finite),
        never_stopped: qualifying.iter().filter(|s| s.first_stopped == 0).count() as u64,
        never_blocked: qualifying.iter().filter(|s| s.first_blocked == 0).count() as u64,
        attempts,
        let_through,
        let_through_rate: ratio(let_through as usize, attempts as usize),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([45, 0, 0, last])
    }

    /// Feeds failures of one source at the given times (ms), each with its action.
    fn feed(s: &mut Sources, label: &str, from: IpAddr, seq: &[(u64, Action)]) {
        for &(t, a) in seq {
            s.add(label, from, t, true, a);
        }
    }

    #[test]
    fn first_stop_and_block_are_attempt_indexes_of_the_source() {
        use Action::*;
        let mut s = Sources::default();
        let seq: Vec<(u64, Action)> = [Allow, Allow, Challenge, Allow, Block, Block]
            .iter()
            .enumerate()
            .map(|(i, &a)| (i as u64 * MIN, a))
            .collect();
        feed(&mut s, "brute_force", ip(1), &seq[..2]);
        // Another source in between does not shift the first one's indexes.
        s.add("brute_force", ip(2), 2 * MIN, false, Block);
        feed(&mut s, "brute_force", ip(1), &seq[2..]);
        let rows = s.rows();
        let (_, _, a) = rows[0];
        assert_eq!((a.attempts, a.failures, a.let_through), (6, 6, 3));
        assert_eq!((a.first_stopped(), a.first_blocked()), (Some(3), Some(5)));
        assert!(a.qualifies());
        let (_, _, b) = rows[1];
        assert_eq!((b.attempts, b.failures, b.let_through), (1, 0, 0));
        assert_eq!((b.first_stopped(), b.first_blocked()), (Some(1), Some(1)));
        assert!(!b.qualifies());
    }

    #[test]
    fn five_failures_qualify_when_first_and_last_are_at_most_10_minutes_apart() {
        let mut s = Sources::default();
        let allow = |t: u64| (t, Action::Allow);
        // Exactly 10 minutes from the first to the fifth: within.
        feed(
            &mut s,
            "x",
            ip(1),
            &[0, 150_000, 300_000, 450_000, 600_000].map(allow),
        );
        // 1 ms more: not within; the window never holds more than 4. (An
        // hour later: events come in time order.)
        let later = |t: u64| allow(t + 60 * MIN);
        feed(
            &mut s,
            "x",
            ip(2),
            &[0, 150_000, 300_000, 450_000, 600_001].map(later),
        );
        let rows = s.rows();
        assert_eq!(rows[0].2.max_failures_in_window, 5);
        assert!(rows[0].2.qualifies());
        assert_eq!(rows[1].2.max_failures_in_window, 4);
        assert!(!rows[1].2.qualifies());
    }

    #[test]
    fn successes_do_not_count_towards_the_window_and_old_failures_leave_it() {
        let mut s = Sources::default();
        for i in 0..12 {
            // A failure every minute, a success between each.
            s.add("x", ip(1), i * MIN, true, Action::Allow);
            s.add("x", ip(1), i * MIN + 1, false, Action::Allow);
        }
        let rows = s.rows();
        let a = rows[0].2;
        assert_eq!((a.attempts, a.failures), (24, 12));
        // Minutes 0..=10 are 11 failures within a closed 10-minute window.
        assert_eq!(a.max_failures_in_window, 11);
        // Later failures from another source expire this one's from the queue.
        s.add("x", ip(2), 100 * MIN, true, Action::Allow);
        assert_eq!(s.window.len(), 1);
        assert_eq!(s.sources[0].in_window, 0);
    }

    #[test]
    fn label_figures_count_never_stopped_sources_as_not_stopped() {
        use Action::*;
        let mut s = Sources::default();
        let burst = |actions: &[Action]| -> Vec<(u64, Action)> {
            actions
                .iter()
                .enumerate()
                .map(|(i, &a)| (i as u64 * 1000, a))
                .collect()
        };
        // Stopped at 2, blocked at 4.
        feed(
            &mut s,
            "bf",
            ip(1),
            &burst(&[Allow, Challenge, Allow, Block, Block]),
        );
        // Stopped at 6, blocked at 11: stopped by the 6th, not blocked by the 10th.
        let mut late = vec![Allow; 5];
        late.extend([Challenge, Allow, Allow, Allow, Allow, Block]);
        feed(&mut s, "bf", ip(2), &burst(&late));
        // Never stopped.
        feed(&mut s, "bf", ip(3), &burst(&[Allow; 7]));
        // Does not qualify (4 failures): in the sources and attempts only.
        feed(&mut s, "bf", ip(4), &burst(&[Block; 4]));
        feed(&mut s, "spray", ip(1), &burst(&[Allow; 5]));
        let f = s.figures();
        let labels: Vec<&str> = f.iter().map(|f| f.label.as_str()).collect();
        assert_eq!(labels, ["bf", "spray", ALL_ATTACKS]);
        let bf = &f[0];
        assert_eq!((bf.sources, bf.qualifying), (4, 3));
        assert_eq!(bf.stopped_by_6th_rate, Some(2.0 / 3.0));
        // The never-stopped source made 7 attempts: no 10th to be blocked at.
        assert_eq!(
            (bf.blocked_by_10th_rate, bf.blocked_by_10th_of),
            (Some(1.0 / 2.0), 2)
        );
        // Stopped at 2, 6, never: the median is 6.
        assert_eq!(bf.median_first_stopped, Some(6.0));
        // Blocked at 4, 11, never: 11.
        assert_eq!(bf.median_first_blocked, Some(11.0));
        assert_eq!((bf.never_stopped, bf.never_blocked), (1, 1));
        assert_eq!(bf.attempts, 5 + 11 + 7 + 4);
        // 3 + 8 + 7 + 0 allowed.
        assert_eq!(bf.let_through, 18);
        let spray = &f[1];
        // It made 5 attempts: no 6th to be stopped at.
        assert_eq!(
            (spray.stopped_by_6th_rate, spray.stopped_by_6th_of),
            (None, 0)
        );
        assert_eq!(spray.median_first_stopped, None);
        assert_eq!(spray.let_through_rate, 1.0);
        let all = &f[2];
        assert_eq!((all.sources, all.qualifying), (5, 4));
        // Stopped at 2, 6, never, never: the middle two average to never.
        assert_eq!(all.median_first_stopped, None);
    }

    #[test]
    fn the_csv_has_one_row_per_label_and_source_and_empty_cells_for_never() {
        let mut s = Sources::default();
        feed(&mut s, "a,b", ip(1), &[(0, Action::Allow)]);
        s.add("bf", ip(2), 1, false, Action::Block);
        let mut out = Vec::new();
        s.write_csv(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "label,ip,attempts,failures,let_through,first_stopped,first_blocked,max_failures_in_10m,qualifies\n\
             \"a,b\",45.0.0.1,1,1,1,,,1,false\n\
             bf,45.0.0.2,1,0,0,1,1,0,false\n"
        );
    }
}
