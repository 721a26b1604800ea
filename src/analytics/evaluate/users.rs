//! Legitimate users: how many ever met a block or a challenge, and how those
//! behind shared addresses fared. A user is the event's `tenant` and `user`;
//! an address is *shared* when legitimate sign-ins of [`SHARED_USERS`] or more
//! distinct users came from it over the whole history (an office, a campus, a
//! carrier's NAT): where a per-address rule hurts most.
//!
//! Memory: each user is a 64-bit hash of tenant and name (SipHash; a collision
//! among 10 million users has odds of about 3 in a million) with a byte of
//! flags, about 24 bytes with the map's overhead. Each address legitimate users
//! came from holds the first four users it saw (about 64 bytes) until a fifth
//! makes it shared, when they move to the per-user map of shared-address
//! users. Nothing grows with the number of sign-ins: at 100,000 users over 30
//! days this is a few MB, plus about 64 bytes per distinct address.

use crate::event::Action;
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::net::IpAddr;

/// Distinct legitimate users on one address that make it shared.
pub const SHARED_USERS: usize = 5;

const FLAGGED: u8 = 1;
const BLOCKED: u8 = 2;

/// The legitimate users of a history, as their sign-ins arrive.
#[derive(Default)]
pub struct LegitUsers {
    /// Per user: [`FLAGGED`] and [`BLOCKED`] if ever.
    users: FxHashMap<u64, u8>,
    addresses: FxHashMap<IpAddr, Address>,
    /// Users seen on a shared address: whether blocked on one at least once.
    on_shared: FxHashMap<u64, bool>,
}

enum Address {
    /// Fewer than [`SHARED_USERS`] distinct users so far: them, and a bit per
    /// user blocked here.
    Few {
        users: [u64; SHARED_USERS - 1],
        len: u8,
        blocked: u8,
    },
    Shared,
}

impl LegitUsers {
    /// Counts one scored legitimate sign-in and the action it met.
    pub fn add(&mut self, tenant: Option<&str>, user: &str, ip: IpAddr, action: Action) {
        let key = BuildHasherDefault::<DefaultHasher>::default().hash_one((tenant, user));
        let blocked = action == Action::Block;
        let met = match action {
            Action::Allow => 0,
            Action::Challenge => FLAGGED,
            Action::Block => FLAGGED | BLOCKED,
        };
        *self.users.entry(key).or_default() |= met;
        let address = self.addresses.entry(ip).or_insert(Address::Few {
            users: [0; SHARED_USERS - 1],
            len: 0,
            blocked: 0,
        });
        match address {
            Address::Shared => *self.on_shared.entry(key).or_default() |= blocked,
            Address::Few {
                users,
                len,
                blocked: was_blocked,
            } => {
                let seen = &users[..*len as usize];
                if let Some(i) = seen.iter().position(|&u| u == key) {
                    *was_blocked |= u8::from(blocked) << i;
                } else if (*len as usize) < users.len() {
                    users[*len as usize] = key;
                    *was_blocked |= u8::from(blocked) << *len;
                    *len += 1;
                } else {
                    // The fifth distinct user: the address is shared, and
                    // everyone seen on it so far signed in from a shared address.
                    for (i, &u) in users.iter().enumerate() {
                        *self.on_shared.entry(u).or_default() |= *was_blocked & (1 << i) != 0;
                    }
                    *self.on_shared.entry(key).or_default() |= blocked;
                    *address = Address::Shared;
                }
            }
        }
    }

    pub fn figures(&self) -> LegitFigures {
        let count = |bit: u8| self.users.values().filter(|&&m| m & bit != 0).count() as u64;
        LegitFigures {
            users: self.users.len() as u64,
            blocked: count(BLOCKED),
            flagged: count(FLAGGED),
            shared_addresses: self
                .addresses
                .values()
                .filter(|a| matches!(a, Address::Shared))
                .count() as u64,
            users_on_shared: self.on_shared.len() as u64,
            blocked_on_shared: self.on_shared.values().filter(|&&b| b).count() as u64,
        }
    }
}

/// What legitimate users met, counted per user.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LegitFigures {
    /// Distinct legitimate users (tenant and user) with a scored sign-in.
    pub users: u64,
    /// Users blocked at least once.
    pub blocked: u64,
    /// Users challenged or blocked at least once.
    pub flagged: u64,
    /// Addresses legitimate sign-ins of [`SHARED_USERS`] or more distinct users came from.
    pub shared_addresses: u64,
    /// Legitimate users who signed in from a shared address.
    pub users_on_shared: u64,
    /// Of those, the ones blocked at least once on a shared address.
    pub blocked_on_shared: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([45, 0, 1, last])
    }

    #[test]
    fn an_address_is_shared_from_its_fifth_distinct_user_and_blocks_before_count() {
        let mut l = LegitUsers::default();
        // u0 blocked on the office address before anyone knew it was shared.
        l.add(Some("t"), "u0", ip(1), Action::Block);
        for u in ["u1", "u2", "u3"] {
            l.add(Some("t"), u, ip(1), Action::Allow);
            // Repeats are one user.
            l.add(Some("t"), u, ip(1), Action::Allow);
        }
        assert_eq!(l.figures().shared_addresses, 0);
        // The same name in another tenant is another user: the fifth.
        l.add(Some("other"), "u1", ip(1), Action::Allow);
        // Once shared, later users count as they come.
        l.add(Some("t"), "u5", ip(1), Action::Challenge);
        l.add(Some("t"), "u6", ip(1), Action::Block);
        // Four users on another address: not shared; a block there does not
        // count as a block on a shared address.
        for u in ["u1", "u7", "u8", "u9"] {
            l.add(Some("t"), u, ip(2), Action::Block);
        }
        let f = l.figures();
        assert_eq!(
            f,
            LegitFigures {
                users: 10,
                blocked: 6,
                flagged: 7,
                shared_addresses: 1,
                users_on_shared: 7,
                blocked_on_shared: 2,
            }
        );
    }

    #[test]
    fn tenant_and_name_are_told_apart_where_they_meet() {
        let mut l = LegitUsers::default();
        l.add(None, "ab", ip(1), Action::Allow);
        l.add(Some("a"), "b", ip(1), Action::Allow);
        l.add(Some("ab"), "", ip(1), Action::Allow);
        assert_eq!(l.figures().users, 3);
    }
}
