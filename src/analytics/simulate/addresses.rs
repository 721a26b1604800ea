//! Where sign-ins come from: per country, pools of residential, mobile-carrier
//! and hosting addresses, either carved from real networks (a GeoIP City
//! database, through [`CountryNetworks`]) or from a synthetic public range.

use super::geo::COUNTRIES;
use super::random::{mix64, SimRng};
use super::CountryNetworks;
use rand::Rng;

/// A contiguous run of addresses: a home or hotel /24, or the part of one that
/// lies inside a smaller network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Block {
    pub base: u32,
    pub size: u32,
}

impl Block {
    /// A host address in the block, avoiding the first and last (network and
    /// broadcast in a whole /24) when there is room.
    pub fn host(self, rng: &mut SimRng) -> u32 {
        if self.size >= 4 {
            self.base + rng.random_range(1..self.size - 1)
        } else {
            self.base + rng.random_range(0..self.size)
        }
    }
}

/// What kind of network an address is drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Net {
    Residential,
    Mobile,
    Hosting,
}

/// Address ranges sampled in proportion to their size.
struct Pool {
    starts: Vec<u32>,
    /// Running total of sizes: range `i` owns offsets `ends[i-1]..ends[i]`.
    ends: Vec<u64>,
}

impl Pool {
    fn new(ranges: &[(u32, u64)]) -> Pool {
        let mut total = 0;
        let ends = ranges.iter().map(|r| {
            total += r.1;
            total
        });
        Pool {
            ends: ends.collect(),
            starts: ranges.iter().map(|r| r.0).collect(),
        }
    }

    /// A uniformly drawn address and the index of its range.
    fn addr(&self, rng: &mut SimRng) -> (u32, usize) {
        let total = *self.ends.last().expect("pools are never empty");
        let x = rng.random_range(0..total);
        let i = self.ends.partition_point(|&e| e <= x);
        let before = if i == 0 { 0 } else { self.ends[i - 1] };
        (self.starts[i] + (x - before) as u32, i)
    }

    /// The /24 around a drawn address, clipped to the range it came from.
    fn block(&self, rng: &mut SimRng) -> Block {
        let (a, i) = self.addr(rng);
        let start = u64::from(self.starts[i]);
        let size = self.ends[i] - if i == 0 { 0 } else { self.ends[i - 1] };
        let end = start + size;
        let lo = u64::from(a & !0xFF).max(start);
        let hi = (u64::from(a & !0xFF) + 256).min(end);
        Block {
            base: lo as u32,
            size: (hi - lo) as u32,
        }
    }
}

/// Every country's pools, indexed like [`COUNTRIES`].
pub(super) struct AddressBook {
    pools: Vec<[Pool; 3]>,
}

impl AddressBook {
    /// Real networks where given; a country missing from `networks` (or with
    /// no networks) falls back to its synthetic range.
    pub fn new(networks: Option<&CountryNetworks>) -> AddressBook {
        let pools = COUNTRIES
            .iter()
            .enumerate()
            .map(|(i, c)| {
                match networks
                    .and_then(|n| n.get(c.code))
                    .filter(|v| !v.is_empty())
                {
                    Some(nets) => real_pools(nets),
                    None => synthetic_pools(i),
                }
            })
            .collect();
        AddressBook { pools }
    }

    pub fn addr(&self, rng: &mut SimRng, country: u8, net: Net) -> u32 {
        self.pool(country, net).addr(rng).0
    }

    pub fn block(&self, rng: &mut SimRng, country: u8, net: Net) -> Block {
        self.pool(country, net).block(rng)
    }

    fn pool(&self, country: u8, net: Net) -> &Pool {
        &self.pools[country as usize][net as usize]
    }
}

/// Real networks split into roles by a stable hash of each network (about one
/// in eight mobile, one in eight hosting): a City database says nothing of the
/// kind, and the split only has to be consistent.
fn real_pools(nets: &[ipnet::Ipv4Net]) -> [Pool; 3] {
    let mut all: Vec<(u32, u64)> = nets
        .iter()
        .map(|n| (u32::from(n.network()), 1u64 << (32 - n.prefix_len())))
        .collect();
    all.sort_unstable();
    all.dedup();
    let role = |r: &(u32, u64)| mix64((u64::from(r.0) << 8) | r.1.trailing_zeros() as u64) % 8;
    let pick = |want: &dyn Fn(u64) -> bool| {
        let some: Vec<(u32, u64)> = all.iter().copied().filter(|r| want(role(r))).collect();
        Pool::new(if some.is_empty() { &all } else { &some })
    };
    [pick(&|h| h >= 2), pick(&|h| h == 0), pick(&|h| h == 1)]
}

/// The public /8s the synthetic world is carved from: 1–126 without 10/8
/// (private) and 100/8 (which holds 100.64/10, carrier-grade NAT).
fn public_slash8s() -> impl Iterator<Item = u32> {
    (1..=126).filter(|&o| o != 10 && o != 100)
}

/// Country `i` owns every /8 whose position in the public list is `i` modulo
/// the number of countries. Its last /8 is split: the lower half mobile, the
/// upper half hosting; the others are residential.
fn synthetic_pools(i: usize) -> [Pool; 3] {
    let mine: Vec<u32> = public_slash8s()
        .enumerate()
        .filter(|(p, _)| p % COUNTRIES.len() == i)
        .map(|(_, o)| o << 24)
        .collect();
    let (last, rest) = mine.split_last().expect("every country owns a /8");
    let residential: Vec<(u32, u64)> = rest.iter().map(|&b| (b, 1 << 24)).collect();
    [
        Pool::new(&residential),
        Pool::new(&[(*last, 1 << 23)]),
        Pool::new(&[(*last + (1 << 23), 1 << 23)]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::net::Ipv4Addr;

    fn is_special(a: u32) -> bool {
        let ip = Ipv4Addr::from(a);
        let o = ip.octets();
        ip.is_private()
            || ip.is_loopback()
            || ip.is_unspecified()
            || ip.is_documentation()
            || (o[0] == 100 && (64..128).contains(&o[1]))
            || o[0] >= 224
    }

    #[test]
    fn synthetic_addresses_are_public_and_countries_disjoint() {
        let book = AddressBook::new(None);
        let mut rng = SimRng::seed_from_u64(9);
        let mut owner = std::collections::BTreeMap::new();
        for c in 0..COUNTRIES.len() as u8 {
            for net in [Net::Residential, Net::Mobile, Net::Hosting] {
                for _ in 0..200 {
                    let a = book.addr(&mut rng, c, net);
                    assert!(!is_special(a), "{}", Ipv4Addr::from(a));
                    assert_eq!(*owner.entry(a >> 24).or_insert(c), c);
                }
            }
        }
    }

    #[test]
    fn real_networks_are_respected_even_when_small() {
        let nets: Vec<ipnet::Ipv4Net> = ["81.2.69.0/28", "81.2.70.0/23", "5.6.7.8/32"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let mut map = CountryNetworks::new();
        map.insert("GB".into(), nets.clone());
        let book = AddressBook::new(Some(&map));
        let mut rng = SimRng::seed_from_u64(2);
        let gb = 3;
        assert_eq!(COUNTRIES[gb as usize].code, "GB");
        for net in [Net::Residential, Net::Mobile, Net::Hosting] {
            for _ in 0..300 {
                let a = Ipv4Addr::from(book.addr(&mut rng, gb, net));
                assert!(nets.iter().any(|n| n.contains(&a)), "{a}");
                let b = book.block(&mut rng, gb, net);
                let first = Ipv4Addr::from(b.base);
                let last = Ipv4Addr::from(b.base + b.size - 1);
                assert!(
                    b.size <= 256 && nets.iter().any(|n| n.contains(&first) && n.contains(&last))
                );
                let h = Ipv4Addr::from(b.host(&mut rng));
                assert!(nets.iter().any(|n| n.contains(&h)), "{h}");
            }
        }
    }
}
