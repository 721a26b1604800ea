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
    pub fn evaluate(&mut self, e: &Event, keys: &Keys, now_ms: u64) -> Option<HitKind> {
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
            self.blocks.remove(&key);
            self.evicted.age += 1;
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
                let until = l.failure(key, now_ms)?;
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
    pub fn on_success(&mut self, keys: &Keys, now_ms: u64) -> bool {
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
        // A lockout keeps its lock in its own entry.
        let blocks = match (&self.counter, self.action) {
            (Counter::Lockout(_), _) | (_, OverflowAction::Signal) => 0,
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
