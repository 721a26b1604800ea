//! Detectors: the rules in `rules/`, compiled. Each rule counts matching
//! outcome events per key in a leaky bucket (or, for the lockout rule, per user
//! Keycloak-style) and, when the bucket overflows, blocks or challenges the key
//! for a while or adds a scored signal.

mod compile;
mod keys;
mod load;
pub mod lockout;
pub mod spec;

pub use compile::compile;
pub use keys::{KeyKind, Keys};
pub use load::{load_rules, RuleSet, EMBEDDED_RULES};

use crate::event::{Event, Outcome};
use crate::state::limiter::{Fill, KeyedBucket};
use crate::state::{retain_counted, Evictions};
use lockout::{Lockout, LockoutMode};
use rustc_hash::FxHashMap;

/// Which events a rule counts, as bitmasks over the event's enums.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Filter {
    pub kinds: u8,
    pub outcomes: u8,
    /// Bit 0: no failure reason; bits 1..: the reasons.
    pub failure_reasons: u8,
    pub user_exists: Option<bool>,
    pub has_password: Option<bool>,
}

pub(crate) fn kind_bit(e: &Event) -> u8 {
    1 << (e.kind as u8)
}

pub(crate) fn outcome_bit(o: Outcome) -> u8 {
    1 << (o as u8)
}

/// Bit 0: no failure reason (`unspecified` in a rule); bits 1..: the
/// contract's reasons in order.
pub(crate) fn failure_bit(e: &Event) -> u8 {
    match e.failure_reason {
        None => 1,
        Some(r) => 2 << (r as u8),
    }
}

impl Filter {
    /// Whether the rule counts this event, ignoring its outcome (an attempt asks
    /// whether its outcome would be counted).
    fn matches_kind(&self, e: &Event) -> bool {
        self.kinds & kind_bit(e) != 0
            && self
                .user_exists
                .is_none_or(|want| e.user_exists == Some(want))
            && self
                .has_password
                .is_none_or(|want| e.password_sha1.is_some() == want)
    }

    pub fn matches(&self, e: &Event) -> bool {
        self.matches_kind(e)
            && self.outcomes & outcome_bit(e.outcome) != 0
            && self.failure_reasons & failure_bit(e) != 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverflowAction {
    Block,
    Challenge,
    Signal,
}

/// How a detector counts.
pub enum Counter {
    Bucket {
        key: KeyKind,
        distinct: Option<KeyKind>,
        reset_on_success: bool,
        /// Counted events a let-through success from the key takes back.
        success_credit: u32,
        bucket: KeyedBucket,
    },
    Lockout(Lockout),
}

impl Counter {
    /// The limit in words, for reasons.
    pub fn describe_limit(&self) -> String {
        match self {
            Counter::Bucket {
                key,
                distinct,
                bucket,
                ..
            } => {
                let counted =
                    distinct.map_or("events".to_string(), |k| format!("distinct {}s", k.name()));
                format!(
                    "{} {counted} per {} (leaking one per {})",
                    bucket.capacity(),
                    key.name(),
                    humantime::format_duration(bucket.leak())
                )
            }
            Counter::Lockout(_) => "the lockout's failure limit".to_string(),
        }
    }
}

/// A compiled rule.
pub struct Detector {
    /// The rule's id, shared with every reason that names it.
    pub id: std::sync::Arc<str>,
    pub category: String,
    pub description: String,
    pub audit: bool,
    pub filter: Filter,
    pub counter: Counter,
    pub action: OverflowAction,
    pub duration_ms: u64,
    pub score: f64,
    /// The limit in words, such as `10 events per ip (leaking one per 1m)`,
    /// written once for every reason that cites it.
    pub limit: String,
    /// Keys blocked or challenged, until when (event time, ms). A lockout
    /// rule's locks are in its [`Lockout`] instead.
    blocks: FxHashMap<u64, u64>,
    max_keys: usize,
    /// Blocks let go (ended, or made way at the cap).
    evicted: Evictions,
    /// Events that overflowed this rule's limit since start (not saved).
    overflows: u64,
    /// For a rule a success can only matter to while the event's network
    /// has failed lately: how long after its last failure (ms).
    settles_ms: Option<u64>,
}

/// How long an event's sources are known to have made no failed sign-in
/// (ms; 0 when unknown): its address (and so the user from it), and its
/// network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quiet {
    pub address_ms: u64,
    pub network_ms: u64,
}

/// Why a detector spoke for an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HitKind {
    /// The key was already blocked or challenged, until the given time.
    InForce { until_ms: u64 },
    /// This event overflowed the bucket (and, for block and challenge rules,
    /// started a block until the given time).
    Overflow { until_ms: Option<u64> },
    /// An attempt whose outcome would overflow the bucket.
    WouldOverflow,
}

impl Detector {
    /// Starts fetching what the rule reads first of the event's key, where
    /// its table has a filter in front (the lockout's).
    pub fn prefetch(&self, keys: &Keys) {
        if let Counter::Lockout(l) = &self.counter {
            l.prefetch(keys.user);
        }
    }

    /// The key this detector counts the event under, if the event has one.
    pub fn key(&self, keys: &Keys) -> Option<u64> {
        match &self.counter {
            Counter::Bucket { key, .. } => key.of(keys),
            Counter::Lockout(_) => Some(keys.user),
        }
    }

    /// Whether the rule's holds spare the account owner's known device:
    /// holds on a whole account (rules keyed by user, and the lockout unless
    /// it runs in exact Keycloak mode), so failures sent from elsewhere
    /// cannot lock the owner out; and holds on a password (a spray), which
    /// ask every account using it for MFA but need not ask its owners on
    /// their own devices. The engine decides what the owner's known device is.
    pub fn spares_owner(&self) -> bool {
        match &self.counter {
            Counter::Bucket { key, .. } => matches!(key, KeyKind::User | KeyKind::Password),
            Counter::Lockout(l) => l.mode() == LockoutMode::OwnerAware,
        }
    }

    pub fn key_kind(&self) -> KeyKind {
        match &self.counter {
            Counter::Bucket { key, .. } => *key,
            Counter::Lockout(_) => KeyKind::User,
        }
    }

    /// Evaluates one event; counts it when it is an outcome the rule matches.
    /// A `probe` (an attempt asked about, not applied) leaves even expired
    /// holds in place.
    pub fn evaluate(
        &mut self,
        e: &Event,
        keys: &Keys,
        now_ms: u64,
        probe: bool,
    ) -> Option<HitKind> {
        let key = self.key(keys)?;
        if let Counter::Lockout(l) = &self.counter {
            // Keycloak checks the lock before the password: while it holds,
            // every sign-in is refused and none is counted.
            if let Some(until_ms) = l.locked_until(key, now_ms) {
                return Some(HitKind::InForce { until_ms });
            }
        } else if let Some(&until) = self.blocks.get(&key) {
            if until > now_ms {
                // Outcomes during a block still count, so a persistent attacker
                // keeps the block renewed.
                if e.is_outcome() && self.filter.matches(e) {
                    self.count(e, keys, key, now_ms);
                }
                return Some(HitKind::InForce { until_ms: until });
            }
            if !probe {
                self.blocks.remove(&key);
                self.evicted.age += 1;
            }
        }
        if !e.is_outcome() {
            let would = match &self.counter {
                Counter::Bucket {
                    bucket,
                    distinct: None,
                    ..
                } => self.filter.matches_kind(e) && bucket.would_overflow(key),
                _ => false,
            };
            return would.then_some(HitKind::WouldOverflow);
        }
        if !self.filter.matches(e) {
            return None;
        }
        self.count(e, keys, key, now_ms)
    }

    fn count(&mut self, e: &Event, keys: &Keys, key: u64, now_ms: u64) -> Option<HitKind> {
        let overflow_for = match &mut self.counter {
            Counter::Bucket {
                bucket, distinct, ..
            } => {
                let value = distinct.map(|d| d.of(keys));
                if value == Some(None) {
                    return None; // counting distinct values the event lacks
                }
                (bucket.count(key, value.flatten()) == Fill::Overflow).then_some(self.duration_ms)
            }
            Counter::Lockout(l) => {
                if e.outcome != Outcome::Failure {
                    return None;
                }
                // The lockout holds its own lock (Keycloak's `notBefore`, in
                // whole seconds), not in `blocks`; a lockout rule never
                // signals.
                let at_ms = e.timestamp.map_or(now_ms, |t| t.millis().min(now_ms));
                let until = l.failure_at(key, now_ms, at_ms)?;
                self.overflows += 1;
                return Some(HitKind::Overflow {
                    until_ms: Some(until),
                });
            }
        }?;
        self.overflows += 1;
        let until = match self.action {
            OverflowAction::Signal => None,
            _ => {
                let until = now_ms.saturating_add(overflow_for);
                if self.blocks.len() >= self.max_keys && !self.blocks.contains_key(&key) {
                    self.make_room_for_a_block(now_ms);
                }
                let u = self.blocks.entry(key).or_default();
                *u = (*u).max(until);
                Some(until)
            }
        };
        Some(HitKind::Overflow { until_ms: until })
    }

    /// At the cap, expired holds go; if that is not enough, the tenth of holds
    /// ending soonest make way, so a new block is always recorded.
    fn make_room_for_a_block(&mut self, now_ms: u64) {
        self.evicted.age += retain_counted(&mut self.blocks, |_, u| *u > now_ms);
        if self.blocks.len() < self.max_keys {
            return;
        }
        let mut ends: Vec<u64> = self.blocks.values().copied().collect();
        let cut = ends.len() / 10;
        let (_, nth, _) = ends.select_nth_unstable(cut);
        let nth = *nth;
        self.evicted.cap += retain_counted(&mut self.blocks, |_, u| *u > nth);
    }

    /// A success the engine let through, for this event's user: empties
    /// buckets that only the user can act on, and clears the user's lockout
    /// record. Whether a block or challenge on the key was lifted (for a
    /// lockout: whether one had been set).
    ///
    /// `quiet` is how long the event's address and network are known to
    /// have made no failed sign-in: a rule settled by then has nothing to
    /// take back or lift, and is not looked up.
    pub fn on_success(&mut self, keys: &Keys, now_ms: u64, quiet: Quiet) -> bool {
        let quiet_ms = match self.key_kind() {
            KeyKind::Network => quiet.network_ms,
            _ => quiet.address_ms,
        };
        if self.settles_ms.is_some_and(|s| s <= quiet_ms) {
            return false;
        }
        match &mut self.counter {
            Counter::Bucket {
                key,
                reset_on_success: true,
                bucket,
                ..
            } => {
                if let Some(k) = key.of(keys) {
                    bucket.reset(k);
                    return self.blocks.remove(&k).is_some();
                }
                false
            }
            Counter::Bucket {
                key,
                success_credit,
                bucket,
                ..
            } if *success_credit > 0 => {
                if let Some(k) = key.of(keys) {
                    bucket.drain(k, *success_credit);
                }
                false
            }
            // As Keycloak's successful login: the failures, temporary
            // lockouts and any lock go (but not a lock in owner_aware mode).
            Counter::Lockout(l) => l.success_at(keys.user, now_ms),
            Counter::Bucket { .. } => false,
        }
    }

    /// How long after the last failed sign-in from the event's network a
    /// success can neither take anything back from this rule's bucket nor
    /// lift its block: for a bucket that counts only failed sign-ins, keyed
    /// by something inside the network (the user from an address, the
    /// address, the network), the time a full bucket takes to drain or the
    /// block to end, whichever is longer. `None` for every other rule.
    fn settles(&self) -> Option<u64> {
        let Counter::Bucket {
            key,
            bucket,
            distinct,
            reset_on_success,
            ..
        } = &self.counter
        else {
            return None;
        };
        // A reset also forgets a distinct bucket's values, drained or not.
        if *reset_on_success && distinct.is_some() {
            return None;
        }
        let failures_only = self.filter.kinds == 1 << (crate::event::Kind::SignIn as u8)
            && self.filter.outcomes == outcome_bit(Outcome::Failure);
        let inside = matches!(key, KeyKind::UserIp | KeyKind::Ip | KeyKind::Network);
        if !(failures_only && inside) {
            return None;
        }
        let drain_ms = (bucket.leak().as_millis() as u64).saturating_mul(bucket.capacity() as u64);
        let held_ms = match self.action {
            OverflowAction::Signal => 0,
            _ => self.duration_ms,
        };
        Some(drain_ms.max(held_ms))
    }

    /// Sizes the rule's counter table for `n` keys now (see
    /// [`KeyedBucket::presize`]).
    pub fn presize(&mut self, n: usize) {
        match &mut self.counter {
            Counter::Bucket { bucket, .. } => bucket.presize(n),
            Counter::Lockout(l) => l.presize(n),
        }
    }

    /// (keys tracked, bytes they hold): bucket slots or failure counts, plus
    /// blocks in force, each table counted by its capacity.
    pub fn state_size(&self) -> (usize, usize) {
        let (keys, bytes) = match &self.counter {
            Counter::Bucket { bucket, .. } => (bucket.len(), bucket.heap_bytes()),
            Counter::Lockout(l) => (l.len(), l.heap_bytes()),
        };
        (
            keys + self.blocks.len(),
            bytes + self.blocks.capacity() * (16 + 1),
        )
    }

    /// Bytes one key of this rule can hold at worst, with its hash-table
    /// slack (`slack` buckets per entry): its counter entry, and for bucket
    /// rules that block or challenge, a block entry too.
    pub fn worst_bytes_per_key(&self, slack: f64) -> f64 {
        let counter = match &self.counter {
            Counter::Bucket { .. } => crate::state::limiter::SLOT_ENTRY_BYTES,
            Counter::Lockout(_) => lockout::ENTRY_BYTES,
        };
        // A lockout indexes its locks by user (key and end), as blocks are.
        let blocks = match (&self.counter, self.action) {
            (Counter::Bucket { .. }, OverflowAction::Signal) => 0,
            _ => std::mem::size_of::<(u64, u64)>(),
        };
        (counter + 1) as f64 * slack
            + if blocks > 0 {
                (blocks + 1) as f64 * slack
            } else {
                0.0
            }
    }

    /// Events that overflowed this rule's limit since the process started.
    pub fn overflows(&self) -> u64 {
        self.overflows
    }

    /// Keys this rule let go: bucket or failure-count keys, and blocks.
    pub fn evictions(&self) -> Evictions {
        let mut e = self.evicted;
        e += match &self.counter {
            Counter::Bucket { bucket, .. } => bucket.evictions(),
            Counter::Lockout(l) => l.evictions(),
        };
        e
    }

    /// Keys blocked or challenged, until when (event time, ms): for checkpoints.
    pub fn blocks(&self) -> &FxHashMap<u64, u64> {
        &self.blocks
    }

    /// Takes a checkpoint's blocks.
    pub fn restore_blocks(&mut self, blocks: FxHashMap<u64, u64>) {
        self.blocks = blocks;
    }

    /// What the rule counts, under which key, how and for how long it holds:
    /// a checkpoint restores a detector's state only into a detector with the
    /// same signature. Score, audit flag and texts may change freely.
    pub fn signature(&self) -> String {
        let counter = match &self.counter {
            Counter::Bucket {
                key,
                distinct,
                reset_on_success,
                success_credit,
                bucket,
            } => format!(
                "bucket key={} distinct={:?} reset_on_success={reset_on_success} success_credit={success_credit} capacity={} leak={:?}",
                key.name(),
                distinct.map(KeyKind::name),
                bucket.capacity(),
                bucket.leak()
            ),
            Counter::Lockout(l) => format!("lockout {:?}", l.params()),
        };
        format!(
            "{counter} filter={:?} action={:?} duration_ms={}",
            self.filter, self.action, self.duration_ms
        )
    }

    pub fn counter_mut(&mut self) -> &mut Counter {
        &mut self.counter
    }

    /// A lockout rule's failure records and lock, per user.
    pub fn lockout(&self) -> Option<&Lockout> {
        match &self.counter {
            Counter::Bucket { .. } => None,
            Counter::Lockout(l) => Some(l),
        }
    }

    /// How the engine applies a lockout rule's lock; `None` for bucket rules.
    pub fn lockout_mode(&self) -> Option<LockoutMode> {
        self.lockout().map(Lockout::mode)
    }

    pub fn bucket(&self) -> Option<&KeyedBucket> {
        match &self.counter {
            Counter::Bucket { bucket, .. } => Some(bucket),
            Counter::Lockout(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, Kind, Outcome};
    use crate::state::limiter::EventClock;

    fn rules(clock: &EventClock) -> Vec<Detector> {
        load_rules(None, clock, 1_000).unwrap().detectors
    }

    /// Skipping a settled rule's success changes nothing: a full bucket,
    /// left `settles_ms`, then a success looked up or skipped, then the same
    /// failures again give the same hits.
    #[test]
    fn a_settled_rule_skips_only_what_a_success_cannot_change() {
        let (a_clock, b_clock) = (EventClock::default(), EventClock::default());
        let (mut a, mut b) = (rules(&a_clock), rules(&b_clock));
        let settled: Vec<&str> = a
            .iter()
            .filter(|d| d.settles_ms.is_some())
            .map(|d| &*d.id)
            .collect();
        // Keyed inside the network and counting only failures; not the
        // user's, ASN's or password's rules, nor the lockout.
        assert_eq!(
            settled,
            [
                "brute_force",
                "ip_velocity_high",
                "network_velocity",
                "user_enumeration"
            ]
        );
        let fail = Event {
            kind: Kind::SignIn,
            outcome: Outcome::Failure,
            ..Event::default()
        };
        let t0 = 1_767_225_600_000u64;
        for (i, (da, db)) in a.iter_mut().zip(&mut b).enumerate() {
            let Some(s) = da.settles_ms else { continue };
            let hits = |d: &mut Detector, clock: &EventClock, at: u64| {
                clock.set_millis(at);
                (0..40u64)
                    .map(|n| {
                        let keys = Keys {
                            user: n % 3,
                            user_ip: 7 + n % 3,
                            ..Keys::default()
                        };
                        d.evaluate(&fail, &keys, at, false)
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(hits(da, &a_clock, t0), hits(db, &b_clock, t0), "rule {i}");
            let later = t0 + s;
            a_clock.set_millis(later);
            b_clock.set_millis(later);
            let keys = Keys {
                user_ip: 7,
                ..Keys::default()
            };
            da.on_success(&keys, later, Quiet::default());
            let quiet = Quiet {
                address_ms: s,
                network_ms: s,
            };
            assert!(!db.on_success(&keys, later, quiet));
            assert_eq!(
                hits(da, &a_clock, later),
                hits(db, &b_clock, later),
                "rule {i}"
            );
        }
    }
}
