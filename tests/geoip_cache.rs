//! The engine's cached GeoIP lookup must answer exactly as the uncached one, on a
//! real City database (SKIPs loudly without `../shared/data`).

use palisade::enrich::geoip::{GeoCache, GeoIp, GeoPaths, GEO_CACHE_ENTRIES};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

#[test]
fn cached_lookups_equal_uncached_ones() {
    let db = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/geo/GeoLite2-City-2018.mmdb");
    if !db.exists() {
        eprintln!(
            "SKIP: cached_lookups_equal_uncached_ones: {} not found",
            db.display()
        );
        return;
    }
    let geo = GeoIp::open(&GeoPaths {
        city: Some(db),
        ..GeoPaths::default()
    })
    .unwrap();
    let mut cache = GeoCache::default();
    // A deterministic spread over the IPv4 space, twice, so the second pass
    // is served from the cache where the first filled it; more distinct
    // records than the cache holds, so entries are also replaced.
    let mut x: u32 = 0x9E37_79B9;
    let addrs: Vec<IpAddr> = (0..4 * GEO_CACHE_ENTRIES)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            IpAddr::V4(Ipv4Addr::from(x))
        })
        .collect();
    let mut located = 0;
    for ip in addrs.iter().chain(addrs.iter()) {
        let plain = geo.lookup(*ip);
        assert_eq!(geo.lookup_cached(*ip, &mut cache), plain, "{ip}");
        located += plain.country.is_some() as usize;
    }
    let (hits, misses) = cache.stats();
    assert!(
        located > addrs.len(),
        "the database located too few addresses: {located}"
    );
    assert!(hits > 0 && misses > 0, "hits {hits}, misses {misses}");
}
