//! Enforcements: what an auth service should apply without asking per
//! request (block an address, a network, a user from an address, a user, an
//! ASN or a device until a time; require a password reset). The engine issues
//! one when an enforced block rule overflows or feedback reports fraud; the
//! doors publish them (the decisions topic keyed by [`Enforcement::key`], the
//! stream endpoint) and list those in force.
//!
//! Detector state holds only keyed hashes, so an enforcement is written from
//! the event's plain values at the moment it is issued. No enforcement ever
//! carries a password hash: rules keyed by password act inside the engine only.

use super::hashing::push_account;
use crate::detect::{Detector, KeyKind, Keys};
use crate::enrich::netclass;
use crate::event::{Event, Timestamp};
use crate::state::keyed::KeyedMap;
use crate::state::{retain_counted, Evictions};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnforcementAction {
    Block,
    /// The user must reset the password before signing in again.
    RequirePasswordReset,
}

/// What an enforcement applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Ip,
    /// The address's IPv4 /24 or IPv6 /64.
    Network,
    /// One user from one address.
    UserIp,
    User,
    Asn,
    Device,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::Ip,
        Scope::Network,
        Scope::UserIp,
        Scope::User,
        Scope::Asn,
        Scope::Device,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ip => "ip",
            Scope::Network => "network",
            Scope::UserIp => "user_ip",
            Scope::User => "user",
            Scope::Asn => "asn",
            Scope::Device => "device",
        }
    }

    /// The scope of a rule's key; `None` for a password key, which must never
    /// leave the engine.
    pub fn of_key(kind: KeyKind) -> Option<Scope> {
        Some(match kind {
            KeyKind::Ip => Scope::Ip,
            KeyKind::Network => Scope::Network,
            KeyKind::UserIp => Scope::UserIp,
            KeyKind::User => Scope::User,
            KeyKind::Asn => Scope::Asn,
            KeyKind::Device => Scope::Device,
            KeyKind::Password => return None,
        })
    }

    /// The engine's keyed hash for this scope, as the detectors use it.
    pub fn hash(self, keys: &Keys) -> Option<u64> {
        match self {
            Scope::Ip => Some(keys.ip),
            Scope::Network => Some(keys.network),
            Scope::UserIp => Some(keys.user_ip),
            Scope::User => Some(keys.user),
            Scope::Asn => keys.asn,
            Scope::Device => keys.device,
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// One enforcement record. Only the fields of its scope are set: `user` and
/// `tenant` for `user` and `user_ip`, `ip` for `ip` and `user_ip`, and so on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enforcement {
    pub action: EnforcementAction,
    pub scope: Scope,
    /// The user as the event named it; Palisade matches users trimmed and
    /// case-folded, and so should whoever applies the enforcement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// CIDR: the IPv4 /24 or IPv6 /64, as rules group networks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// When a block ends (event time). `None` for a password reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
    /// The rule that issued it, or `feedback`.
    pub rule: String,
    /// The event that triggered it.
    pub event_id: String,
    /// Event time at issue.
    pub issued_at: Timestamp,
}

/// The network of an address as CIDR text: IPv4 /24, IPv6 /64 (IPv4-mapped
/// addresses as IPv4), the grouping of `Keys::network`.
pub fn network_cidr(ip: IpAddr) -> String {
    match netclass::canonical(ip) {
        IpAddr::V4(a) => ipnet::Ipv4Net::new(a, 24)
            .map(|n| n.trunc().to_string())
            .unwrap_or_default(),
        IpAddr::V6(a) => ipnet::Ipv6Net::new(a, 64)
            .map(|n| n.trunc().to_string())
            .unwrap_or_default(),
    }
}

impl Enforcement {
    /// An enforcement of `scope` for the event's values; `None` when the event
    /// lacks the value (an ASN scope without an ASN, a device without an id).
    pub fn for_event(
        action: EnforcementAction,
        scope: Scope,
        e: &Event,
        asn: Option<u32>,
        until: Option<Timestamp>,
        rule: &str,
        issued_at: Timestamp,
    ) -> Option<Enforcement> {
        let mut out = Enforcement {
            action,
            scope,
            user: None,
            tenant: None,
            ip: None,
            network: None,
            asn: None,
            device_id: None,
            until,
            rule: rule.to_string(),
            event_id: e.event_id.clone(),
            issued_at,
        };
        let ip = || netclass::canonical(e.ip).to_string();
        match scope {
            Scope::Ip => out.ip = Some(ip()),
            Scope::Network => out.network = Some(network_cidr(e.ip)),
            Scope::UserIp | Scope::User => {
                out.user = Some(e.user.trim().to_string());
                out.tenant = e.tenant.clone();
                if scope == Scope::UserIp {
                    out.ip = Some(ip());
                }
            }
            Scope::Asn => out.asn = Some(asn?),
            Scope::Device => out.device_id = Some(e.device_id.clone()?),
        }
        Some(out)
    }

    /// A stable record key of what is enforced: `ip:203.0.113.7`,
    /// `network:203.0.113.0/24`, `user_ip:TENANT/user|203.0.113.7`,
    /// `user:TENANT/user`, `asn:AS64500`, `device:ID`; a password reset is
    /// `password_reset:` before its user key, so it never replaces a block.
    /// Users are folded as the engine identifies them (see
    /// `hashing::push_account`), so `Alice` and `alice` share a key.
    pub fn key(&self) -> String {
        let mut out = String::with_capacity(64);
        if self.action == EnforcementAction::RequirePasswordReset {
            out.push_str("password_reset:");
        }
        out.push_str(self.scope.as_str());
        out.push(':');
        let text = |v: &Option<String>| v.as_deref().unwrap_or("").to_string();
        match self.scope {
            Scope::Ip => out.push_str(&text(&self.ip)),
            Scope::Network => out.push_str(&text(&self.network)),
            Scope::UserIp | Scope::User => {
                push_account(
                    &mut out,
                    self.tenant.as_deref(),
                    self.user.as_deref().unwrap_or(""),
                );
                if self.scope == Scope::UserIp {
                    out.push('|');
                    out.push_str(&text(&self.ip));
                }
            }
            Scope::Asn => {
                out.push_str("AS");
                out.push_str(itoa::Buffer::new().format(self.asn.unwrap_or(0)));
            }
            Scope::Device => out.push_str(&text(&self.device_id)),
        }
        out
    }
}

/// How long a password reset stays listed as in force: it has no end of its
/// own, and Palisade does not learn when the user reset the password.
pub const PASSWORD_RESET_LISTED_MS: u64 = 24 * 3_600_000;

/// Enforcements issued and not yet taken, and those in force by key. Both are
/// capped at `max`: a door that never takes loses the oldest untaken tenth.
#[derive(Debug)]
pub struct Enforcements {
    issued: Vec<Enforcement>,
    /// Issued but dropped untaken at the cap.
    dropped: u64,
    /// By `key()`: (listed until, ms; the enforcement).
    in_force: KeyedMap<String, (u64, Enforcement)>,
    max: usize,
    /// Listed ones let go (ended, or made way at the cap).
    evicted: Evictions,
}

impl Enforcements {
    /// At most `max` of each, keyed by public seeds (tests).
    pub fn new(max: usize) -> Enforcements {
        Enforcements::keyed(max, crate::state::keyed::PUBLIC_SEEDS)
    }

    /// At most `max` of each; the keys in force (which name users and
    /// addresses an attacker chooses) hash under `seeds`.
    pub fn keyed(max: usize, seeds: [u64; 4]) -> Enforcements {
        Enforcements {
            issued: Vec::new(),
            dropped: 0,
            in_force: crate::state::keyed::map(seeds),
            max: max.max(1),
            evicted: Evictions::default(),
        }
    }

    /// Issues an enforcement; `false` (nothing issued) when the same block is
    /// already in force at least as long.
    pub fn issue(&mut self, e: Enforcement, now_ms: u64) -> bool {
        let listed_until = match e.until {
            Some(t) => t.millis(),
            None => e
                .issued_at
                .millis()
                .saturating_add(PASSWORD_RESET_LISTED_MS),
        };
        let key = e.key();
        if e.action == EnforcementAction::Block {
            if let Some((until, _)) = self.in_force.get(&key) {
                if *until > now_ms && *until >= listed_until {
                    return false;
                }
            }
        }
        if self.in_force.len() >= self.max && !self.in_force.contains_key(&key) {
            self.make_room(now_ms);
        }
        if self.issued.len() >= self.max {
            let tenth = (self.max / 10).max(1);
            self.issued.drain(..tenth);
            self.dropped += tenth as u64;
        }
        self.issued.push(e.clone());
        self.in_force.insert(key, (listed_until, e));
        true
    }

    /// Issues the block a rule's overflow on this event started, unless the
    /// rule is keyed by password (a password hash never leaves the engine).
    #[cold]
    pub fn rule_block(
        &mut self,
        d: &Detector,
        e: &Event,
        asn: Option<u32>,
        until_ms: u64,
        now_ms: u64,
    ) {
        let Some(scope) = Scope::of_key(d.key_kind()) else {
            return;
        };
        let until = Some(Timestamp(until_ms));
        let action = EnforcementAction::Block;
        if let Some(x) =
            Enforcement::for_event(action, scope, e, asn, until, &d.id, Timestamp(now_ms))
        {
            self.issue(x, now_ms);
        }
    }

    /// Those issued since the last call.
    pub fn take(&mut self) -> Vec<Enforcement> {
        std::mem::take(&mut self.issued)
    }

    /// Those listed after `now_ms`, oldest issued first.
    pub fn in_force(&self, now_ms: u64) -> Vec<Enforcement> {
        let mut out: Vec<(&str, &Enforcement)> = self
            .in_force
            .iter()
            .filter(|(_, (until, _))| *until > now_ms)
            .map(|(k, (_, e))| (k.as_str(), e))
            .collect();
        out.sort_by(|a, b| (a.1.issued_at, a.0).cmp(&(b.1.issued_at, b.0)));
        out.into_iter().map(|(_, e)| e.clone()).collect()
    }

    /// Drops the enforcement listed under `key` if `rule` issued it; whether
    /// one was dropped.
    pub fn lift(&mut self, key: &str, rule: &str) -> bool {
        if self.in_force.get(key).is_some_and(|(_, e)| e.rule == rule) {
            self.in_force.remove(key);
            return true;
        }
        false
    }

    /// For checkpoints: those issued and not taken (oldest first), how many
    /// were dropped untaken, and those listed with their listed-until time.
    #[allow(clippy::type_complexity)]
    pub fn parts(
        &self,
    ) -> (
        &[Enforcement],
        u64,
        impl ExactSizeIterator<Item = (u64, &Enforcement)>,
    ) {
        (
            &self.issued,
            self.dropped,
            self.in_force.values().map(|(until, e)| (*until, e)),
        )
    }

    /// Takes a checkpoint's [`parts`](Self::parts), keeping this cap.
    pub fn restore(
        &mut self,
        issued: Vec<Enforcement>,
        dropped: u64,
        in_force: impl IntoIterator<Item = (u64, Enforcement)>,
    ) {
        self.issued = issued;
        self.dropped = dropped;
        self.in_force.clear();
        self.in_force
            .extend(in_force.into_iter().map(|(u, e)| (e.key(), (u, e))));
    }

    /// How many were issued and dropped because none took them.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Drops those listed until `now_ms` or before.
    pub fn expire(&mut self, now_ms: u64) {
        self.evicted.age += retain_counted(&mut self.in_force, |_, (until, _)| *until > now_ms);
    }

    pub fn evictions(&self) -> Evictions {
        self.evicted
    }

    pub fn len(&self) -> usize {
        self.in_force.len()
    }

    pub fn is_empty(&self) -> bool {
        self.in_force.is_empty()
    }

    /// At the cap, expired entries go; if that is not enough, the tenth ending
    /// soonest (so a flood of blocks costs a scan per tenth, not per block).
    fn make_room(&mut self, now_ms: u64) {
        self.expire(now_ms);
        if self.in_force.len() < self.max {
            return;
        }
        let mut ends: Vec<u64> = self.in_force.values().map(|(u, _)| *u).collect();
        let cut = ends.len() / 10;
        let (_, nth, _) = ends.select_nth_unstable(cut);
        let nth = *nth;
        self.evicted.cap += retain_counted(&mut self.in_force, |_, (until, _)| *until > nth);
    }
}

/// A block that fraud feedback put on a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedBlock {
    pub scope: Scope,
    pub until_ms: u64,
    /// The event reported as fraudulent.
    pub event_id: Box<str>,
}

/// Blocks from fraud feedback by the engine's keyed hash, checked for every
/// event while there are any. A checkpoint holds the blocks; the cap is
/// configuration and not written.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ReportedBlocks {
    blocks: FxHashMap<u64, ReportedBlock>,
    /// The scopes present, so an event probes only keys that can match.
    scopes: u8,
    #[serde(skip)]
    max: usize,
}

impl ReportedBlocks {
    pub fn new(max: usize) -> ReportedBlocks {
        ReportedBlocks {
            max: max.max(1),
            ..ReportedBlocks::default()
        }
    }

    pub fn insert(&mut self, key: u64, block: ReportedBlock, now_ms: u64) {
        if self.blocks.len() >= self.max && !self.blocks.contains_key(&key) {
            self.make_room(now_ms);
        }
        self.scopes |= block.scope.bit();
        match self.blocks.get_mut(&key) {
            Some(old) if old.until_ms > block.until_ms => {}
            Some(old) => *old = block,
            None => {
                self.blocks.insert(key, block);
            }
        }
    }

    /// The block in force on one of the event's keys, the longest if several.
    /// Expired blocks met on the way go, when `tidy`.
    pub fn check(&mut self, keys: &Keys, now_ms: u64, tidy: bool) -> Option<ReportedBlock> {
        let mut found: Option<ReportedBlock> = None;
        for scope in [Scope::UserIp, Scope::User, Scope::Ip, Scope::Network] {
            if self.scopes & scope.bit() == 0 {
                continue;
            }
            let Some(key) = scope.hash(keys) else {
                continue;
            };
            let Some(b) = self.blocks.get(&key) else {
                continue;
            };
            if b.until_ms <= now_ms {
                if tidy {
                    self.blocks.remove(&key);
                }
                continue;
            }
            if found.as_ref().is_none_or(|f| b.until_ms > f.until_ms) {
                found = Some(b.clone());
            }
        }
        if tidy && self.blocks.is_empty() {
            self.scopes = 0;
        }
        found
    }

    /// Lifts the block on `key` if it is of `scope`; whether there was one.
    pub fn lift(&mut self, key: u64, scope: Scope) -> bool {
        if self.blocks.get(&key).is_some_and(|b| b.scope == scope) {
            self.blocks.remove(&key);
            return true;
        }
        false
    }

    /// Lifts every block the report of `event_id` put; their scopes.
    pub fn lift_event(&mut self, event_id: &str) -> Vec<Scope> {
        let mut lifted = Vec::new();
        self.blocks.retain(|_, b| {
            let keep = &*b.event_id != event_id;
            if !keep {
                lifted.push(b.scope);
            }
            keep
        });
        lifted
    }

    /// Drops blocks ended by `now_ms`, so an event stops probing for them.
    pub fn expire(&mut self, now_ms: u64) {
        self.blocks.retain(|_, b| b.until_ms > now_ms);
        if self.blocks.is_empty() {
            self.scopes = 0;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Takes the blocks of `saved` (a checkpoint's), keeping this cap.
    pub fn restore_from(&mut self, saved: ReportedBlocks) {
        self.blocks = saved.blocks;
        self.scopes = saved.scopes;
    }

    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    fn make_room(&mut self, now_ms: u64) {
        self.blocks.retain(|_, b| b.until_ms > now_ms);
        if self.blocks.len() < self.max {
            return;
        }
        let mut ends: Vec<u64> = self.blocks.values().map(|b| b.until_ms).collect();
        let cut = ends.len() / 10;
        let (_, nth, _) = ends.select_nth_unstable(cut);
        let nth = *nth;
        self.blocks.retain(|_, b| b.until_ms > nth);
    }
}

#[cfg(test)]
mod tests;
