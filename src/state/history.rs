//! Recent events and their decisions, per user: what `GET /v1/users/{user}/events`
//! lists (Cognito's list of user auth events) and where feedback finds an event
//! by its id. Bounded three ways: a ring of `per_user` entries per user, at
//! most `max_users` users (the one whose latest event is oldest going first),
//! and, when set, a maximum age: a user whose latest event is older than that
//! (in event time) is forgotten. Stored events never hold the password hash.

use super::keyed::{self, KeyedMap};
use crate::event::username::push_account;
use crate::event::{Decision, Event, FeedbackVerdict, Outcome};
use crate::state::Evictions;
use serde::Serialize;
use std::collections::VecDeque;

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// Increases with every recorded event: the order of events, and the
    /// cursor of [`History::page`].
    pub seq: u64,
    /// The event as received, without `password_sha1`.
    pub event: Event,
    /// Whether the event carried a `password_sha1`.
    pub has_password: bool,
    pub decision: Decision,
    /// The verdict of feedback on the event, once given.
    pub feedback: Option<FeedbackVerdict>,
}

/// One page of a user's events, newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<'a> {
    pub events: Vec<&'a Entry>,
    /// Pass as `before` for the next (older) page; `None` on the last page.
    pub next: Option<u64>,
}

/// No slot: the end of the recency list.
const NIL: u32 = u32::MAX;

/// Where the entries of one event id are: the slot and sequence number of
/// each outcome's (an attempt and its outcome may share an id, as the README
/// allows; they are two events), sequence 0 where there is none.
#[derive(Debug, Default, Clone, Copy)]
struct Places([(u32, u64); 3]);

impl Places {
    fn get(&self, outcome: Outcome) -> Option<(u32, u64)> {
        let p = self.0[outcome as usize];
        (p.1 != 0).then_some(p)
    }

    /// The place of the latest recorded of them.
    fn newest(&self) -> Option<(u32, u64)> {
        self.0
            .iter()
            .copied()
            .filter(|p| p.1 != 0)
            .max_by_key(|p| p.1)
    }

    fn is_empty(&self) -> bool {
        self.0.iter().all(|p| p.1 == 0)
    }
}

/// One user's ring, linked into the list of users by latest event.
#[derive(Debug, Default)]
struct UserRing {
    account: Box<str>,
    entries: VecDeque<Entry>,
    /// Neighbours in the recency list (towards older, towards newer).
    older: u32,
    newer: u32,
}

#[derive(Debug)]
pub struct History {
    per_user: usize,
    max_users: usize,
    /// Account text (see `push_account`) to its ring's slot.
    accounts: KeyedMap<Box<str>, u32>,
    rings: Vec<UserRing>,
    free: Vec<u32>,
    /// The ring whose latest event is oldest, and the one with the newest.
    oldest: u32,
    newest: u32,
    /// Event id to the (slot, seq) of each stored entry with that id.
    ids: KeyedMap<Box<str>, Places>,
    /// Entries stored.
    stored: usize,
    next_seq: u64,
    /// Estimated heap bytes of the stored entries.
    entry_bytes: usize,
    scratch: String,
    /// Users whose events were dropped, at the cap or by age (not saved).
    evicted: Evictions,
    /// Users are forgotten once their latest event is this old (ms).
    max_age_ms: Option<u64>,
}

impl History {
    /// A history whose indexes hash with public seeds (tests, offline
    /// tools); a server's is [`keyed`](Self::keyed).
    pub fn new(per_user: usize, max_users: usize) -> History {
        History::keyed(per_user, max_users, keyed::PUBLIC_SEEDS)
    }

    /// A history whose indexes of accounts and event ids (both chosen by
    /// whoever sends events) hash under `seeds`, the engine's secret ones.
    pub fn keyed(per_user: usize, max_users: usize, seeds: [u64; 4]) -> History {
        History {
            per_user: per_user.max(1),
            max_users: max_users.clamp(1, NIL as usize - 1),
            accounts: keyed::map(seeds),
            rings: Vec::new(),
            free: Vec::new(),
            oldest: NIL,
            newest: NIL,
            ids: keyed::map(seeds),
            stored: 0,
            next_seq: 1,
            entry_bytes: 0,
            scratch: String::new(),
            evicted: Evictions::default(),
            max_age_ms: None,
        }
    }

    /// Sizes the indexes of accounts and event ids for `users` users (at
    /// most the cap) and their full rings, so that filling them never
    /// doubles a table (each doubling rehashes every key at once: a pause of
    /// milliseconds at a million ids, on the decide that happens to grow
    /// it). Nothing shrinks them afterwards.
    pub fn presize(&mut self, users: usize) {
        let users = users.min(self.max_users);
        let ids = users.saturating_mul(self.per_user);
        self.accounts
            .reserve(users.saturating_sub(self.accounts.len()));
        self.ids.reserve(ids.saturating_sub(self.ids.len()));
        self.rings.reserve(users.saturating_sub(self.rings.len()));
    }

    /// Records an event and its decision; `false` (and nothing stored) when an
    /// event with its id and outcome is already recorded: a redelivered event
    /// keeps its first entry.
    pub fn record(&mut self, e: &Event, d: &Decision) -> bool {
        if self.find_outcome(&e.event_id, e.outcome).is_some() {
            return false;
        }
        self.scratch.clear();
        push_account(&mut self.scratch, e.tenant.as_deref(), &e.user);
        let slot = match self.accounts.get(self.scratch.as_str()) {
            Some(&slot) => {
                self.unlink(slot);
                slot
            }
            None => self.new_ring(),
        };
        self.push_newest(slot);
        let ring = &mut self.rings[slot as usize];
        if ring.entries.len() >= self.per_user {
            if let Some(old) = ring.entries.pop_front() {
                self.forget_id(&old);
            }
        }
        let ring = &mut self.rings[slot as usize];
        let mut event = e.clone();
        event.password_sha1 = None;
        let entry = Entry {
            seq: self.next_seq,
            event,
            has_password: e.password_sha1.is_some(),
            decision: d.clone(),
            feedback: None,
        };
        self.next_seq += 1;
        self.entry_bytes += entry_bytes(&entry);
        self.stored += 1;
        let place = (slot, entry.seq);
        ring.entries.push_back(entry);
        if let Some(places) = self.ids.get_mut(e.event_id.as_str()) {
            places.0[e.outcome as usize] = place;
        } else {
            let mut places = Places::default();
            places.0[e.outcome as usize] = place;
            self.ids.insert(e.event_id.as_str().into(), places);
        }
        if let Some(t) = e.timestamp {
            self.age_out(t.millis());
        }
        true
    }

    /// The entry of an event id, unless it was evicted: of an attempt and
    /// its outcome sharing the id, the later recorded (the outcome), which is
    /// what feedback on the id is about.
    pub fn find(&self, event_id: &str) -> Option<&Entry> {
        self.at(self.ids.get(event_id)?.newest()?)
    }

    /// The entry of the event with this id and outcome, unless it was
    /// evicted: what a redelivery of that event was decided.
    pub fn find_outcome(&self, event_id: &str, outcome: Outcome) -> Option<&Entry> {
        self.at(self.ids.get(event_id)?.get(outcome)?)
    }

    fn at(&self, (slot, seq): (u32, u64)) -> Option<&Entry> {
        let entries = &self.rings[slot as usize].entries;
        let i = entries.binary_search_by_key(&seq, |e| e.seq).ok()?;
        entries.get(i)
    }

    fn at_mut(&mut self, (slot, seq): (u32, u64)) -> Option<&mut Entry> {
        let entries = &mut self.rings[slot as usize].entries;
        let i = entries.binary_search_by_key(&seq, |e| e.seq).ok()?;
        entries.get_mut(i)
    }

    /// Records the verdict of feedback on an event (the entry
    /// [`find`](Self::find) gives); `false` when the event is not (or no
    /// longer) stored.
    pub fn set_feedback(&mut self, event_id: &str, verdict: FeedbackVerdict) -> bool {
        let Some(place) = self.ids.get(event_id).and_then(Places::newest) else {
            return false;
        };
        match self.at_mut(place) {
            Some(e) => {
                e.feedback = Some(verdict);
                true
            }
            None => false,
        }
    }

    /// Drops an entry leaving its ring from the id index.
    fn forget_id(&mut self, old: &Entry) {
        self.entry_bytes -= entry_bytes(old);
        self.stored -= 1;
        let id = old.event.event_id.as_str();
        if let Some(places) = self.ids.get_mut(id) {
            if places
                .get(old.event.outcome)
                .is_some_and(|p| p.1 == old.seq)
            {
                places.0[old.event.outcome as usize] = (0, 0);
            }
            if places.is_empty() {
                self.ids.remove(id);
            }
        }
    }

    /// The user's events newest first: at most `limit` (0 is taken as 1), older
    /// than sequence `before` when given. The user is matched as the engine
    /// identifies accounts: tenant, and the name trimmed and lower-cased.
    pub fn page(
        &self,
        tenant: Option<&str>,
        user: &str,
        limit: usize,
        before: Option<u64>,
    ) -> Page<'_> {
        let mut account = String::with_capacity(user.len() + 16);
        push_account(&mut account, tenant, user);
        let Some(&slot) = self.accounts.get(account.as_str()) else {
            return Page {
                events: Vec::new(),
                next: None,
            };
        };
        let before = before.unwrap_or(u64::MAX);
        let mut older = self.rings[slot as usize]
            .entries
            .iter()
            .rev()
            .skip_while(|e| e.seq >= before);
        let events: Vec<&Entry> = older.by_ref().take(limit.max(1)).collect();
        let next = match older.next() {
            Some(_) => events.last().map(|e| e.seq),
            None => None,
        };
        Page { events, next }
    }

    /// Every stored entry, oldest first: what a checkpoint holds, and the
    /// order that, recorded again, rebuilds the same rings and recency list.
    pub fn entries_by_seq(&self) -> Vec<&Entry> {
        let mut all: Vec<&Entry> = self.rings.iter().flat_map(|r| &r.entries).collect();
        all.sort_unstable_by_key(|e| e.seq);
        all
    }

    /// The sequence number the next recorded event gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Restores a checkpoint: `entries` as [`entries_by_seq`](Self::entries_by_seq)
    /// gave them, recorded again with their own sequence numbers and feedback;
    /// then sequence numbers go on from `next_seq`. This history's limits
    /// apply. Entries must come in increasing `seq`.
    pub fn restore(&mut self, entries: impl IntoIterator<Item = Entry>, next_seq: u64) {
        for entry in entries {
            self.next_seq = entry.seq;
            if self.record(&entry.event, &entry.decision) {
                let place = self
                    .ids
                    .get(entry.event.event_id.as_str())
                    .and_then(|p| p.get(entry.event.outcome));
                if let Some(e) = place.and_then(|p| self.at_mut(p)) {
                    e.feedback = entry.feedback;
                    e.has_password = entry.has_password;
                }
            }
        }
        self.next_seq = self.next_seq.max(next_seq);
    }

    /// Events stored.
    pub fn len(&self) -> usize {
        self.stored
    }

    /// Users let go so far, at the cap or by age (a user's ring dropping
    /// its oldest event is not counted: that is the ring's size).
    pub fn evicted_users(&self) -> Evictions {
        self.evicted
    }

    /// Forget users whose latest event is older than `max_age` (event time)
    /// behind the newest recorded; `None` keeps them until the cap.
    pub fn set_max_age(&mut self, max_age: Option<std::time::Duration>) {
        self.max_age_ms = max_age.map(|d| d.as_millis().min(u64::MAX as u128) as u64);
    }

    /// Forgets users whose latest event is older than the maximum age before
    /// `now_ms`, the oldest first; at most 16 per call, so an event far ahead
    /// in time costs no long pause (the rest go with the next events).
    fn age_out(&mut self, now_ms: u64) {
        let Some(max_age) = self.max_age_ms else {
            return;
        };
        let horizon = now_ms.saturating_sub(max_age);
        for _ in 0..16 {
            let slot = self.oldest;
            if slot == NIL {
                return;
            }
            let latest = self.rings[slot as usize]
                .entries
                .back()
                .and_then(|e| e.event.timestamp);
            match latest {
                Some(t) if t.millis() < horizon => {
                    self.evict_oldest();
                    self.evicted.age += 1;
                }
                _ => return,
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.stored == 0
    }

    /// Users with events stored.
    pub fn users(&self) -> usize {
        self.accounts.len()
    }

    /// Estimated bytes held: entries with their strings, rings and indexes.
    pub fn heap_bytes(&self) -> usize {
        let index = |cap: usize, entry: usize| cap * (entry + 1);
        self.entry_bytes
            + self.rings.capacity() * std::mem::size_of::<UserRing>()
            + self
                .rings
                .iter()
                .map(|r| {
                    (r.entries.capacity() - r.entries.len()) * std::mem::size_of::<Entry>()
                        + r.account.len()
                })
                .sum::<usize>()
            + index(
                self.accounts.capacity(),
                std::mem::size_of::<(Box<str>, u32)>(),
            )
            + index(
                self.ids.capacity(),
                std::mem::size_of::<(Box<str>, Places)>(),
            )
    }

    /// A slot for the account in `scratch`, evicting the user whose latest
    /// event is oldest when at the cap.
    fn new_ring(&mut self) -> u32 {
        if self.accounts.len() >= self.max_users {
            self.evict_oldest();
            self.evicted.cap += 1;
        }
        let account: Box<str> = self.scratch.as_str().into();
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.rings.push(UserRing::default());
                (self.rings.len() - 1) as u32
            }
        };
        self.rings[slot as usize].account = account.clone();
        self.accounts.insert(account, slot);
        slot
    }

    fn evict_oldest(&mut self) {
        let slot = self.oldest;
        if slot == NIL {
            return;
        }
        self.unlink(slot);
        let ring = std::mem::take(&mut self.rings[slot as usize]);
        for old in &ring.entries {
            self.forget_id(old);
        }
        self.accounts.remove(&ring.account);
        self.free.push(slot);
    }

    fn unlink(&mut self, slot: u32) {
        let (older, newer) = {
            let r = &self.rings[slot as usize];
            (r.older, r.newer)
        };
        match older {
            NIL => self.oldest = newer,
            o => self.rings[o as usize].newer = newer,
        }
        match newer {
            NIL => self.newest = older,
            n => self.rings[n as usize].older = older,
        }
    }

    fn push_newest(&mut self, slot: u32) {
        let r = &mut self.rings[slot as usize];
        r.older = self.newest;
        r.newer = NIL;
        match self.newest {
            NIL => self.oldest = slot,
            n => self.rings[n as usize].newer = slot,
        }
        self.newest = slot;
    }
}

/// An entry's estimated heap share: itself in its ring, its strings, its
/// reasons, and its key in the id index.
fn entry_bytes(entry: &Entry) -> usize {
    let e = &entry.event;
    let optional = |s: &Option<String>| s.as_ref().map_or(0, String::capacity);
    let reasons = entry.decision.reasons.capacity() * std::mem::size_of::<crate::event::Reason>()
        + entry
            .decision
            .reasons
            .iter()
            .map(|r| r.detail.capacity())
            .sum::<usize>();
    std::mem::size_of::<Entry>()
        + e.event_id.capacity()
        + e.user.capacity()
        + optional(&e.user_agent)
        + optional(&e.device_id)
        + optional(&e.tenant)
        + optional(&e.label)
        + entry.decision.event_id.capacity()
        + reasons
        + e.event_id.len()
}

#[cfg(test)]
mod tests;
