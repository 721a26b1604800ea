//! One opened database in one slot: mapping the file, checking that it is the
//! kind of database the slot expects, and probing it so that a corrupt file is
//! refused at startup rather than discovered one lookup at a time.

use super::records::{AnonymousRecord, AsnRecord, CityRecord, Walk};
use super::GeoIpError;
use maxminddb::{Mmap, Reader};
use serde::Deserialize;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// Which database a file was given as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeoSlot {
    City,
    Asn,
    Anonymous,
}

impl GeoSlot {
    pub fn as_str(self) -> &'static str {
        match self {
            GeoSlot::City => "city",
            GeoSlot::Asn => "asn",
            GeoSlot::Anonymous => "anonymous-ip",
        }
    }

    /// What the slot takes, for the wrong-type message.
    fn expected(self) -> &'static str {
        match self {
            GeoSlot::City => "a City or Enterprise database",
            GeoSlot::Asn => "an ASN or ISP database",
            GeoSlot::Anonymous => "an Anonymous-IP or Anonymous-Plus database",
        }
    }

    /// Whether a database of this metadata `database_type` has the schema the
    /// slot decodes. Matched on substrings because MaxMind's names vary by
    /// edition (`GeoLite2-City`, `GeoIP2-City`, `GeoIP2-Precision-Enterprise`,
    /// `GeoIP2-City-Shield`…); Country databases lack location, so are refused.
    pub(super) fn accepts(self, database_type: &str) -> bool {
        let has = |s: &str| database_type.contains(s);
        match self {
            GeoSlot::City => has("City") || has("Enterprise"),
            GeoSlot::Asn => has("ASN") || has("ISP"),
            GeoSlot::Anonymous => has("Anonymous-IP") || has("Anonymous-Plus"),
        }
    }

    /// Decodes the slot's record from a lookup result; the probe uses this to
    /// check that the records really have the schema the type promises.
    fn decode_record(self, found: &maxminddb::LookupResult<'_, Mmap>) -> Result<(), String> {
        let result = match self {
            GeoSlot::City => found.decode::<CityRecord>().map(drop),
            GeoSlot::Asn => found.decode::<AsnRecord>().map(drop),
            GeoSlot::Anonymous => found.decode::<AnonymousRecord>().map(drop),
        };
        result.map_err(|e| e.to_string())
    }
}

impl fmt::Display for GeoSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An opened, validated database.
pub(super) struct Db {
    pub(super) reader: Reader<Mmap>,
    /// False for IPv4-only databases, which cannot be asked about IPv6.
    pub(super) ipv6: bool,
    path: PathBuf,
}

/// How many IPv4 addresses the probe looks up, spread evenly over the space so
/// the walks down the search tree visit many different nodes and records.
const PROBE_V4: u32 = 64;

/// IPv6 probes, in the usual allocations, for IPv6 databases.
const PROBE_V6: [Ipv6Addr; 3] = [
    Ipv6Addr::new(0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8888),
    Ipv6Addr::new(0x2a02, 0xcf40, 0, 0, 0, 0, 0, 1),
    Ipv6Addr::new(0x2400, 0xcb00, 0x2049, 1, 0, 0, 0xa29f, 0x1804),
];

impl Db {
    pub(super) fn open(slot: GeoSlot, path: &Path) -> Result<Db, GeoIpError> {
        let fail = |what: &str, detail: String| GeoIpError::Invalid {
            slot,
            path: path.to_path_buf(),
            what: what.to_string(),
            detail,
        };
        // SAFETY: the mapping is undefined behaviour only if the file changes
        // under it. MaxMind's updater (geoipupdate) replaces databases by
        // renaming a new file over the old one, which leaves this mapping on
        // the old, unchanged file; editing a live database in place is not
        // supported, as for every mmap-based MaxMind reader.
        let reader = unsafe { Reader::open_mmap(path) }.map_err(|e| GeoIpError::Open {
            slot,
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        let db = Db {
            ipv6: reader.metadata().ip_version == 6,
            reader,
            path: path.to_path_buf(),
        };
        db.probe().map_err(|detail| fail("corrupt", detail))?;
        let database_type = &db.reader.metadata().database_type;
        if !slot.accepts(database_type) {
            return Err(GeoIpError::WrongType {
                slot,
                path: path.to_path_buf(),
                database_type: database_type.clone(),
                expected: slot.expected(),
            });
        }
        db.probe_schema(slot)
            .map_err(|detail| fail("records do not fit the schema", detail))?;
        Ok(db)
    }

    /// Walks the search tree for a spread of addresses and decodes, in full,
    /// every record they reach. A corrupt tree or data section almost always
    /// shows up here; what does not is caught per lookup (and counted) at run
    /// time. Lookups, unlike iterating the networks, are bounded by the address
    /// length, so a crafted tree cannot make startup hang.
    fn probe(&self) -> Result<(), String> {
        for ip in self.probe_addresses() {
            let found = self
                .reader
                .lookup(ip)
                .map_err(|e| format!("lookup {ip}: {e}"))?;
            found
                .decode::<Walk>()
                .map_err(|e| format!("record for {ip}: {e}"))?;
        }
        Ok(())
    }

    /// Decodes the slot's own record type for the probed addresses, so a
    /// database whose type name fits but whose values do not (a string where
    /// a number belongs) is refused now instead of failing every lookup.
    fn probe_schema(&self, slot: GeoSlot) -> Result<(), String> {
        for ip in self.probe_addresses() {
            let found = self
                .reader
                .lookup(ip)
                .map_err(|e| format!("lookup {ip}: {e}"))?;
            slot.decode_record(&found)
                .map_err(|e| format!("record for {ip}: {e}"))?;
        }
        Ok(())
    }

    fn probe_addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        // Steps of 0x0404_0401 visit every fourth /8: 1.0.0.1, 5.4.4.2, … 253.252.252.64.
        let v4 = (0..PROBE_V4).map(|k| IpAddr::V4(Ipv4Addr::from(0x0100_0001 + k * 0x0404_0401)));
        let v6 = PROBE_V6
            .iter()
            .filter(|_| self.ipv6)
            .map(|&a| IpAddr::V6(a));
        v4.chain(v6)
    }

    /// Looks the address up and decodes the slot's record; `Ok(None)` when
    /// the database has no record for it.
    #[inline]
    pub(super) fn get<'a, T: Deserialize<'a>>(
        &'a self,
        ip: IpAddr,
    ) -> Result<Option<T>, maxminddb::MaxMindDbError> {
        self.reader.lookup(ip)?.decode::<T>()
    }

    /// "GeoLite2-City (2018-07-03) from PATH", for the startup log.
    pub(super) fn describe(&self) -> String {
        let meta = self.reader.metadata();
        let built = i64::try_from(meta.build_epoch)
            .ok()
            .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_else(|| format!("build epoch {}", meta.build_epoch));
        format!(
            "{} ({built}) from {}",
            meta.database_type,
            self.path.display()
        )
    }
}
