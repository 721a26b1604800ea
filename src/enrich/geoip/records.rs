//! The few fields Palisade reads from each database's records. Every field not
//! named here (city and country names in eight languages, subdivisions, postal
//! codes…) is skipped by the decoder without being decoded or followed, which
//! is most of a City record; strings are borrowed from the memory map only
//! long enough to check them, so a lookup allocates nothing.

use super::info::{AnonFlags, Country, Location};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;

/// The City (and Enterprise) schema, reduced to what `GeoInfo` carries.
///
/// Decoded by hand rather than derived because a City lookup is dominated by
/// memory misses, not by parsing: `country` and `registered_country` are
/// pointers to shared maps elsewhere in the file. So the visitor follows
/// `registered_country` only when `country` is absent (MaxMind writes keys
/// sorted, so `country` comes first), and skips everything else unread. Maps
/// are always read to their end: a decoder reading an inline map resumes the
/// outer one where the inner visitor stopped.
#[derive(Debug, Default)]
pub(super) struct CityRecord {
    /// `country.iso_code`, else `registered_country.iso_code` (MaxMind leaves
    /// `country` out for some anycast and satellite networks).
    pub(super) country: Option<Country>,
    pub(super) location: Option<Location>,
}

impl<'de> Deserialize<'de> for CityRecord {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<CityRecord, D::Error> {
        deserializer.deserialize_map(CityVisitor)
    }
}

struct CityVisitor;

impl<'de> Visitor<'de> for CityVisitor {
    type Value = CityRecord;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a City record (a map)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CityRecord, A::Error> {
        let mut record = CityRecord::default();
        let mut registered = None;
        while let Some(key) = map.next_key::<&'de str>()? {
            match key {
                "country" => record.country = map.next_value::<IsoCode>()?.0,
                "registered_country" if record.country.is_none() => {
                    registered = map.next_value::<IsoCode>()?.0;
                }
                "location" => record.location = map.next_value::<LocationRecord>()?.location(),
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        record.country = record.country.or(registered);
        Ok(record)
    }
}

/// A country map's `iso_code`, read without its `names`.
struct IsoCode(Option<Country>);

impl<'de> Deserialize<'de> for IsoCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<IsoCode, D::Error> {
        deserializer.deserialize_map(IsoCodeVisitor)
    }
}

struct IsoCodeVisitor;

impl<'de> Visitor<'de> for IsoCodeVisitor {
    type Value = IsoCode;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a country map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<IsoCode, A::Error> {
        let mut country = None;
        while let Some(key) = map.next_key::<&'de str>()? {
            if key == "iso_code" {
                country = Country::new(map.next_value::<&'de str>()?);
            } else {
                map.next_value::<de::IgnoredAny>()?;
            }
        }
        Ok(IsoCode(country))
    }
}

#[derive(Debug, Default, Deserialize)]
struct LocationRecord {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
    #[serde(default)]
    accuracy_radius: Option<u16>,
}

impl LocationRecord {
    fn location(&self) -> Option<Location> {
        Location::new(
            self.latitude?,
            self.longitude?,
            self.accuracy_radius.unwrap_or(0),
        )
    }
}

/// The ASN and ISP schemas share this field.
#[derive(Debug, Default, Deserialize)]
pub(super) struct AsnRecord {
    #[serde(default)]
    pub(super) autonomous_system_number: Option<u32>,
}

/// The Anonymous-IP and Anonymous-Plus schemas.
#[derive(Debug, Default, Deserialize)]
pub(super) struct AnonymousRecord {
    #[serde(default)]
    is_anonymous: Option<bool>,
    #[serde(default)]
    is_anonymous_vpn: Option<bool>,
    #[serde(default)]
    is_hosting_provider: Option<bool>,
    #[serde(default)]
    is_public_proxy: Option<bool>,
    #[serde(default)]
    is_tor_exit_node: Option<bool>,
    #[serde(default)]
    is_residential_proxy: Option<bool>,
}

impl AnonymousRecord {
    pub(super) fn flags(&self) -> AnonFlags {
        let on = |b: Option<bool>| b.unwrap_or(false);
        AnonFlags {
            anonymous: on(self.is_anonymous),
            anonymous_vpn: on(self.is_anonymous_vpn),
            hosting_provider: on(self.is_hosting_provider),
            public_proxy: on(self.is_public_proxy),
            tor_exit_node: on(self.is_tor_exit_node),
            residential_proxy: on(self.is_residential_proxy),
        }
    }
}

/// Decodes a whole value, following every pointer and reading every string,
/// and keeps nothing. Used only by the open-time probe: the typed records
/// above skip the fields they do not name without following their pointers,
/// so they would miss corruption there; this does not.
pub(super) struct Walk;

/// Real GeoIP records nest four or five levels deep. The decoder's own limit
/// (512) is far more than a thread's stack holds in this recursion, so the
/// walk keeps a much smaller one and calls anything deeper corrupt.
const WALK_MAX_DEPTH: u8 = 32;

impl<'de> Deserialize<'de> for Walk {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Walk, D::Error> {
        WalkSeed { depth: 0 }.deserialize(deserializer)
    }
}

#[derive(Clone, Copy)]
struct WalkSeed {
    depth: u8,
}

impl WalkSeed {
    fn child<E: de::Error>(self) -> Result<WalkSeed, E> {
        if self.depth >= WALK_MAX_DEPTH {
            return Err(E::custom(format!(
                "values nested deeper than {WALK_MAX_DEPTH} levels; database is likely corrupt"
            )));
        }
        Ok(WalkSeed {
            depth: self.depth + 1,
        })
    }
}

impl<'de> DeserializeSeed<'de> for WalkSeed {
    type Value = Walk;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Walk, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for WalkSeed {
    type Value = Walk;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any MaxMind DB value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_none<E: de::Error>(self) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Walk, D::Error> {
        self.deserialize(d)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Walk, A::Error> {
        let child = self.child()?;
        while seq.next_element_seed(child)?.is_some() {}
        Ok(Walk)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Walk, A::Error> {
        let child = self.child()?;
        while map.next_entry_seed(child, child)?.is_some() {}
        Ok(Walk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The visitors are format-agnostic, so JSON stands in for MaxMind DB
    // records here and keeps these tests free of files.
    fn city(json: &str) -> CityRecord {
        serde_json::from_str(json).expect("test record decodes")
    }

    #[test]
    fn city_record_fields() {
        let cases = [
            (r#"{}"#, None, None),
            (
                r#"{"city":{"names":{"en":"Willesden"}},"country":{"geoname_id":1,"iso_code":"GB","names":{"en":"United Kingdom"}},
                   "location":{"accuracy_radius":200,"latitude":51.5333,"longitude":-0.2333,"time_zone":"Europe/London"},
                   "registered_country":{"iso_code":"FR"}}"#,
                Some("GB"),
                Some((51.5333, -0.2333, 200)),
            ),
            (
                r#"{"registered_country":{"iso_code":"DE"}}"#,
                Some("DE"),
                None,
            ),
            (
                r#"{"registered_country":{"iso_code":"DE"},"country":{"iso_code":"AT"}}"#,
                Some("AT"),
                None,
            ),
            (
                r#"{"country":{"names":{"en":"Nowhere"}},"registered_country":{"iso_code":"SE"}}"#,
                Some("SE"),
                None,
            ),
            (r#"{"country":{"iso_code":"GBR"}}"#, None, None),
            (
                r#"{"location":{"latitude":10.5,"longitude":20.25}}"#,
                None,
                Some((10.5, 20.25, 0)),
            ),
            (
                r#"{"location":{"latitude":95.0,"longitude":20.0,"accuracy_radius":5}}"#,
                None,
                None,
            ),
            (r#"{"location":{"accuracy_radius":5}}"#, None, None),
        ];
        for (json, country, location) in cases {
            let record = city(json);
            assert_eq!(
                record.country.map(|c| c.to_string()).as_deref(),
                country,
                "{json}"
            );
            let want = location.and_then(|(lat, lon, r)| Location::new(lat, lon, r));
            assert_eq!(record.location, want, "{json}");
        }
    }

    #[test]
    fn city_record_rejects_wrong_shapes() {
        for json in [
            r#"[]"#,
            r#"{"country":"GB"}"#,
            r#"{"location":{"accuracy_radius":-1}}"#,
        ] {
            assert!(serde_json::from_str::<CityRecord>(json).is_err(), "{json}");
        }
    }

    #[test]
    fn anonymous_record_flags() {
        let json = r#"{"is_anonymous":true,"is_tor_exit_node":true,"anonymizer_confidence":30}"#;
        let record: AnonymousRecord = serde_json::from_str(json).expect("decodes");
        let want = AnonFlags {
            anonymous: true,
            tor_exit_node: true,
            ..AnonFlags::default()
        };
        assert_eq!(record.flags(), want);
    }

    #[test]
    fn walk_refuses_deep_nesting() {
        let deep = format!("{}1{}", "[".repeat(40), "]".repeat(40));
        assert!(serde_json::from_str::<Walk>(&deep).is_err());
        let shallow = format!("{}1{}", "[".repeat(10), "]".repeat(10));
        assert!(serde_json::from_str::<Walk>(&shallow).is_ok());
    }
}
