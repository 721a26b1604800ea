//! History in time order, for the commands that run it through the engine.
//!
//! The engine runs on event time: out-of-order input would look like bursts
//! and gaps that never happened. So the history is streamed while it is in
//! order; an event earlier than the one before it stops the stream, and the
//! history is read again whole and sorted ([`load_sorted`]) into a state
//! built afresh, so no event is seen twice.
//!
//! An event repeated in the history (the id and outcome of one given to the
//! state lately) is counted and not given again: the rule of every door
//! (see `crate::node`), so these commands decide what serve and replay
//! would.

use super::{load_sorted, progress, Flow, HistoryArgs, Tally};
use crate::event::Event;
use crate::state::recent_ids::RecentIds;
use std::collections::VecDeque;

/// What an in-order pass gave.
pub struct Ordered<S> {
    /// The state every event was given to, once each, in time order.
    pub state: S,
    pub read: Tally,
    /// Whether the input had to be read whole and sorted.
    pub sorted: bool,
}

/// How many events wait behind the one being given (see `in_time_order`).
const AHEAD: usize = 16;

/// Whether `e` repeats an event given lately; remembers it if not.
fn repeated(recent: &mut RecentIds, e: &Event) -> bool {
    !e.event_id.is_empty() && !recent.insert(&e.event_id, e.outcome)
}

/// Gives every event of the history to `take`, in time order, with a state
/// from `fresh`; `fresh` is called again (and the first state dropped) when
/// the input turns out not to be in order. `command` names the command in
/// the message saying so; `what` labels the progress bar. The latest
/// `recent_ids` ids (`limits.recent_event_ids`) are remembered to tell a
/// repeat.
pub fn in_time_order<S>(
    input: &HistoryArgs,
    command: &str,
    what: &str,
    recent_ids: usize,
    fresh: &mut dyn FnMut() -> anyhow::Result<S>,
    take: &mut dyn FnMut(&mut S, &Event),
) -> anyhow::Result<Ordered<S>> {
    let mut state = fresh()?;
    let mut last = None;
    let mut recent = RecentIds::new(recent_ids);
    let mut repeats = 0;
    // Each event waits for AHEAD more, so that its slot in the repeat table
    // (and the slot its insert pushes out) is fetched while the engine
    // takes those before it: both miss the cache for most events, and at
    // 30,000,000 events the misses were 7% of an evaluation.
    let mut held: VecDeque<(Option<u64>, Event)> = VecDeque::with_capacity(AHEAD + 1);
    let mut give = |state: &mut S, recent: &mut RecentIds, (key, e): (Option<u64>, Event)| {
        if key.is_some_and(|k| !recent.insert_key(k)) {
            repeats += 1;
        } else {
            take(state, &e);
        }
    };
    let read = input.stream(what, &mut |e| {
        if e.timestamp < last {
            return Flow::Stop;
        }
        last = e.timestamp;
        let key = (!e.event_id.is_empty()).then(|| recent.key(&e.event_id, e.outcome));
        if let Some(k) = key {
            recent.prefetch(k, held.len());
        }
        held.push_back((key, e));
        if held.len() > AHEAD {
            if let Some(next) = held.pop_front() {
                give(&mut state, &mut recent, next);
            }
        }
        Flow::Go
    })?;
    if !read.stopped {
        while let Some(next) = held.pop_front() {
            give(&mut state, &mut recent, next);
        }
        report_repeated(command, repeats);
        return Ok(Ordered {
            state,
            read,
            sorted: false,
        });
    }
    eprintln!("palisade {command}: the input is not in time order; reading it whole to sort it");
    drop(state);
    let (events, read, _) = load_sorted(input, "reading")?;
    let mut state = fresh()?;
    let mut recent = RecentIds::new(recent_ids);
    let mut repeats = 0;
    let bar = progress(what, Some(events.len() as u64), "events");
    for (i, e) in events.iter().enumerate() {
        if repeated(&mut recent, e) {
            repeats += 1;
        } else {
            take(&mut state, e);
        }
        if i % 4096 == 0 {
            if let Some(b) = &bar {
                b.set_position(i as u64);
            }
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    report_repeated(command, repeats);
    Ok(Ordered {
        state,
        read,
        sorted: true,
    })
}

fn report_repeated(command: &str, repeats: u64) {
    if repeats > 0 {
        eprintln!(
            "palisade {command}: {repeats} event{} repeated the id and outcome of an earlier one and {} not applied again",
            if repeats == 1 { "" } else { "s" },
            if repeats == 1 { "was" } else { "were" }
        );
    }
}
