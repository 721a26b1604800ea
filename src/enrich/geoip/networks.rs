//! Real IPv4 networks of given countries, read from a City database, for the
//! traffic simulator: synthetic sign-ins then come from addresses the engine's
//! own GeoIP lookup places in the intended country.

use super::db::{Db, GeoSlot};
use super::info::Country;
use super::records::CityRecord;
use super::GeoIpError;
use crate::enrich::netclass::{self, NetClass};
use ipnet::Ipv4Net;
use maxminddb::WithinOptions;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::Path;

/// Up to `per_country_limit` IPv4 networks for each of `countries` (ISO 3166-1
/// alpha-2 codes, either case), in address order, so the same database always
/// gives the same answer. The map has one entry per requested country, keyed by
/// its uppercase code, empty when the database has none (or the code is not a
/// two-letter code). A network's country is resolved as in
/// [`GeoIp::lookup`](super::GeoIp::lookup); networks whose first address is not
/// public are left out. The walk stops as soon as every country has its limit.
pub fn networks_by_country(
    path: &Path,
    countries: &[&str],
    per_country_limit: usize,
) -> Result<BTreeMap<String, Vec<Ipv4Net>>, GeoIpError> {
    let db = Db::open(GeoSlot::City, path)?;
    let invalid = |what: &str, detail: String| GeoIpError::Invalid {
        slot: GeoSlot::City,
        path: path.to_path_buf(),
        what: what.to_string(),
        detail,
    };

    let mut out: BTreeMap<String, Vec<Ipv4Net>> = countries
        .iter()
        .map(|c| (c.to_ascii_uppercase(), Vec::new()))
        .collect();
    let mut wanted: Vec<Country> = countries.iter().filter_map(|c| Country::new(c)).collect();
    wanted.sort();
    wanted.dedup();
    let mut open = wanted.len();
    if per_country_limit == 0 || open == 0 {
        return Ok(out);
    }

    // Many networks share one record (all of a city's blocks point at the same
    // data), so each record's country is decoded once. Bounded by the number
    // of distinct records in the database; the map lives only for this call.
    let mut country_at: HashMap<usize, Option<Country>> = HashMap::new();
    let everything = "0.0.0.0/0"
        .parse()
        .map_err(|e| invalid("walking the ipv4 networks", format!("{e}")))?;
    let walk = db
        .reader
        .within(everything, WithinOptions::default())
        .map_err(|e| invalid("walking the ipv4 networks", e.to_string()))?;
    for found in walk {
        let found = found.map_err(|e| invalid("walking the ipv4 networks", e.to_string()))?;
        let Some(offset) = found.offset() else {
            continue;
        };
        let country = match country_at.get(&offset) {
            Some(&country) => country,
            None => {
                let record = found
                    .decode::<CityRecord>()
                    .map_err(|e| invalid("reading a record", e.to_string()))?;
                let country = record.and_then(|r| r.country);
                country_at.insert(offset, country);
                country
            }
        };
        let Some(country) = country.filter(|c| wanted.contains(c)) else {
            continue;
        };
        let list = out.entry(country.as_str().to_string()).or_default();
        if list.len() >= per_country_limit {
            continue;
        }
        let network = found
            .network()
            .map_err(|e| invalid("walking the ipv4 networks", e.to_string()))?;
        let (IpAddr::V4(first), prefix) = (network.network(), network.prefix()) else {
            // An IPv6 database without an IPv4 subtree answers with IPv6 networks.
            continue;
        };
        if netclass::classify(IpAddr::V4(first)) != NetClass::Public {
            continue;
        }
        let net = Ipv4Net::new(first, prefix)
            .map_err(|e| invalid("walking the ipv4 networks", e.to_string()))?;
        list.push(net);
        if list.len() == per_country_limit {
            open -= 1;
            if open == 0 {
                break;
            }
        }
    }
    Ok(out)
}
