//! The risk model's part of a decision: each feature of the sign-in against
//! the user's profile and everyone's frequencies (the `new_*` reasons, with
//! the history saturating), and the signals (anonymizers, the hour, travel);
//! and who the account's owner is, for the holds that spare them.

use super::evidence::SourceEvidence;
use super::explain::Explain;
use super::travel;
use super::verdict::Verdict;
use super::{country_id, fold32, Engine};
use crate::enrich::geoip::GeoInfo;
use crate::enrich::netclass;
use crate::enrich::useragent::Families;
use crate::event::Event;
use crate::model::Evidence;
use crate::state::profile::{Ageing, Profile, ProfileStore};

/// A habit with at least this weight (in sightings, aged) is known.
const KNOWN_WEIGHT: f32 = 0.5;
/// Failures of the user from the address within `OWNER_FAILING_SECS` at
/// which the owner's own context counts as failing.
const OWNER_FAILING: u32 = 5;
const OWNER_FAILING_SECS: u32 = 600;

/// Whether a sign-in comes from the account owner's known context, and that
/// context is not failing itself: a device id the user's successful sign-ins
/// taught (a phone roams from network to network), or, without a device id,
/// the browser and OS they taught on a public network they taught. Holds on
/// the whole account spare it, so failures sent from elsewhere cannot lock
/// the owner out.
#[allow(clippy::too_many_arguments)]
pub(super) fn owner_context(
    profiles: &ProfileStore,
    ageing: &Ageing,
    sources: Option<&SourceEvidence>,
    e: &Event,
    keys: &crate::detect::Keys,
    geo: &GeoInfo,
    fam: Families,
    now_ms: u64,
) -> bool {
    let Some(p) = profiles.get(keys.user) else {
        return false;
    };
    let day = (now_ms / 86_400_000) as u16;
    let known = |(weight, _): (f32, f32)| weight >= KNOWN_WEIGHT;
    let known_context = match keys.device {
        Some(d) => known(p.devices.lookup(d as u32, day, ageing)),
        None => {
            fam.browser != 0
                && fam.os != 0
                && known(p.browsers.lookup(fam.browser, day, ageing))
                && known(p.oses.lookup(fam.os, day, ageing))
                && geo.class == netclass::NetClass::Public
                && known(
                    p.networks
                        .lookup(fold32(netclass::network_key(e.ip)), day, ageing),
                )
        }
    };
    let failing = sources.is_some_and(|s| {
        s.recent_failures(keys.user_ip, now_ms, OWNER_FAILING_SECS) >= OWNER_FAILING
    });
    known_context && !failing
}

impl Engine {
    pub(super) fn score_features(
        &self,
        e: &Event,
        geo: &GeoInfo,
        fam: Families,
        keys: &crate::detect::Keys,
        profile: Option<&Profile>,
        v: &mut Verdict,
    ) {
        let empty = Profile::default();
        let p = profile.unwrap_or(&empty);
        // The engine's clock was set to this event's time.
        let day = (self.last_ms / 86_400_000) as u16;
        let f = &self.model.spec.features;
        let g = &self.globals;
        let none = (0, 0, 0);
        let saturation = self.novelty.map(|n| n.saturation);
        let mut feature = |code: &'static str,
                           spec: Option<crate::model::FeatureSpec>,
                           id: Option<u32>,
                           habits: (f32, f32),
                           global: (u32, u64, usize),
                           what: [&str; 2]| {
            let (Some(spec), Some(_)) = (spec, id) else {
                return;
            };
            let ev = Evidence {
                user_weight: habits.0 as f64,
                user_total: habits.1 as f64,
                global,
            };
            // The history counts as at most `saturation` sign-ins: a long
            // one must not make a new value ever more alarming.
            let scored = match saturation {
                Some(n) if ev.user_total > n => Evidence {
                    user_weight: ev.user_weight * n / ev.user_total,
                    user_total: n,
                    global,
                },
                _ => ev,
            };
            if let Some(s) = spec.score(scored) {
                v.add_novel(code, s.score, Explain::feature(what, ev, s));
            }
        };
        let device_id = keys.device.map(|d| d as u32);
        if let Some(id) = device_id {
            // A device the user signed in with before is the user's, however
            // rarely used: a device id is no network or country that others
            // share. Only one never seen (or long forgotten) is new.
            let habits = p.devices.lookup(id, day, &self.ageing);
            if habits.0 < KNOWN_WEIGHT {
                feature(
                    "new_device",
                    f.device,
                    device_id,
                    habits,
                    none,
                    ["device", ""],
                );
            }
        }
        if let Some(c) = geo.country {
            let id = country_id(c);
            feature(
                "new_country",
                f.country,
                Some(id),
                p.countries.lookup(id, day, &self.ageing),
                g.country.get(id),
                ["country ", c.as_str()],
            );
        }
        if let Some(asn) = geo.asn {
            feature(
                "new_asn",
                f.asn,
                Some(asn),
                p.asns.lookup(asn, day, &self.ageing),
                g.asn.get(asn),
                ["AS", itoa::Buffer::new().format(asn)],
            );
        }
        if geo.class == netclass::NetClass::Public {
            let id = fold32(netclass::network_key(e.ip));
            feature(
                "new_network",
                f.network,
                Some(id),
                p.networks.lookup(id, day, &self.ageing),
                none,
                ["network", ""],
            );
        }
        if fam.browser != 0 {
            let name = self.agents.name(fam.browser);
            feature(
                "new_browser",
                f.browser,
                Some(fam.browser),
                p.browsers.lookup(fam.browser, day, &self.ageing),
                g.browser.get(fam.browser),
                ["browser ", name],
            );
        }
        if fam.os != 0 {
            let name = self.agents.name(fam.os);
            feature(
                "new_os",
                f.os,
                Some(fam.os),
                p.oses.lookup(fam.os, day, &self.ageing),
                g.os.get(fam.os),
                ["OS ", name],
            );
        }
        if let Some(marks) = self.fraud.of(keys.user) {
            self.score_reported(marks, e, geo, keys, day, v);
        }
    }

    pub(super) fn score_signals(
        &self,
        e: &Event,
        geo: &GeoInfo,
        profile: Option<&Profile>,
        v: &mut Verdict,
    ) {
        let s = &self.model.spec.signals;
        if geo.anonymous.is_anonymous() {
            v.add_evidence(
                "anonymous_ip",
                s.anonymous_ip.score,
                Explain::anonymous(geo),
            );
        }
        if geo.anonymous.is_hosting() {
            v.add_evidence(
                "hosting_ip",
                s.hosting_ip.score,
                "address belongs to a hosting provider".into(),
            );
        }
        let Some(p) = profile else {
            return;
        };
        let hour = ((e.timestamp.map_or(self.last_ms, |t| t.millis()) / 3_600_000) % 24) as u32;
        let h = &s.unusual_hour;
        if p.unusual_hour(hour, h.tolerance_hours, h.min_sign_ins) {
            v.add_novel("unusual_hour", h.score, Explain::hour(hour, p.hours.mask()));
        }
        let (Some(loc), Some(ts)) = (geo.location, e.timestamp) else {
            return;
        };
        if !p.last.has_location() || p.last.secs == 0 {
            return;
        }
        // A country the user signs in from is no destination of an
        // impossible trip: GeoIP places mobile and large-ISP addresses
        // loosely within a country, and a roaming phone shows up at home
        // while its owner is abroad.
        let day = (ts.millis() / 86_400_000) as u16;
        if geo
            .country
            .is_some_and(|c| p.countries.lookup(country_id(c), day, &self.ageing).0 >= KNOWN_WEIGHT)
        {
            return;
        }
        // Either way round: a late event's trip is to the last sign-in.
        let seconds = ts.secs().abs_diff(p.last.secs as u64);
        let trip = travel::trip(
            (
                p.last.latitude as f64,
                p.last.longitude as f64,
                p.last.accuracy_km as f64,
            ),
            (
                loc.latitude as f64,
                loc.longitude as f64,
                loc.accuracy_radius_km as f64,
            ),
            seconds,
        );
        let t = &s.impossible_travel;
        let same_country = geo.country.is_some_and(|c| c.as_bytes() == p.last.country);
        let min_km = if same_country {
            t.same_country_min_distance_km
        } else {
            t.min_distance_km
        };
        if trip.speed_kmh > t.max_speed_kmh && trip.beyond_accuracy_km >= min_km {
            // A step-up under attack (MFA required), not evidence to block
            // beside novelty: a roaming phone, a VPN or a loosely placed
            // address travels impossibly too often for that.
            v.attack = true;
            v.add_step_up(
                "impossible_travel".into(),
                s.impossible_travel.score,
                Explain::travel(trip, s.impossible_travel.max_speed_kmh),
                false,
            );
        }
    }
}
