//! Allow- and deny-lists of addresses and CIDR ranges, IPv4 and IPv6, as sorted
//! disjoint ranges searched by bisection.

use ipnet::IpNet;
use std::net::IpAddr;

#[derive(Debug, Clone, Default)]
pub struct IpList {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl IpList {
    /// Parses addresses and CIDR ranges (`203.0.113.0/24`, `2001:db8::/32`,
    /// `198.51.100.7`); the error names the entry.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<IpList, String> {
        crate::config::parse_address_list(entries).map(|nets| IpList::new(&nets))
    }

    /// The list of these addresses and ranges.
    pub fn new(nets: &[IpNet]) -> IpList {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for net in nets {
            match net {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
                IpNet::V6(n) => v6.push((u128::from(n.network()), u128::from(n.broadcast()))),
            }
        }
        IpList {
            v4: merge(v4),
            v6: merge(v6),
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => hit(&self.v4, u32::from(a)),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => hit(&self.v4, u32::from(v4)),
                None => hit(&self.v6, u128::from(a)),
            },
        }
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }
}

fn merge<T: Ord + Copy + num_like::Succ>(mut ranges: Vec<(T, T)>) -> Vec<(T, T)> {
    ranges.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(last) if lo <= last.1.succ() => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

fn hit<T: Ord + Copy>(ranges: &[(T, T)], x: T) -> bool {
    let i = ranges.partition_point(|r| r.0 <= x);
    i > 0 && x <= ranges[i - 1].1
}

mod num_like {
    /// The next value, saturating: adjacent ranges merge.
    pub trait Succ {
        fn succ(self) -> Self;
    }
    impl Succ for u32 {
        fn succ(self) -> u32 {
            self.saturating_add(1)
        }
    }
    impl Succ for u128 {
        fn succ(self) -> u128 {
            self.saturating_add(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_ranges_and_single_addresses_of_both_families() {
        let l = IpList::parse(&[
            "203.0.113.0/24",
            "198.51.100.7",
            "2001:db8::/32",
            "203.0.113.128/25",
        ])
        .unwrap();
        assert_eq!(l.len(), 3, "the /25 inside the /24 merges away");
        for yes in [
            "203.0.113.0",
            "203.0.113.255",
            "198.51.100.7",
            "2001:db8:ffff::1",
            "::ffff:203.0.113.9",
        ] {
            assert!(l.contains(yes.parse().unwrap()), "{yes}");
        }
        for no in ["203.0.114.0", "198.51.100.8", "2001:db9::1", "0.0.0.0"] {
            assert!(!l.contains(no.parse().unwrap()), "{no}");
        }
    }

    #[test]
    fn names_a_bad_entry() {
        let e = IpList::parse(&["10.0.0.0/8", "10.0.0.0/33"]).unwrap_err();
        assert!(e.contains("10.0.0.0/33"), "{e}");
    }
}
