//! Enrichment: what an event's address and user agent say beyond themselves.
//! GeoIP (country, location, ASN, anonymizers), the address's class (private and
//! reserved ranges need no lookup), allow- and deny-lists, user-agent families.

pub mod geoip;
pub mod iplist;
pub mod netclass;
pub mod pwned;
pub mod useragent;
