//! GeoIP against real databases: MaxMind's test databases (expected values from
//! the JSON they were built from), their deliberately corrupt files, and a real
//! GeoLite2 City database. These live beside the project in `../shared/data`;
//! when that folder is absent each test says so on stderr and passes.

use palisade::enrich::geoip::{networks_by_country, Country, GeoInfo, GeoIp, GeoIpError, GeoPaths};
use palisade::enrich::netclass::{classify, NetClass};
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn geo_dir(test: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/geo");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIP: {test}: ../shared/data/geo not found");
        None
    }
}

/// The data folder, or return from the test (after the SKIP line).
macro_rules! data_or_skip {
    ($test:expr) => {
        match geo_dir($test) {
            Some(dir) => dir,
            None => return,
        }
    };
}

fn test_db(dir: &Path, name: &str) -> PathBuf {
    dir.join("maxmind-test").join(name)
}

#[derive(Clone, Copy)]
enum Slot {
    City,
    Asn,
    Anonymous,
}
use Slot::{Anonymous, Asn, City};

/// Paths with one database, in one slot.
fn one(slot: Slot, path: PathBuf) -> GeoPaths {
    let mut paths = GeoPaths::default();
    match slot {
        City => paths.city = Some(path),
        Asn => paths.asn = Some(path),
        Anonymous => paths.anonymous = Some(path),
    }
    paths
}

fn open(paths: GeoPaths) -> GeoIp {
    GeoIp::open(&paths).unwrap_or_else(|e| panic!("open {paths:?}: {e}"))
}

/// The source JSON as (first address of the network, record) pairs. MaxMind
/// writes IPv4 networks of IPv6 databases as `::a.b.c.d/n` (n >= 96); those are
/// the IPv4 address `a.b.c.d`, which is how a lookup reaches them.
fn source_records(dir: &Path, name: &str) -> Vec<(IpAddr, Value)> {
    let path = dir.join("maxmind-test/source-data").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let entries: Vec<serde_json::Map<String, Value>> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut out = Vec::new();
    for entry in entries {
        for (network, record) in entry {
            let (addr, prefix) = network.split_once('/').expect("network has a prefix");
            let mut ip: IpAddr = addr.parse().expect("network address parses");
            let prefix: u8 = prefix.parse().expect("prefix parses");
            if let IpAddr::V6(v6) = ip {
                let bits = u128::from(v6);
                if prefix >= 96 && bits >> 32 == 0 {
                    ip = IpAddr::V4(Ipv4Addr::from(bits as u32));
                }
            }
            out.push((ip, record));
        }
    }
    out
}

fn str_at<'a>(record: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(record, |v, k| v.get(k))?.as_str()
}

#[test]
fn city_matches_source_json() {
    let dir = data_or_skip!("city_matches_source_json");
    let geo = open(one(City, test_db(&dir, "GeoIP2-City-Test.mmdb")));
    let mut checked = 0;
    for (ip, record) in source_records(&dir, "GeoIP2-City-Test.json") {
        if classify(ip) != NetClass::Public {
            continue;
        }
        let info = geo.lookup(ip);
        let want_country = str_at(&record, &["country", "iso_code"])
            .or_else(|| str_at(&record, &["registered_country", "iso_code"]));
        assert_eq!(
            info.country.map(|c| c.to_string()).as_deref(),
            want_country,
            "{ip}"
        );
        let loc = record.get("location");
        let lat = loc.and_then(|l| l.get("latitude")).and_then(Value::as_f64);
        let lon = loc.and_then(|l| l.get("longitude")).and_then(Value::as_f64);
        let radius = loc
            .and_then(|l| l.get("accuracy_radius"))
            .and_then(Value::as_u64);
        match (lat, lon, info.location) {
            (Some(lat), Some(lon), Some(got)) => {
                assert!((f64::from(got.latitude) - lat).abs() < 1e-4, "{ip} lat");
                assert!((f64::from(got.longitude) - lon).abs() < 1e-4, "{ip} lon");
                assert_eq!(
                    u64::from(got.accuracy_radius_km),
                    radius.unwrap_or(0),
                    "{ip}"
                );
            }
            (None, _, None) | (_, None, None) => {}
            other => panic!("{ip}: location mismatch {other:?}"),
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} networks checked");
    assert_eq!(geo.lookup_errors(), 0);
}

#[test]
fn asn_matches_source_json() {
    let dir = data_or_skip!("asn_matches_source_json");
    let geo = open(one(Asn, test_db(&dir, "GeoLite2-ASN-Test.mmdb")));
    let mut checked = 0;
    for (ip, record) in source_records(&dir, "GeoLite2-ASN-Test.json") {
        if classify(ip) != NetClass::Public {
            continue;
        }
        let want = record
            .get("autonomous_system_number")
            .and_then(Value::as_u64);
        assert_eq!(geo.lookup(ip).asn.map(u64::from), want, "{ip}");
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} networks checked");
    assert_eq!(geo.lookup_errors(), 0);
}

#[test]
fn anonymous_matches_source_json() {
    let dir = data_or_skip!("anonymous_matches_source_json");
    let geo = open(one(
        Anonymous,
        test_db(&dir, "GeoIP2-Anonymous-IP-Test.mmdb"),
    ));
    let mut checked = 0;
    for (ip, record) in source_records(&dir, "GeoIP2-Anonymous-IP-Test.json") {
        if classify(ip) != NetClass::Public {
            continue;
        }
        let flag = |key: &str| record.get(key).and_then(Value::as_bool).unwrap_or(false);
        let got = geo.lookup(ip).anonymous;
        let want = [
            ("is_anonymous", got.anonymous),
            ("is_anonymous_vpn", got.anonymous_vpn),
            ("is_hosting_provider", got.hosting_provider),
            ("is_public_proxy", got.public_proxy),
            ("is_tor_exit_node", got.tor_exit_node),
            ("is_residential_proxy", got.residential_proxy),
        ];
        for (key, got) in want {
            assert_eq!(got, flag(key), "{ip} {key}");
        }
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} networks checked");
    assert_eq!(geo.lookup_errors(), 0);
}

#[test]
fn real_city_database_facts() {
    let dir = data_or_skip!("real_city_database_facts");
    let path = dir.join("GeoLite2-City-2018.mmdb");
    let geo = open(one(City, path.clone()));

    let london = geo.lookup("81.2.69.160".parse().expect("ip"));
    assert_eq!(london.class, NetClass::Public);
    assert_eq!(london.country, Country::new("GB"));
    let loc = london.location.expect("81.2.69.160 has a location");
    assert!((loc.latitude - 51.5333).abs() < 1e-4, "{loc:?}");
    assert!((loc.longitude - -0.2333).abs() < 1e-4, "{loc:?}");
    assert_eq!(loc.accuracy_radius_km, 200);
    // The IPv4-mapped form is the same address.
    assert_eq!(
        geo.lookup("::ffff:81.2.69.160".parse().expect("ip")),
        london
    );

    let google = geo.lookup("8.8.8.8".parse().expect("ip"));
    assert_eq!(google.country, Country::new("US"));
    assert_eq!(google.location.map(|l| l.accuracy_radius_km), Some(1000));

    let private = geo.lookup("10.1.2.3".parse().expect("ip"));
    let want = GeoInfo {
        class: NetClass::Private,
        ..GeoInfo::default()
    };
    assert_eq!(private, want);

    let described = geo.describe();
    assert!(
        described.starts_with("geoip: city GeoLite2-City (2018-07-03) from "),
        "{described}"
    );
    assert!(described.contains("GeoLite2-City-2018.mmdb"), "{described}");
    assert!(
        described.ends_with("; asn off; anonymous-ip off"),
        "{described}"
    );
    assert_eq!(geo.lookup_errors(), 0);
}

#[test]
fn slots_refuse_the_wrong_database() {
    let dir = data_or_skip!("slots_refuse_the_wrong_database");
    let cases = [
        (
            one(Asn, test_db(&dir, "GeoIP2-City-Test.mmdb")),
            "GeoIP2-City",
        ),
        (
            one(City, test_db(&dir, "GeoLite2-ASN-Test.mmdb")),
            "GeoLite2-ASN",
        ),
        (
            one(City, test_db(&dir, "GeoIP2-Country-Test.mmdb")),
            "GeoIP2-Country",
        ),
        (
            one(Anonymous, test_db(&dir, "GeoIP2-City-Test.mmdb")),
            "GeoIP2-City",
        ),
    ];
    for (paths, database_type) in cases {
        let err = GeoIp::open(&paths)
            .err()
            .unwrap_or_else(|| panic!("{paths:?} accepted"));
        assert!(matches!(err, GeoIpError::WrongType { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(&format!("\"{database_type}\"")), "{msg}");
        assert!(msg.contains(".mmdb"), "{msg}");
    }
}

#[test]
fn slots_take_every_fitting_edition() {
    let dir = data_or_skip!("slots_take_every_fitting_edition");
    let cases = [
        one(City, test_db(&dir, "GeoLite2-City-Test.mmdb")),
        one(City, test_db(&dir, "GeoIP2-Enterprise-Test.mmdb")),
        one(City, test_db(&dir, "GeoIP2-Precision-Enterprise-Test.mmdb")),
        one(City, test_db(&dir, "GeoIP2-City-Shield-Test.mmdb")),
        one(Asn, test_db(&dir, "GeoIP2-ISP-Test.mmdb")),
        one(Anonymous, test_db(&dir, "GeoIP-Anonymous-Plus-Test.mmdb")),
    ];
    for paths in cases {
        if let Err(e) = GeoIp::open(&paths) {
            panic!("{paths:?}: {e}");
        }
    }
    let geo = open(one(Asn, test_db(&dir, "GeoIP2-ISP-Test.mmdb")));
    // From GeoIP2-ISP-Test.json: 1.128.0.0/11 is AS 1221.
    assert_eq!(geo.lookup("1.128.0.1".parse().expect("ip")).asn, Some(1221));
}

#[test]
fn missing_file_is_a_clear_error() {
    let dir = data_or_skip!("missing_file_is_a_clear_error");
    let paths = one(City, dir.join("no-such-file.mmdb"));
    let msg = GeoIp::open(&paths)
        .expect_err("missing file refused")
        .to_string();
    assert!(msg.starts_with("geoip city database "), "{msg}");
    assert!(msg.contains("no-such-file.mmdb: cannot open"), "{msg}");
}

fn mmdb_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir:?}: {e}"))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            mmdb_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "mmdb") {
            out.push(path);
        }
    }
}

/// Every corrupt file, in every slot: refused at open, or, if it opens, read
/// without panicking. Panics are caught so the report lists every culprit.
#[test]
fn corrupt_databases_never_panic() {
    let dir = data_or_skip!("corrupt_databases_never_panic");
    let mut files = Vec::new();
    mmdb_files(&dir.join("maxmind-test/bad-data"), &mut files);
    assert!(
        files.len() >= 20,
        "bad-data holds only {} files",
        files.len()
    );
    for name in [
        "GeoIP2-City-Test-Broken-Double-Format.mmdb",
        "GeoIP2-City-Test-Invalid-Node-Count.mmdb",
        "MaxMind-DB-test-broken-pointers-24.mmdb",
        "MaxMind-DB-test-broken-search-tree-24.mmdb",
    ] {
        files.push(test_db(&dir, name));
    }
    let probes: Vec<IpAddr> = [
        "1.1.1.1",
        "1.1.1.3",
        "1.2.0.1",
        "2.125.160.216",
        "81.2.69.160",
        "89.160.20.128",
        "175.16.199.1",
        "216.160.83.56",
        "8.8.8.8",
        "::1:ffff:ffff",
        "2001:218::1",
        "2001:480:3a::1",
        "2a02:cf40::1",
        "abcd:1000::1",
    ]
    .iter()
    .map(|s| s.parse().expect("probe address parses"))
    .collect();

    let mut panicked = Vec::new();
    for file in &files {
        for slot in [City, Asn, Anonymous] {
            let paths = one(slot, file.clone());
            let outcome = catch_unwind(AssertUnwindSafe(|| match GeoIp::open(&paths) {
                Err(e) => format!("refused: {e}"),
                Ok(geo) => {
                    for &ip in &probes {
                        geo.lookup(ip);
                    }
                    format!("opened; {} lookup errors", geo.lookup_errors())
                }
            }));
            match outcome {
                Ok(what) => eprintln!("{what}"),
                Err(_) => panicked.push(format!("{paths:?}")),
            }
        }
    }
    assert!(panicked.is_empty(), "panicked on: {panicked:#?}");
}

/// Some corrupt test files are generic "Test" databases, which every slot
/// refuses by type before a lookup runs. Renamed to "City" (same length, so
/// the metadata stays valid) they reach the lookup path, where a bad record
/// must give empty info and be counted.
#[test]
fn corrupt_records_at_run_time_are_counted() {
    let dir = data_or_skip!("corrupt_records_at_run_time_are_counted");
    let tmp = tempfile::tempdir().expect("temp dir");
    let cases = [
        ("MaxMind-DB-test-broken-pointers-24.mmdb", true),
        ("MaxMind-DB-test-broken-search-tree-24.mmdb", false),
        (
            "bad-data/libmaxminddb/libmaxminddb-corrupt-search-tree.mmdb",
            false,
        ),
    ];
    for (name, must_count) in cases {
        let mut bytes = std::fs::read(test_db(&dir, name)).expect("read test database");
        // 0x44 is the control byte of a 4-byte string: the value "Test" follows.
        let at = bytes
            .windows(18)
            .position(|w| w == b"database_type\x44Test")
            .unwrap_or_else(|| panic!("{name}: no database_type \"Test\""));
        bytes[at + 14..at + 18].copy_from_slice(b"City");
        let path = tmp.path().join("renamed.mmdb");
        std::fs::write(&path, &bytes).expect("write renamed copy");
        let geo = match GeoIp::open(&one(City, path)) {
            Ok(geo) => geo,
            Err(e) => {
                assert!(!must_count, "{name}: {e}");
                eprintln!("{name}: refused: {e}");
                continue;
            }
        };
        for last in 0..=255u8 {
            let info = geo.lookup(IpAddr::V4(Ipv4Addr::new(1, 1, 1, last)));
            assert_eq!(info.class, NetClass::Public);
        }
        eprintln!("{name}: {} lookup errors", geo.lookup_errors());
        if must_count {
            assert!(
                geo.lookup_errors() > 0,
                "{name}: broken pointers not counted"
            );
        }
    }
}

#[test]
fn networks_by_country_on_the_real_database() {
    let dir = data_or_skip!("networks_by_country_on_the_real_database");
    let path = dir.join("GeoLite2-City-2018.mmdb");
    let started = Instant::now();
    let nets = networks_by_country(&path, &["GB", "us", "DE", "JP"], 5).expect("walk");
    eprintln!(
        "networks_by_country, 4 countries x 5: {:?}",
        started.elapsed()
    );
    assert_eq!(
        nets.keys().map(String::as_str).collect::<Vec<_>>(),
        ["DE", "GB", "JP", "US"]
    );
    let geo = open(one(City, path.clone()));
    for (country, list) in &nets {
        assert_eq!(list.len(), 5, "{country}");
        for net in list {
            let got = geo.lookup(IpAddr::V4(net.network())).country;
            assert_eq!(
                got.map(|c| c.to_string()).as_deref(),
                Some(country.as_str()),
                "{net}"
            );
            assert_eq!(
                classify(IpAddr::V4(net.network())),
                NetClass::Public,
                "{net}"
            );
        }
        assert!(
            list.windows(2).all(|w| w[0] < w[1]),
            "{country} not in address order"
        );
    }
    let again = networks_by_country(&path, &["GB", "us", "DE", "JP"], 5).expect("walk");
    assert_eq!(again, nets);

    // A code no network has forces the walk over the whole IPv4 space.
    let started = Instant::now();
    let none = networks_by_country(&path, &["XX"], 5).expect("walk");
    eprintln!(
        "networks_by_country, full IPv4 walk: {:?}",
        started.elapsed()
    );
    assert_eq!(none.get("XX").map(Vec::len), Some(0));
}

/// Run with `cargo test --release --test geoip -- --ignored --nocapture`.
#[test]
#[ignore = "timing; run in release mode"]
fn lookup_speed() {
    use rand::{Rng, SeedableRng};
    let dir = data_or_skip!("lookup_speed");
    let geo = open(one(City, dir.join("GeoLite2-City-2018.mmdb")));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let ips: Vec<IpAddr> =
        std::iter::repeat_with(|| IpAddr::V4(Ipv4Addr::from(rng.random::<u32>())))
            .filter(|&ip| classify(ip) == NetClass::Public)
            .take(1_000_000)
            .collect();
    // The first pass faults the file's pages in; a long-running server has
    // them resident, so the second pass is the one that counts.
    let mut found = 0usize;
    let mut elapsed = std::time::Duration::ZERO;
    for _ in 0..2 {
        found = 0;
        let started = Instant::now();
        for &ip in &ips {
            found += usize::from(std::hint::black_box(geo.lookup(ip)).country.is_some());
        }
        elapsed = started.elapsed();
    }
    eprintln!(
        "{} lookups in {elapsed:?}: {:.0} ns/lookup, {found} with a country",
        ips.len(),
        elapsed.as_nanos() as f64 / ips.len() as f64
    );
}
