//! Recording into the metrics: what each decision bumps (on the hot path, so
//! label lookups are cached), and what is read from the engine's state when
//! the metrics are scraped (sizes, evictions, rule overflows, enforcements in
//! force), so deciding pays nothing for those.

use super::Metrics;
use crate::engine::Engine;
use crate::event::{Decision, Event};
use crate::state::history::History;
use crate::state::recent_ids::RecentIds;
use crate::state::Evictions;
use prometheus::IntCounter;
use rustc_hash::FxHashMap;
use std::collections::HashMap;
use std::sync::Arc;

/// The labelled counters a decision bumps, looked up once per label set:
/// prometheus hashes the label values and takes a lock on every
/// `with_label_values`, several times per request.
#[derive(Default)]
pub struct DecisionCounters {
    /// By kind and outcome.
    events: Vec<Option<IntCounter>>,
    /// By action, level and enforced.
    decisions: Vec<Option<IntCounter>>,
    reasons: FxHashMap<Box<str>, IntCounter>,
    /// Compromised passwords by kind.
    compromised: Vec<Option<IntCounter>>,
    /// Audit-only decisions by the action that would have been applied.
    audit: Vec<Option<IntCounter>>,
}

impl DecisionCounters {
    pub fn count(&mut self, m: &Metrics, e: &Event, d: &Decision) {
        let i = e.kind as usize * 3 + e.outcome as usize;
        cached(&mut self.events, i, || {
            m.events
                .with_label_values(&[e.kind.as_str(), e.outcome.as_str()])
        })
        .inc();
        let i = (d.action as usize * 3 + d.risk_level as usize) * 2 + usize::from(d.enforced);
        cached(&mut self.decisions, i, || {
            m.decisions.with_label_values(&[
                d.action.as_str(),
                d.risk_level.as_str(),
                if d.enforced { "true" } else { "false" },
            ])
        })
        .inc();
        if let Some(would) = d.audit_action.filter(|_| !d.enforced) {
            cached(&mut self.audit, would as usize, || {
                m.audit.with_label_values(&[would.as_str()])
            })
            .inc();
        }
        if d.compromised_password {
            cached(&mut self.compromised, e.kind as usize, || {
                m.compromised.with_label_values(&[e.kind.as_str()])
            })
            .inc();
        }
        for r in &d.reasons {
            match self.reasons.get(&*r.code) {
                Some(c) => c.inc(),
                None => {
                    let c = m.reasons.with_label_values(&[&*r.code]);
                    c.inc();
                    self.reasons.insert((*r.code).into(), c);
                }
            }
        }
    }
}

fn cached(
    slots: &mut Vec<Option<IntCounter>>,
    i: usize,
    make: impl FnOnce() -> IntCounter,
) -> &IntCounter {
    if slots.len() <= i {
        slots.resize(i + 1, None);
    }
    slots[i].get_or_insert_with(make)
}

/// Reads the engine's state into the metrics at scrape time. Evictions and
/// overflows are counted inside the structures since the process started;
/// this adds what is new since the last scrape to the counters.
#[derive(Default)]
pub struct StateObserver {
    evictions: HashMap<(&'static str, &'static str), u64>,
    overflows: HashMap<Arc<str>, u64>,
}

impl StateObserver {
    /// `history`: the serving side's recent events and ids, when there are.
    pub fn observe(
        &mut self,
        m: &Metrics,
        engine: &Engine,
        history: Option<(&History, &RecentIds)>,
    ) {
        let s = engine.state_stats();
        let keys: usize = s.rule_keys.iter().map(|r| r.1).sum();
        let key_bytes: usize = s.rule_keys.iter().map(|r| r.2).sum();
        let in_force = engine.enforcements_in_force();
        let mut sizes = vec![
            ("profiles", s.profiles, Some(s.profile_bytes)),
            ("rule_keys", keys, Some(key_bytes)),
            ("enforcements", in_force.len(), None),
            ("reported_blocks", s.reported_blocks, None),
            (
                "fraud_marks",
                s.fraud_marked_users,
                Some(s.fraud_mark_bytes),
            ),
            (
                "failure_sources",
                s.failure_sources.0,
                Some(s.failure_sources.1),
            ),
            ("offenders", s.offenders.0, Some(s.offenders.1)),
        ];
        let mut evictions = engine.evictions();
        if let Some((h, r)) = history {
            sizes.push(("history_events", h.len(), Some(h.heap_bytes())));
            sizes.push(("recent_event_ids", r.len(), Some(r.heap_bytes())));
            evictions.push(("history_users", h.evicted_users()));
            let recent = Evictions {
                cap: r.evicted(),
                age: 0,
            };
            evictions.push(("recent_event_ids", recent));
        }
        for (structure, entries, bytes) in sizes {
            m.state_entries
                .with_label_values(&[structure])
                .set(entries as i64);
            if let Some(b) = bytes {
                m.state_bytes.with_label_values(&[structure]).set(b as i64);
            }
        }
        // The user-agent parse cache is a cache, not state (a restart
        // empties it), so it has a gauge of its own.
        m.user_agent_cache.set(engine.user_agents_cached() as i64);
        for (structure, e) in evictions {
            for (cause, n) in [("cap", e.cap), ("age", e.age)] {
                let seen = self.evictions.entry((structure, cause)).or_default();
                // A structure replaced (a checkpoint restored) starts from 0.
                m.state_evictions
                    .with_label_values(&[structure, cause])
                    .inc_by(n.saturating_sub(*seen));
                *seen = n;
            }
        }
        for (rule, n) in engine.rule_overflows() {
            let seen = self.overflows.entry(rule.clone()).or_default();
            m.rule_overflows
                .with_label_values(&[rule])
                .inc_by(n.saturating_sub(*seen));
            *seen = n;
        }
        // Every scope appears, 0 when none is in force, so a panel shows the
        // drop to nothing rather than a stale last value.
        let mut by_scope: FxHashMap<&'static str, i64> = crate::engine::enforce::Scope::ALL
            .iter()
            .map(|s| (s.as_str(), 0))
            .collect();
        for e in &in_force {
            *by_scope.entry(e.scope.as_str()).or_default() += 1;
        }
        for (scope, n) in by_scope {
            m.enforcements_in_force.with_label_values(&[scope]).set(n);
        }
    }
}
