//! What MaxMind's GeoIP2 / GeoLite2 databases say about a client address: its
//! country and location (City), its autonomous system (ASN), and whether it is
//! an anonymizer or a hosting provider (Anonymous-IP).
//!
//! Each database is optional; a missing one turns its signals off. Databases
//! are memory-mapped and checked at open, so a corrupt or misplaced file stops
//! startup with a message naming it, and a record that still fails to decode
//! later gives empty info and is counted, never a panic. Lookups read only
//! the fields Palisade uses and allocate nothing: they run for every event.

mod cache;
mod db;
mod info;
mod networks;
mod records;

pub use db::GeoSlot;
pub use info::{AnonFlags, Country, GeoInfo, Location};
pub use networks::networks_by_country;

use crate::enrich::netclass::{self, NetClass};
pub use cache::{GeoCache, GEO_CACHE_ENTRIES};
use db::Db;
use records::{AnonymousRecord, AsnRecord, CityRecord};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where each database is, if configured (`--geoip-city`, `--geoip-asn`,
/// `--geoip-anonymous`).
#[derive(Debug, Clone, Default)]
pub struct GeoPaths {
    pub city: Option<PathBuf>,
    pub asn: Option<PathBuf>,
    pub anonymous: Option<PathBuf>,
}

/// Why a database could not be used. Every message names the slot and the file.
#[derive(Debug, thiserror::Error)]
pub enum GeoIpError {
    #[error("geoip {slot} database {}: cannot open: {detail}", path.display())]
    Open {
        slot: GeoSlot,
        path: PathBuf,
        detail: String,
    },
    #[error(
        "geoip {slot} database {}: database type {database_type:?} does not fit the {slot} slot, which takes {expected}",
        path.display()
    )]
    WrongType {
        slot: GeoSlot,
        path: PathBuf,
        database_type: String,
        expected: &'static str,
    },
    #[error("geoip {slot} database {}: {what}: {detail}", path.display())]
    Invalid {
        slot: GeoSlot,
        path: PathBuf,
        what: String,
        detail: String,
    },
}

/// The opened databases. Cheap to share: lookups take `&self`.
pub struct GeoIp {
    city: Option<Db>,
    asn: Option<Db>,
    anonymous: Option<Db>,
    /// Lookups that hit a corrupt record; exported so an operator can see a
    /// database going bad instead of silently losing signals.
    lookup_errors: AtomicU64,
}

impl GeoIp {
    /// Opens and checks every configured database; the first problem is the error.
    pub fn open(paths: &GeoPaths) -> Result<GeoIp, GeoIpError> {
        GeoIp::open_all(paths).map_err(|mut errors| errors.swap_remove(0))
    }

    /// [`open`](Self::open), with every database's problem when more than
    /// one fails (never an empty list).
    pub fn open_all(paths: &GeoPaths) -> Result<GeoIp, Vec<GeoIpError>> {
        let mut errors = Vec::new();
        let mut open = |slot, path: &Option<PathBuf>| {
            let p = path.as_deref()?;
            Db::open(slot, p).map_err(|e| errors.push(e)).ok()
        };
        let city = open(GeoSlot::City, &paths.city);
        let asn = open(GeoSlot::Asn, &paths.asn);
        let anonymous = open(GeoSlot::Anonymous, &paths.anonymous);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(GeoIp {
            city,
            asn,
            anonymous,
            lookup_errors: AtomicU64::new(0),
        })
    }

    /// No databases: every lookup gives only the address class.
    pub fn disabled() -> GeoIp {
        GeoIp {
            city: None,
            asn: None,
            anonymous: None,
            lookup_errors: AtomicU64::new(0),
        }
    }

    /// What the databases say about `ip`. Non-public addresses are not looked
    /// up; an IPv4-mapped IPv6 address is looked up as its IPv4 address.
    pub fn lookup(&self, ip: IpAddr) -> GeoInfo {
        self.lookup_with(ip, None)
    }

    /// [`lookup`](Self::lookup) with City records served from `cache` when it
    /// holds them: the engine's hot path.
    pub fn lookup_cached(&self, ip: IpAddr, cache: &mut GeoCache) -> GeoInfo {
        self.lookup_with(ip, Some(cache))
    }

    fn lookup_with(&self, ip: IpAddr, cache: Option<&mut GeoCache>) -> GeoInfo {
        let ip = netclass::canonical(ip);
        let class = netclass::classify(ip);
        let mut info = GeoInfo {
            class,
            ..GeoInfo::default()
        };
        if class != NetClass::Public {
            return info;
        }
        let city = match cache {
            None => self.get::<CityRecord>(&self.city, ip),
            Some(cache) => self.city_cached(ip, cache),
        };
        if let Some(record) = city {
            info.country = record.country;
            info.location = record.location;
        }
        self.lookup_rest(ip, &mut info);
        info
    }

    /// The City record for `ip`, decoded only when `cache` does not hold the
    /// record at its offset; a read error is counted and gives `None`.
    fn city_cached(&self, ip: IpAddr, cache: &mut GeoCache) -> Option<CityRecord> {
        let db = self.city.as_ref().filter(|db| ip.is_ipv4() || db.ipv6)?;
        let found = match db.reader.lookup(ip) {
            Ok(found) => found,
            Err(_) => {
                self.lookup_errors.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        };
        let offset = found.offset()?;
        if let Some(hit) = cache.get(offset) {
            return Some(CityRecord {
                country: hit.country,
                location: hit.location,
            });
        }
        match found.decode::<CityRecord>() {
            Ok(record) => {
                let record = record.unwrap_or_default();
                cache.put(offset, record.country, record.location);
                Some(record)
            }
            Err(_) => {
                self.lookup_errors.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// The ASN and Anonymous-IP parts of a lookup.
    fn lookup_rest(&self, ip: IpAddr, info: &mut GeoInfo) {
        if let Some(record) = self.get::<AsnRecord>(&self.asn, ip) {
            info.asn = record.autonomous_system_number;
        }
        if let Some(record) = self.get::<AnonymousRecord>(&self.anonymous, ip) {
            info.anonymous = record.flags();
        }
    }

    /// One database's record for `ip`, or `None` when the database is not
    /// loaded, has no record, or cannot be read (counted).
    #[inline]
    fn get<'a, T: serde::Deserialize<'a>>(&self, db: &'a Option<Db>, ip: IpAddr) -> Option<T> {
        let db = db.as_ref()?;
        if ip.is_ipv6() && !db.ipv6 {
            // An IPv4-only database has nothing to say about IPv6; not an error.
            return None;
        }
        match db.get::<T>(ip) {
            Ok(record) => record,
            Err(_) => {
                self.lookup_errors.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// One line for the startup log, e.g. `geoip: city GeoLite2-City
    /// (2018-07-03) from /var/lib/GeoIP/GeoLite2-City.mmdb; asn off;
    /// anonymous-ip off`.
    pub fn describe(&self) -> String {
        let slots = [
            (GeoSlot::City, &self.city),
            (GeoSlot::Asn, &self.asn),
            (GeoSlot::Anonymous, &self.anonymous),
        ];
        let parts: Vec<String> = slots
            .iter()
            .map(|(slot, db)| match db {
                Some(db) => format!("{slot} {}", db.describe()),
                None => format!("{slot} off"),
            })
            .collect();
        format!("geoip: {}", parts.join("; "))
    }

    pub fn has_city(&self) -> bool {
        self.city.is_some()
    }

    pub fn has_asn(&self) -> bool {
        self.asn.is_some()
    }

    pub fn has_anonymous(&self) -> bool {
        self.anonymous.is_some()
    }

    /// Lookups since open that found a corrupt record and gave empty info.
    pub fn lookup_errors(&self) -> u64 {
        self.lookup_errors.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geoip_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<GeoIp>();
    }

    #[test]
    fn disabled_gives_class_only() {
        let geo = GeoIp::disabled();
        let cases = [
            ("8.8.8.8", NetClass::Public),
            ("10.1.2.3", NetClass::Private),
            ("::ffff:127.0.0.1", NetClass::Loopback),
            ("2001:db8::1", NetClass::Documentation),
        ];
        for (addr, class) in cases {
            let ip: IpAddr = addr.parse().expect("test address parses");
            let want = GeoInfo {
                class,
                ..GeoInfo::default()
            };
            assert_eq!(geo.lookup(ip), want, "{addr}");
        }
        assert_eq!(geo.describe(), "geoip: city off; asn off; anonymous-ip off");
        assert!(!geo.has_city() && !geo.has_asn() && !geo.has_anonymous());
        assert_eq!(geo.lookup_errors(), 0);
    }

    #[test]
    fn slots_accept_their_database_types() {
        let cases = [
            (GeoSlot::City, "GeoLite2-City", true),
            (GeoSlot::City, "GeoIP2-City-Shield", true),
            (GeoSlot::City, "GeoIP2-Enterprise", true),
            (GeoSlot::City, "GeoIP2-Precision-Enterprise", true),
            (GeoSlot::City, "GeoLite2-Country", false),
            (GeoSlot::City, "GeoLite2-ASN", false),
            (GeoSlot::Asn, "GeoLite2-ASN", true),
            (GeoSlot::Asn, "GeoIP2-ISP", true),
            (GeoSlot::Asn, "GeoLite2-City", false),
            (GeoSlot::Anonymous, "GeoIP2-Anonymous-IP", true),
            (GeoSlot::Anonymous, "GeoIP-Anonymous-Plus", true),
            (GeoSlot::Anonymous, "GeoIP-Residential-Proxy", false),
            (GeoSlot::Anonymous, "Test", false),
        ];
        for (slot, database_type, ok) in cases {
            assert_eq!(slot.accepts(database_type), ok, "{slot} {database_type}");
        }
    }
}
