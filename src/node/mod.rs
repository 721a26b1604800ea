//! What every door shares. An event reaches the engine through a [`Core`],
//! whichever door it came in by (HTTP, Kafka, replay, the analytics
//! commands), so the contract's rule that an event seen twice counts once
//! holds on all of them alike.

pub mod checkpoint;
pub mod open;
pub mod priority;
pub mod replication;
pub mod snapshot;
pub mod tasks;
pub mod worker;

use crate::engine::Engine;
use crate::event::{Decision, Event};
use crate::state::recent_ids::RecentIds;

/// The engine and its memory of the event ids decided lately.
pub struct Core {
    pub engine: Engine,
    /// Ids (with their outcome) decided lately; an event without an id is
    /// never taken for a repeat.
    pub recent: RecentIds,
}

impl Core {
    /// An engine that remembers the latest `recent_ids` ids
    /// (`limits.recent_event_ids`).
    pub fn new(engine: Engine, recent_ids: usize) -> Core {
        let recent = engine.recent_ids(recent_ids);
        Core::with_recent(engine, recent)
    }

    /// An engine with the ids a checkpoint remembered.
    pub fn with_recent(engine: Engine, recent: RecentIds) -> Core {
        Core { engine, recent }
    }

    /// Whether an event with this id and outcome was decided lately: a
    /// repeat (a redelivery, a retry, a copy in a log), which changes no
    /// state.
    #[inline]
    pub fn is_repeat(&self, e: &Event) -> bool {
        !e.event_id.is_empty() && self.recent.contains(&e.event_id, e.outcome)
    }

    /// Decides a new event and remembers its id. The door has checked that
    /// it is no repeat and is in time.
    #[inline]
    pub fn decide(&mut self, e: &Event) -> Decision {
        if !e.event_id.is_empty() {
            self.recent.insert(&e.event_id, e.outcome);
        }
        self.engine.evaluate(e)
    }

    /// Decides the event unless it is a repeat (`None`): for the doors that
    /// answer a repeat with nothing (replay, the analytics commands).
    #[inline]
    pub fn decide_once(&mut self, e: &Event) -> Option<Decision> {
        let key = self.id_key(e);
        self.decide_once_keyed(e, key)
    }

    /// What the event's id and outcome are remembered as; 0 for an event
    /// without an id. A door that reads ahead takes it early and passes it
    /// to [`Core::prefetch`], then to [`Core::decide_once_keyed`].
    #[inline]
    pub fn id_key(&self, e: &Event) -> u64 {
        if e.event_id.is_empty() {
            0
        } else {
            self.recent.key(&e.event_id, e.outcome)
        }
    }

    /// Starts fetching what deciding the event `ahead` events from now will
    /// read of the memory of ids (see [`RecentIds::prefetch`]).
    #[inline]
    pub fn prefetch(&self, key: u64, ahead: usize) {
        if key != 0 {
            self.recent.prefetch(key, ahead);
        }
    }

    /// [`Core::decide_once`] with the event's [`Core::id_key`].
    #[inline]
    pub fn decide_once_keyed(&mut self, e: &Event, key: u64) -> Option<Decision> {
        if key != 0 && !self.recent.insert_key(key) {
            return None;
        }
        Some(self.engine.evaluate(e))
    }
}

/// A door's connection, for `/readyz`: ready, or what is wrong (Kafka's
/// consumer sets it; the HTTP door reports it).
pub struct Health {
    state: std::sync::Mutex<(bool, String)>,
}

impl Health {
    /// Not ready yet, for the reason given.
    pub fn new(detail: String) -> Health {
        Health {
            state: std::sync::Mutex::new((false, detail)),
        }
    }

    /// `Ok` when ready; otherwise what is wrong.
    pub fn status(&self) -> Result<(), String> {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.0 {
            Ok(())
        } else {
            Err(s.1.clone())
        }
    }

    pub fn set(&self, ready: bool, detail: String) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = (ready, detail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineParts;
    use crate::event::Outcome;

    fn core() -> Core {
        let parts = EngineParts::from_config(&crate::config::Config::default()).unwrap();
        Core::new(Engine::new(parts), 100)
    }

    #[test]
    fn event_ids_are_hashed_under_the_engines_secret_key() {
        let keyed = |hash_key: Option<&str>| {
            let config = crate::config::Config {
                hash_key: hash_key.map_or_else(Default::default, |k| {
                    crate::config::Setting::parse(k.to_string())
                }),
                ..crate::config::Config::default()
            };
            Core::new(Engine::new(EngineParts::from_config(&config).unwrap()), 100)
        };
        let e = Event {
            event_id: "e1".into(),
            outcome: Outcome::Failure,
            ..Event::default()
        };
        let public = keyed(None).id_key(&e);
        let a = keyed(Some(&"ab".repeat(16))).id_key(&e);
        let b = keyed(Some(&"cd".repeat(16))).id_key(&e);
        assert_ne!(
            a, b,
            "another key, another hash: an attacker without it cannot aim ids"
        );
        assert_ne!(a, public);
        assert_ne!(
            public,
            RecentIds::new(1).key("e1", Outcome::Failure),
            "not the fixed seeds"
        );
        assert_eq!(
            a,
            keyed(Some(&"ab".repeat(16))).id_key(&e),
            "the same key, the same hash"
        );
    }

    #[test]
    fn an_event_seen_twice_is_decided_once_and_its_outcome_apart() {
        let mut c = core();
        let mut e = Event {
            event_id: "e1".into(),
            user: "alice".into(),
            outcome: Outcome::Failure,
            ..Event::default()
        };
        assert!(c.decide_once(&e).is_some());
        assert!(c.is_repeat(&e));
        assert!(c.decide_once(&e).is_none(), "a repeat is not decided");
        e.outcome = Outcome::Attempt;
        assert!(!c.is_repeat(&e), "the attempt is another event");
        assert!(c.decide_once(&e).is_some());
        e.event_id.clear();
        assert!(c.decide_once(&e).is_some(), "no id: never a repeat");
        assert!(c.decide_once(&e).is_some());
        assert_eq!(c.recent.len(), 2);
    }
}
