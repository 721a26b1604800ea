//! The keyed hashes that identify users, addresses, passwords and devices in
//! state: nothing is stored in clear, and without the hash key the stored keys
//! cannot be tested against guesses.

use crate::detect::Keys;
use crate::enrich::netclass;
use crate::event::Event;
use std::net::IpAddr;

/// The public default key: replays are reproducible; production sets its own.
pub const DEFAULT_HASH_KEY: [u64; 4] = [
    0x5041_4c49_5341_4445,
    0x6b65_7965_645f_6861,
    0x7368_5f64_6566_6175,
    0x6c74_5f6b_6579_5f31,
];

pub struct Hasher(ahash::RandomState);

impl Hasher {
    pub fn new(seeds: [u64; 4]) -> Hasher {
        Hasher(ahash::RandomState::with_seeds(
            seeds[0], seeds[1], seeds[2], seeds[3],
        ))
    }

    /// The user's key: tenant and user, case-folded so `Alice` and `alice` are
    /// one account (an attacker varying case must not get fresh buckets).
    pub fn user(&self, tenant: Option<&str>, user: &str) -> u64 {
        self.0.hash_one((tenant.unwrap_or(""), fold_user(user)))
    }

    pub fn ip(&self, ip: IpAddr) -> u64 {
        match netclass::canonical(ip) {
            IpAddr::V4(a) => self.0.hash_one((4u8, u32::from(a))),
            IpAddr::V6(a) => self.0.hash_one((6u8, u128::from(a))),
        }
    }

    pub fn keys(&self, e: &Event, asn: Option<u32>) -> Keys {
        self.keys_with_user(e, self.user(e.tenant.as_deref(), &e.user), asn)
    }

    /// [`Hasher::keys`] when the user's key, `user`, is known.
    pub fn keys_with_user(&self, e: &Event, user: u64, asn: Option<u32>) -> Keys {
        let ip = self.ip(e.ip);
        Keys {
            ip,
            user,
            user_ip: self.0.hash_one((user, ip)),
            network: self.0.hash_one((9u8, netclass::network64_key(e.ip))),
            asn: asn.map(|a| self.0.hash_one((7u8, a))),
            password: e.password_sha1.map(|p| self.0.hash_one((8u8, p.0))),
            device: e.device_id.as_deref().map(|d| self.0.hash_one((10u8, d))),
        }
    }
}

pub use crate::event::username::{fold_user, push_account};

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn users_fold_case_and_tenants_separate() {
        let h = Hasher::new(DEFAULT_HASH_KEY);
        assert_eq!(
            h.user(None, "Alice@Example.com"),
            h.user(None, "alice@example.com")
        );
        assert_ne!(h.user(Some("a"), "alice"), h.user(Some("b"), "alice"));
        assert_ne!(
            Hasher::new([1, 2, 3, 4]).user(None, "alice"),
            h.user(None, "alice")
        );
    }

    #[test]
    fn folding_keeps_the_hash_and_accounts_stay_apart_as_text() {
        let h = Hasher::new(DEFAULT_HASH_KEY);
        // The key must not change with the refactoring: hashing a borrowed or
        // an owned string is the same hash.
        assert_eq!(
            h.user(Some("t"), " Bob "),
            h.0.hash_one(("t", "bob".to_string()))
        );
        assert_eq!(fold_user(" bob "), Cow::Borrowed("bob"));
        let text = |t: Option<&str>, u: &str| {
            let mut out = String::new();
            push_account(&mut out, t, u);
            out
        };
        assert_eq!(text(Some("acme"), "Alice@X"), "acme/alice@x");
        assert_eq!(text(None, "alice"), "/alice");
        assert_ne!(text(Some("a/b"), "c"), text(Some("a"), "b/c"));
        assert_eq!(text(Some("a/b%"), "c"), "a%2Fb%25/c");
    }

    #[test]
    fn a_mapped_ipv4_address_is_the_same_address() {
        let h = Hasher::new(DEFAULT_HASH_KEY);
        assert_eq!(
            h.ip("::ffff:192.0.2.1".parse().unwrap()),
            h.ip("192.0.2.1".parse().unwrap())
        );
    }
}
