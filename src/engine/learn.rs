//! What a success teaches: the user's profile (devices, places, networks,
//! browsers, hours) and the global frequencies, and the rules' resets; the
//! daily expiry of what aged out. Only successes the engine let through (or
//! history replayed by `palisade baseline`) come here.

use super::{country_id, fold32, Engine};
use crate::detect::Keys;
use crate::enrich::geoip::GeoInfo;
use crate::enrich::netclass;
use crate::enrich::useragent::Families;
use crate::event::{Event, Outcome};

impl Engine {
    /// Teaches the profiles and global frequencies one successful sign-in
    /// from history, as a success the engine let through would (`palisade
    /// baseline`): no rule runs, nothing is scored. Events must come in time
    /// order. Whether it taught anything: only `sign_in` successes do.
    pub fn learn_history(&mut self, e: &Event) -> bool {
        if e.kind != crate::event::Kind::SignIn || e.outcome != Outcome::Success {
            return false;
        }
        let (now_ms, geo, families, keys) = self.arrive(e);
        self.learn_profile(e, &geo, families, &keys, now_ms);
        true
    }

    /// Teaches the user's profile the event, and resets the user's buckets.
    /// Bit i of the result: detector i lifted a block or challenge.
    /// `quiet`: how long the event's address and network are known to have
    /// made no failed sign-in, so settled rules are not looked up.
    pub(super) fn learn(
        &mut self,
        e: &Event,
        geo: &GeoInfo,
        fam: Families,
        keys: &Keys,
        now_ms: u64,
        quiet: crate::detect::Quiet,
    ) -> u64 {
        let mut lifted = 0u64;
        for (i, d) in self.detectors.iter_mut().enumerate() {
            if d.on_success(keys, now_ms, quiet) && i < 64 {
                lifted |= 1 << i;
            }
        }
        self.learn_profile(e, geo, fam, keys, now_ms);
        lifted
    }

    /// The profile and global frequencies' part of learning a success.
    fn learn_profile(&mut self, e: &Event, geo: &GeoInfo, fam: Families, keys: &Keys, now_ms: u64) {
        let day = (now_ms / 86_400_000) as u16;
        let a = &self.ageing;
        let p = self.profiles.get_or_insert(keys.user);
        if let Some(d) = keys.device {
            p.devices.learn(d as u32, day, a);
        }
        if let Some(c) = geo.country {
            p.countries.learn(country_id(c), day, a);
            self.globals.country.observe(country_id(c));
        }
        if let Some(asn) = geo.asn {
            p.asns.learn(asn, day, a);
            self.globals.asn.observe(asn);
        }
        if geo.class == netclass::NetClass::Public {
            p.networks
                .learn(fold32(netclass::network_key(e.ip)), day, a);
        }
        if fam.browser != 0 {
            p.browsers.learn(fam.browser, day, a);
            self.globals.browser.observe(fam.browser);
        }
        if fam.os != 0 {
            p.oses.learn(fam.os, day, a);
            self.globals.os.observe(fam.os);
        }
        // The hour the user signed in at is the event's; the last sign-in
        // (where impossible travel starts) is the latest by event time, so a
        // late event does not replace it.
        let at_ms = e.timestamp.map_or(now_ms, |t| t.millis().min(now_ms));
        p.hours.learn(((at_ms / 3_600_000) % 24) as u32);
        let at_secs = (at_ms / 1000).min(u32::MAX as u64) as u32;
        if at_secs < p.last.secs {
            return;
        }
        p.last.secs = at_secs;
        let (latitude, longitude, accuracy_km) =
            geo.location.map_or((f32::NAN, f32::NAN, 0), |l| {
                (l.latitude, l.longitude, l.accuracy_radius_km)
            });
        p.last.latitude = latitude;
        p.last.longitude = longitude;
        p.last.accuracy_km = accuracy_km;
        p.last.country = geo.country.map_or([0; 2], |c| c.as_bytes());
    }

    /// Once a day of event time, profiles idle past the model's forget horizon go.
    pub(super) fn expire_profiles(&mut self, day: u32) {
        if day < self.next_expiry_day {
            return;
        }
        if self.next_expiry_day != 0 {
            let horizon = day.saturating_sub(self.ageing.forget_after_days as u32);
            self.profiles.expire(horizon as u16);
            if !self.fraud.is_empty() {
                self.fraud.expire(horizon as u16);
            }
            self.enforcements.expire(self.last_ms);
            self.reported.expire(self.last_ms);
            if let Some(src) = &mut self.sources {
                src.expire(self.last_ms);
            }
            // The records a user's next failure would clear anyway.
            for d in &mut self.detectors {
                if let crate::detect::Counter::Lockout(l) = d.counter_mut() {
                    l.expire(self.last_ms);
                }
            }
        }
        self.next_expiry_day = day + 1;
    }
}
