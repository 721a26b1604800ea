//! Feedback on an earlier event, after Cognito's auth-event feedback: the caller
//! (who keeps the event, see `state::history`) says whether the sign-in was the
//! user's.
//!
//! - `legitimate` teaches the user's profile the event's values, as a success
//!   Palisade let through does (and resets the user's buckets, lifting their
//!   blocks), and removes fraud marks on those values.
//! - `fraudulent` forgets the event's device, network and country from the
//!   profile, marks them against the user (`reported_fraud`), blocks the
//!   configured keys (`reported_fraud_block`) and, by default, requires a
//!   password reset. In audit mode the blocks are kept (decisions show them as
//!   audited) but no enforcement is issued.

use super::enforce::{Enforcement, EnforcementAction, ReportedBlock, Scope};
use super::explain::Explain;
use super::{country_id, fold32, Engine, Verdict};
use crate::config::{BlockScope, FeedbackConfig, Mode};
use crate::detect::Keys;
use crate::enrich::geoip::GeoInfo;
use crate::enrich::netclass::{self, NetClass};
use crate::event::{Action, Event, FeedbackVerdict, Timestamp};
use crate::state::fraud::{Feature, UserMarks};
use serde::Serialize;

/// `[feedback]` of the configuration, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackSettings {
    /// Scopes a fraudulent verdict blocks (of ip, network, user_ip, user).
    pub block: Vec<Scope>,
    pub block_ms: u64,
    pub require_password_reset: bool,
}

impl FeedbackSettings {
    pub fn from_config(c: &FeedbackConfig) -> FeedbackSettings {
        let block = c.block.get().iter().map(|scope| match scope {
            BlockScope::Ip => Scope::Ip,
            BlockScope::Network => Scope::Network,
            BlockScope::UserIp => Scope::UserIp,
            BlockScope::User => Scope::User,
        });
        FeedbackSettings {
            block: block.collect(),
            block_ms: c.block_duration.value().as_millis().min(u64::MAX as u128) as u64,
            require_password_reset: c.require_password_reset,
        }
    }
}

/// What feedback did, for the caller's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedbackEffect {
    pub event_id: String,
    pub verdict: FeedbackVerdict,
    /// Features the user's profile learned (legitimate).
    pub learned: Vec<Feature>,
    /// Features the user's profile held and forgot (fraudulent).
    pub forgotten: Vec<Feature>,
    /// Features now marked against the user (fraudulent).
    pub marked: Vec<Feature>,
    /// Fraud marks removed (legitimate).
    pub unmarked: Vec<Feature>,
    /// Scopes the engine now blocks (fraudulent), whether or not enforced.
    pub blocked: Vec<Scope>,
    /// Keys of enforcements no longer in force (legitimate: blocks on this
    /// user from this event's address, or from reporting this event before).
    pub lifted: Vec<String>,
    /// Enforcements issued; also returned by `take_enforcements`, so a door
    /// publishing from there must not publish these again.
    pub enforcements: Vec<Enforcement>,
    pub password_reset_required: bool,
    /// False in audit mode: nothing was enforced.
    pub enforced: bool,
}

/// The values fraud marks are kept for: device, network (public addresses,
/// as the profile learns them) and country, as their feature ids.
fn fraud_values(e: &Event, geo: &GeoInfo, keys: &Keys) -> [(Feature, Option<u32>); 3] {
    [
        (Feature::Device, keys.device.map(|d| d as u32)),
        (
            Feature::Network,
            (geo.class == NetClass::Public).then(|| fold32(netclass::network_key(e.ip))),
        ),
        (Feature::Country, geo.country.map(country_id)),
    ]
}

/// What feedback changes in `evaluate`: called only while there are
/// feedback blocks, or fraud marks for the event's user.
impl Engine {
    /// `reported_fraud_block`: a block from fraud feedback on one of the
    /// event's keys.
    #[cold]
    pub(super) fn check_reported(&mut self, keys: &Keys, now_ms: u64, v: &mut Verdict) {
        if let Some(b) = self.reported.check(keys, now_ms, !self.probing) {
            let score = self.model.spec.signals.reported_fraud.score;
            v.add_evidence(
                "reported_fraud_block",
                score,
                Explain::reported_block(&b, now_ms),
            );
            v.action = Action::Block;
        }
    }

    /// `reported_fraud`: the event's device, network or country was in a
    /// sign-in of this user that feedback reported as fraudulent, within the
    /// profile's forget horizon.
    #[cold]
    pub(super) fn score_reported(
        &self,
        marks: UserMarks,
        e: &Event,
        geo: &GeoInfo,
        keys: &Keys,
        day: u16,
        v: &mut Verdict,
    ) {
        let horizon = day.saturating_sub(self.ageing.forget_after_days);
        let mut found = [Feature::Device; 3];
        let mut n = 0;
        let mut latest = 0;
        for (feature, id) in fraud_values(e, geo, keys) {
            if let Some(reported) = id.and_then(|id| marks.reported(feature, id, horizon)) {
                found[n] = feature;
                n += 1;
                latest = latest.max(reported);
            }
        }
        if n > 0 {
            let score = self.model.spec.signals.reported_fraud.score;
            v.add_evidence(
                "reported_fraud",
                score,
                Explain::reported_fraud(&found[..n], latest),
            );
        }
    }
}

impl Engine {
    /// Takes a verdict on an earlier event (the caller passes the event as it
    /// was evaluated). The profile learns at the event's own time; marks and
    /// blocks count from the engine's clock, which moves forward to the
    /// event's time if that is later, and never back.
    pub fn feedback(&mut self, e: &Event, verdict: FeedbackVerdict) -> FeedbackEffect {
        let event_ms = e.timestamp.map_or(self.last_ms, |t| t.millis());
        if event_ms > self.last_ms {
            self.last_ms = event_ms;
            self.clock.set_millis(event_ms);
            self.expire_profiles((event_ms / 86_400_000) as u32);
        }
        let geo = self.geoip.lookup_cached(e.ip, &mut self.geo_cache);
        let mut effect = FeedbackEffect {
            event_id: e.event_id.clone(),
            verdict,
            learned: Vec::new(),
            forgotten: Vec::new(),
            marked: Vec::new(),
            unmarked: Vec::new(),
            blocked: Vec::new(),
            lifted: Vec::new(),
            enforcements: Vec::new(),
            password_reset_required: false,
            enforced: self.mode == Mode::Enforce,
        };
        match verdict {
            FeedbackVerdict::Legitimate => self.legitimate(e, &geo, event_ms, &mut effect),
            FeedbackVerdict::Fraudulent => self.fraudulent(e, &geo, &mut effect),
        }
        effect
    }

    fn legitimate(&mut self, e: &Event, geo: &GeoInfo, event_ms: u64, out: &mut FeedbackEffect) {
        let families = self.families(e);
        let keys = self.hasher.keys(e, geo.asn);
        // Where the user was last is the latest success's place: an older
        // event teaches habits, not a new origin for impossible travel.
        let before = self.profiles.get(keys.user).map(|p| p.last);
        let lifted = self.learn(e, geo, families, &keys, event_ms, Default::default());
        let newer = before.filter(|last| last.secs as u64 > event_ms / 1000);
        if let (Some(last), Some(p)) = (newer, self.profiles.get_mut(keys.user)) {
            p.last = last;
        }
        for (feature, present) in [
            (Feature::Device, keys.device.is_some()),
            (Feature::Network, geo.class == NetClass::Public),
            (Feature::Country, geo.country.is_some()),
            (Feature::Asn, geo.asn.is_some()),
            (Feature::Browser, families.browser != 0),
            (Feature::Os, families.os != 0),
            (Feature::Hour, true),
            (Feature::Place, newer.is_none()),
        ] {
            if present {
                out.learned.push(feature);
            }
        }
        for (feature, id) in fraud_values(e, geo, &keys) {
            if id.is_some_and(|id| self.fraud.unmark(keys.user, feature, id)) {
                out.unmarked.push(feature);
            }
        }

        // Blocks this verdict contradicts: the rules' on the user that the
        // success reset, feedback's on this user from this address, and any
        // from an earlier fraudulent verdict on this same event.
        let mut lift = Vec::new();
        for (i, d) in self.detectors.iter().enumerate() {
            if i < 64 && lifted & (1 << i) != 0 {
                if let Some(scope) = Scope::of_key(d.key_kind()) {
                    lift.push((scope, d.id.to_string()));
                }
            }
        }
        for scope in self.reported.lift_event(&e.event_id) {
            lift.push((scope, "feedback".to_string()));
        }
        if self.reported.lift(keys.user_ip, Scope::UserIp) {
            lift.push((Scope::UserIp, "feedback".to_string()));
        }
        let now = Timestamp(self.last_ms);
        for (scope, rule) in lift {
            let Some(x) = Enforcement::for_event(
                EnforcementAction::Block,
                scope,
                e,
                geo.asn,
                None,
                &rule,
                now,
            ) else {
                continue;
            };
            let key = x.key();
            if self.enforcements.lift(&key, &rule) && !out.lifted.contains(&key) {
                out.lifted.push(key);
            }
        }
    }

    fn fraudulent(&mut self, e: &Event, geo: &GeoInfo, out: &mut FeedbackEffect) {
        let keys = self.hasher.keys(e, geo.asn);
        let values = fraud_values(e, geo, &keys);
        if let Some(p) = self.profiles.get_mut(keys.user) {
            for (feature, id) in values {
                let Some(id) = id else { continue };
                let habits = match feature {
                    Feature::Device => &mut p.devices,
                    Feature::Network => &mut p.networks,
                    _ => &mut p.countries,
                };
                if habits.forget(id) {
                    out.forgotten.push(feature);
                }
            }
            // The reported sign-in must not be where impossible travel starts.
            let secs = e.timestamp.map(|t| t.secs());
            if secs == Some(p.last.secs as u64) && p.last.has_location() {
                p.last.latitude = f32::NAN;
                p.last.longitude = f32::NAN;
                p.last.country = [0; 2];
                out.forgotten.push(Feature::Place);
            }
        }
        let now_ms = self.last_ms;
        let day = (now_ms / 86_400_000) as u16;
        for (feature, id) in values {
            if let Some(id) = id {
                self.fraud.mark(keys.user, feature, id, day);
                out.marked.push(feature);
            }
        }

        let until_ms = now_ms.saturating_add(self.on_fraud.block_ms);
        let enforce = self.mode == Mode::Enforce;
        let now = Timestamp(now_ms);
        for &scope in &self.on_fraud.block {
            let Some(key) = scope.hash(&keys) else {
                continue;
            };
            let block = ReportedBlock {
                scope,
                until_ms,
                event_id: e.event_id.as_str().into(),
            };
            self.reported.insert(key, block, now_ms);
            out.blocked.push(scope);
            if !enforce {
                continue;
            }
            let until = Some(Timestamp(until_ms));
            let action = EnforcementAction::Block;
            if let Some(x) =
                Enforcement::for_event(action, scope, e, geo.asn, until, "feedback", now)
            {
                if self.enforcements.issue(x.clone(), now_ms) {
                    out.enforcements.push(x);
                }
            }
        }
        if enforce && self.on_fraud.require_password_reset {
            let action = EnforcementAction::RequirePasswordReset;
            if let Some(x) =
                Enforcement::for_event(action, Scope::User, e, None, None, "feedback", now)
            {
                self.enforcements.issue(x.clone(), now_ms);
                out.enforcements.push(x);
                out.password_reset_required = true;
            }
        }
    }
}
