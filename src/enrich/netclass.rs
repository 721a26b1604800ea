//! What kind of network an address belongs to, decided from the address alone.
//!
//! Private, loopback, documentation and reserved addresses never reach the GeoIP
//! databases: they have no country, and an attacker on the internet cannot send
//! from them, so detectors treat them separately. The ranges follow the IANA
//! special-purpose address registries (RFC 6890 and its updates); anything not
//! listed is `Public`. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is the
//! IPv4 address it carries, here and in the lookups.
//!
//! The network keys give rules a cheap, stable id of "the same network" to group
//! by, without hashing or allocating.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The kind of network an address belongs to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum NetClass {
    /// Routable on the internet; the only class looked up in GeoIP.
    #[default]
    Public,
    /// RFC 1918, unique local `fc00::/7`, deprecated site-local `fec0::/10`, and
    /// carrier-grade NAT `100.64.0.0/10`: a caller behind the same operator.
    Private,
    Loopback,
    LinkLocal,
    /// `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24`, `2001:db8::/32`,
    /// `3fff::/20`: only ever seen in examples and tests.
    Documentation,
    /// Unspecified, "this network", multicast, broadcast, future use,
    /// benchmarking and protocol-assignment ranges: never a real client.
    Reserved,
}

impl NetClass {
    /// The lowercase name used in logs and reasons.
    pub fn as_str(self) -> &'static str {
        match self {
            NetClass::Public => "public",
            NetClass::Private => "private",
            NetClass::Loopback => "loopback",
            NetClass::LinkLocal => "link_local",
            NetClass::Documentation => "documentation",
            NetClass::Reserved => "reserved",
        }
    }
}

impl std::fmt::Display for NetClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The address as the rest of Palisade should see it: an IPv4-mapped IPv6
/// address becomes its IPv4 address, anything else is unchanged.
#[inline]
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

/// Classifies an address (see [`NetClass`]).
#[inline]
pub fn classify(ip: IpAddr) -> NetClass {
    match canonical(ip) {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// IPv4 special-purpose ranges as (network, prefix length, class). The first
/// match wins, so more specific entries come before the ranges containing them.
const V4_RANGES: &[(u32, u8, NetClass)] = &[
    (0x0000_0000, 8, NetClass::Reserved), // 0.0.0.0/8 "this network"
    (0x0a00_0000, 8, NetClass::Private),  // 10.0.0.0/8
    (0x6440_0000, 10, NetClass::Private), // 100.64.0.0/10 carrier-grade NAT
    (0x7f00_0000, 8, NetClass::Loopback), // 127.0.0.0/8
    (0xa9fe_0000, 16, NetClass::LinkLocal), // 169.254.0.0/16
    (0xac10_0000, 12, NetClass::Private), // 172.16.0.0/12
    (0xc000_0200, 24, NetClass::Documentation), // 192.0.2.0/24 TEST-NET-1
    (0xc000_0000, 24, NetClass::Reserved), // 192.0.0.0/24 IETF protocol assignments
    (0xc058_6300, 24, NetClass::Reserved), // 192.88.99.0/24 deprecated 6to4 relay
    (0xc0a8_0000, 16, NetClass::Private), // 192.168.0.0/16
    (0xc612_0000, 15, NetClass::Reserved), // 198.18.0.0/15 benchmarking
    (0xc633_6400, 24, NetClass::Documentation), // 198.51.100.0/24 TEST-NET-2
    (0xcb00_7100, 24, NetClass::Documentation), // 203.0.113.0/24 TEST-NET-3
    (0xe000_0000, 4, NetClass::Reserved), // 224.0.0.0/4 multicast
    (0xf000_0000, 4, NetClass::Reserved), // 240.0.0.0/4 future use and broadcast
];

fn classify_v4(ip: Ipv4Addr) -> NetClass {
    let bits = u32::from(ip);
    for &(net, len, class) in V4_RANGES {
        // `len` is 1..=32 for every entry, so the shift never overflows.
        let mask = u32::MAX << (32 - u32::from(len));
        if bits & mask == net {
            return class;
        }
    }
    NetClass::Public
}

/// IPv6 special-purpose ranges, as for [`V4_RANGES`]. `::ffff:0:0/96` is absent
/// on purpose: mapped addresses are classified as IPv4 before reaching here.
const V6_RANGES: &[(u128, u8, NetClass)] = &[
    (0, 128, NetClass::Reserved),                          // :: unspecified
    (1, 128, NetClass::Loopback),                          // ::1
    (0, 96, NetClass::Reserved),                           // ::/96 deprecated IPv4-compatible
    (0x0100_0000_0000_0000 << 64, 64, NetClass::Reserved), // 100::/64 discard-only
    (0x2001_0002_0000_0000 << 64, 48, NetClass::Reserved), // 2001:2::/48 benchmarking
    (0x2001_0010_0000_0000 << 64, 28, NetClass::Reserved), // 2001:10::/28 ORCHID
    (0x2001_0020_0000_0000 << 64, 28, NetClass::Reserved), // 2001:20::/28 ORCHIDv2
    (0x2001_0db8_0000_0000 << 64, 32, NetClass::Documentation), // 2001:db8::/32
    (0x3fff_0000_0000_0000 << 64, 20, NetClass::Documentation), // 3fff::/20 (RFC 9637)
    (0xfc00_0000_0000_0000 << 64, 7, NetClass::Private),   // fc00::/7 unique local
    (0xfe80_0000_0000_0000 << 64, 10, NetClass::LinkLocal), // fe80::/10
    (0xfec0_0000_0000_0000 << 64, 10, NetClass::Private),  // fec0::/10 deprecated site-local
    (0xff00_0000_0000_0000 << 64, 8, NetClass::Reserved),  // ff00::/8 multicast
];

fn classify_v6(ip: Ipv6Addr) -> NetClass {
    let bits = u128::from(ip);
    for &(net, len, class) in V6_RANGES {
        let mask = u128::MAX << (128 - u32::from(len));
        if bits & mask == net {
            return class;
        }
    }
    NetClass::Public
}

/// Where IPv4 keys live: the upper 64 bits of an IPv6 network address are the
/// IPv6 key, and `ffff:ffff::/32` is multicast space, which is never a source
/// address, so an IPv4 key cannot collide with a real client's IPv6 network.
const V4_KEY_TAG: u64 = 0xffff_ffff_0000_0000;

/// A stable id of the address's /24 (IPv4, including IPv4-mapped IPv6) or /48
/// (IPv6) network: the same network always gives the same key, on every run and
/// machine. The IPv6 key is the network's upper 64 bits with the subnet id zeroed.
#[inline]
pub fn network_key(ip: IpAddr) -> u64 {
    match canonical(ip) {
        IpAddr::V4(v4) => v4_key(v4),
        IpAddr::V6(v6) => v6_upper(v6) & !0xffff,
    }
}

/// As [`network_key`], with IPv6 grouped by /64 (one subnet, usually one site)
/// instead of /48; IPv4 is still grouped by /24, so the two keys agree for IPv4.
#[inline]
pub fn network64_key(ip: IpAddr) -> u64 {
    match canonical(ip) {
        IpAddr::V4(v4) => v4_key(v4),
        IpAddr::V6(v6) => v6_upper(v6),
    }
}

/// The network [`network_key`] groups `ip` into, as CIDR text for people:
/// `a.b.c.0/24` for IPv4 (an IPv4-mapped IPv6 address as its IPv4 address),
/// `x:y:z::/48` for IPv6. Two addresses have the same key exactly when they
/// have the same text.
pub fn network_cidr(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => ipnet::Ipv4Net::new(v4, 24)
            .expect("24 is a valid IPv4 prefix length")
            .trunc()
            .to_string(),
        IpAddr::V6(v6) => ipnet::Ipv6Net::new(v6, 48)
            .expect("48 is a valid IPv6 prefix length")
            .trunc()
            .to_string(),
    }
}

fn v4_key(ip: Ipv4Addr) -> u64 {
    V4_KEY_TAG | u64::from(u32::from(ip) & 0xffff_ff00)
}

fn v6_upper(ip: Ipv6Addr) -> u64 {
    // Truncation intended: the upper half of the address is the /64 prefix.
    (u128::from(ip) >> 64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address parses")
    }

    #[test]
    fn classifies_addresses() {
        use NetClass::*;
        let cases = [
            ("8.8.8.8", Public),
            ("81.2.69.160", Public),
            ("1.1.1.1", Public),
            ("0.0.0.0", Reserved),
            ("0.1.2.3", Reserved),
            ("10.1.2.3", Private),
            ("9.255.255.255", Public),
            ("11.0.0.0", Public),
            ("100.64.0.1", Private),
            ("100.127.255.255", Private),
            ("100.63.255.255", Public),
            ("100.128.0.0", Public),
            ("127.0.0.1", Loopback),
            ("127.255.255.254", Loopback),
            ("169.254.10.20", LinkLocal),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("172.15.255.255", Public),
            ("172.32.0.0", Public),
            ("192.0.0.8", Reserved),
            ("192.0.2.55", Documentation),
            ("192.0.3.1", Public),
            ("192.88.99.1", Reserved),
            ("192.168.1.1", Private),
            ("198.18.0.1", Reserved),
            ("198.19.255.255", Reserved),
            ("198.20.0.0", Public),
            ("198.51.100.7", Documentation),
            ("203.0.113.200", Documentation),
            ("224.0.0.1", Reserved),
            ("239.255.255.250", Reserved),
            ("240.0.0.1", Reserved),
            ("255.255.255.255", Reserved),
            ("223.255.255.255", Public),
            ("::", Reserved),
            ("::1", Loopback),
            ("::1.2.3.4", Reserved),
            ("::ffff:10.0.0.1", Private),
            ("::ffff:8.8.8.8", Public),
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:203.0.113.9", Documentation),
            ("100::1", Reserved),
            ("2001:2::1", Reserved),
            ("2001:10::1", Reserved),
            ("2001:20::1", Reserved),
            ("2001:db8::1", Documentation),
            ("2001:db9::1", Public),
            ("3fff:0fff::1", Documentation),
            ("3fff:1000::1", Public),
            ("2001:4860:4860::8888", Public),
            ("2a00:1450:4001:81c::200e", Public),
            ("fc00::1", Private),
            ("fd12:3456:789a::1", Private),
            ("fe80::1", LinkLocal),
            ("febf::1", LinkLocal),
            ("fec0::1", Private),
            ("ff02::1", Reserved),
        ];
        for (addr, want) in cases {
            assert_eq!(classify(ip(addr)), want, "{addr}");
        }
    }

    #[test]
    fn network_cidr_names_the_network_the_key_groups_by() {
        let cases = [
            ("81.2.69.160", "81.2.69.0/24"),
            ("::ffff:81.2.69.7", "81.2.69.0/24"),
            ("2a00:1450:4001:81c::200e", "2a00:1450:4001::/48"),
            ("2a00:1450:4001:ffff::1", "2a00:1450:4001::/48"),
            ("2a00:1450:4002::1", "2a00:1450:4002::/48"),
        ];
        for (addr, want) in cases {
            assert_eq!(network_cidr(ip(addr)), want, "{addr}");
        }
        for (a, _) in cases {
            for (b, _) in cases {
                assert_eq!(
                    network_key(ip(a)) == network_key(ip(b)),
                    network_cidr(ip(a)) == network_cidr(ip(b)),
                    "{a} and {b}"
                );
            }
        }
    }

    #[test]
    fn canonical_unwraps_only_mapped_addresses() {
        let cases = [
            ("::ffff:1.2.3.4", "1.2.3.4"),
            ("1.2.3.4", "1.2.3.4"),
            ("::1.2.3.4", "::1.2.3.4"),
            ("2001:db8::1", "2001:db8::1"),
        ];
        for (addr, want) in cases {
            assert_eq!(canonical(ip(addr)), ip(want), "{addr}");
        }
    }

    #[test]
    fn network_keys_group_by_prefix() {
        // (a, b, same /24-or-/48, same /24-or-/64)
        let cases = [
            ("10.1.2.3", "10.1.2.250", true, true),
            ("10.1.2.3", "10.1.3.3", false, false),
            ("10.1.2.3", "::ffff:10.1.2.99", true, true),
            ("2001:db8:1:2::1", "2001:db8:1:2::ffff", true, true),
            ("2001:db8:1:2::1", "2001:db8:1:3::1", true, false),
            ("2001:db8:1::1", "2001:db8:2::1", false, false),
            ("1.2.3.4", "::1.2.3.4", false, false),
        ];
        for (a, b, same48, same64) in cases {
            let (a_ip, b_ip) = (ip(a), ip(b));
            assert_eq!(network_key(a_ip) == network_key(b_ip), same48, "{a} {b}");
            assert_eq!(
                network64_key(a_ip) == network64_key(b_ip),
                same64,
                "{a} {b}"
            );
        }
    }

    #[test]
    fn network_keys_are_stable_values() {
        // Pinned so a refactor cannot silently change keys that rules may persist.
        let cases = [
            ("10.1.2.3", 0xffff_ffff_0a01_0200, 0xffff_ffff_0a01_0200),
            (
                "::ffff:192.0.2.1",
                0xffff_ffff_c000_0200,
                0xffff_ffff_c000_0200,
            ),
            (
                "2001:db8:aa:bb::1",
                0x2001_0db8_00aa_0000,
                0x2001_0db8_00aa_00bb,
            ),
        ];
        for (addr, want48, want64) in cases {
            assert_eq!(network_key(ip(addr)), want48, "{addr}");
            assert_eq!(network64_key(ip(addr)), want64, "{addr}");
        }
    }
}
