//! What a GeoIP lookup tells about an address: small `Copy` values, so the engine
//! can carry them through the hot path without allocating.

use crate::enrich::netclass::NetClass;
use std::fmt;

/// Everything the databases know about one address. Fields are `None` (or all
/// flags false) when the database for them is not loaded, has no record for the
/// address, or the record could not be read.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GeoInfo {
    /// Decided from the address alone; only `Public` addresses are looked up.
    pub class: NetClass,
    /// From the City database: `country.iso_code`, else `registered_country.iso_code`.
    pub country: Option<Country>,
    /// From the City database.
    pub location: Option<Location>,
    /// From the ASN (or ISP) database: `autonomous_system_number`.
    pub asn: Option<u32>,
    /// From the Anonymous-IP (or Anonymous-Plus) database.
    pub anonymous: AnonFlags,
}

/// An ISO 3166-1 alpha-2 country code, always two ASCII uppercase letters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country([u8; 2]);

impl Country {
    /// Accepts exactly two ASCII letters, in either case (stored uppercase);
    /// anything else is `None`, so a malformed database value cannot produce
    /// a code that is not one.
    pub fn new(code: &str) -> Option<Country> {
        match code.as_bytes() {
            &[a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Some(Country([a.to_ascii_uppercase(), b.to_ascii_uppercase()]))
            }
            _ => None,
        }
    }

    pub fn as_str(&self) -> &str {
        // `new` is the only constructor and admits ASCII letters only.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    pub fn as_bytes(&self) -> [u8; 2] {
        self.0
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Country({})", self.as_str())
    }
}

/// Where the database places the address. `f32` is ample: at these magnitudes
/// it resolves about a metre, and the databases' own accuracy is kilometres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Location {
    pub latitude: f32,
    pub longitude: f32,
    /// The radius, in kilometres, within which the address is likely to be;
    /// 0 when the database does not say.
    pub accuracy_radius_km: u16,
}

impl Location {
    /// Rejects coordinates off the globe (or NaN), which only a corrupt or
    /// hostile database would hold, so distance maths downstream stays sane.
    pub fn new(latitude: f64, longitude: f64, accuracy_radius_km: u16) -> Option<Location> {
        let on_globe = (-90.0..=90.0).contains(&latitude) && (-180.0..=180.0).contains(&longitude);
        on_globe.then_some(Location {
            latitude: latitude as f32,
            longitude: longitude as f32,
            accuracy_radius_km,
        })
    }
}

/// The Anonymous-IP database's flags for an address; all false when unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AnonFlags {
    pub anonymous: bool,
    pub anonymous_vpn: bool,
    pub hosting_provider: bool,
    pub public_proxy: bool,
    pub tor_exit_node: bool,
    pub residential_proxy: bool,
}

impl AnonFlags {
    /// The address hides who is behind it: any anonymizer, VPN, public or
    /// residential proxy, or Tor exit. Hosting alone is not anonymity.
    pub fn is_anonymous(&self) -> bool {
        self.anonymous
            || self.anonymous_vpn
            || self.public_proxy
            || self.tor_exit_node
            || self.residential_proxy
    }

    /// The address belongs to a hosting or cloud provider, where real users
    /// rarely sign in from but scripts often run.
    pub fn is_hosting(&self) -> bool {
        self.hosting_provider
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_accepts_two_letters_only() {
        let cases = [
            ("GB", Some("GB")),
            ("us", Some("US")),
            ("", None),
            ("G", None),
            ("GBR", None),
            ("G1", None),
            ("É", None),
        ];
        for (input, want) in cases {
            let got = Country::new(input);
            assert_eq!(
                got.map(|c| c.to_string()),
                want.map(str::to_string),
                "{input:?}"
            );
        }
    }

    #[test]
    fn location_rejects_off_globe() {
        let cases = [
            (51.5333, -0.2333, true),
            (90.0, 180.0, true),
            (-90.0, -180.0, true),
            (90.1, 0.0, false),
            (0.0, 180.5, false),
            (f64::NAN, 0.0, false),
            (0.0, f64::INFINITY, false),
        ];
        for (lat, lon, ok) in cases {
            assert_eq!(Location::new(lat, lon, 5).is_some(), ok, "{lat} {lon}");
        }
    }

    #[test]
    fn anon_flags_summaries() {
        let none = AnonFlags::default();
        let hosting = AnonFlags {
            hosting_provider: true,
            ..none
        };
        let tor = AnonFlags {
            tor_exit_node: true,
            ..none
        };
        let residential = AnonFlags {
            residential_proxy: true,
            ..none
        };
        let cases = [
            (none, false, false),
            (hosting, false, true),
            (tor, true, false),
            (residential, true, false),
        ];
        for (flags, anonymous, is_hosting) in cases {
            assert_eq!(flags.is_anonymous(), anonymous, "{flags:?}");
            assert_eq!(flags.is_hosting(), is_hosting, "{flags:?}");
        }
    }
}
