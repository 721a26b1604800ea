//! The engine: one decision path for every door. `evaluate` enriches an event,
//! runs the detectors, scores the risk and assembles the decision; when the event
//! is an outcome it also folds it into state. The clock is the event's timestamp,
//! so the same events in the same order always give the same decisions.
//! Enforced blocks leave as [`Enforcement`] records; [`Engine::feedback`] takes
//! a verdict on an earlier event.

pub mod breached;
mod build;
pub mod enforce;
pub mod evidence;
mod explain;
mod feedback;
pub mod keys;
mod saved;
pub mod travel;
mod verdict;

pub use crate::event::FeedbackVerdict;
pub use build::{EngineParts, StartupError};
pub use enforce::{Enforcement, EnforcementAction, Scope};
pub use feedback::{FeedbackEffect, FeedbackSettings};

use crate::config::Mode;
use crate::detect::{Detector, HitKind, OverflowAction};
use crate::enrich::geoip::{GeoCache, GeoInfo, GeoIp};
use crate::enrich::iplist::IpList;
use crate::enrich::netclass;
use crate::enrich::useragent::{Families, UserAgents};
use crate::event::{Action, Decision, Event, Mfa, MfaStep, Outcome, Reason};
use crate::model::{Evidence, LevelAction, Model, NoveltySpec};
use crate::state::fraud::FraudMarks;
use crate::state::frequency::Frequencies;
use crate::state::limiter::EventClock;
use crate::state::profile::{Ageing, Profile, ProfileStore};
use crate::state::Evictions;
use breached::PwnedAction;
use enforce::{Enforcements, ReportedBlocks};
use evidence::{SourceEvidence, Standing};
use explain::Explain;
use keys::Hasher;
use verdict::{round4, Verdict};

/// Global frequencies of the features the model compares against everyone.
struct Globals {
    country: Frequencies,
    asn: Frequencies,
    browser: Frequencies,
    os: Frequencies,
}

/// Sizes of the engine's state, for metrics and the memory benchmark.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateStats {
    pub profiles: usize,
    /// Bytes the profiles and their index hold (by capacity).
    pub profile_bytes: usize,
    /// (rule id, keys tracked, bytes they hold).
    pub rule_keys: Vec<(String, usize, usize)>,
    /// Enforcements listed (in force or recently ended).
    pub enforcements: usize,
    /// Enforcements dropped untaken (nothing called `take_enforcements`).
    pub enforcements_dropped: u64,
    /// Keys blocked by fraud feedback.
    pub reported_blocks: usize,
    /// Users with fraud marks, and the bytes the marks hold.
    pub fraud_marked_users: usize,
    pub fraud_mark_bytes: usize,
    /// Sources with recent failures (all kinds together) and addresses with
    /// a record of bans: (entries, bytes) each.
    pub failure_sources: (usize, usize),
    pub offenders: (usize, usize),
}

impl std::fmt::Display for StateStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: usize = self.rule_keys.iter().map(|r| r.1).sum();
        let bytes: usize = self.rule_keys.iter().map(|r| r.2).sum();
        write!(
            f,
            "state: {} profiles in {:.1} MiB ({} bytes each, counting unused capacity); {} rule keys in {:.1} MiB ({} bytes each); {} failing sources in {:.1} MiB; {} addresses banned before",
            self.profiles,
            self.profile_bytes as f64 / 1048576.0,
            self.profile_bytes / self.profiles.max(1),
            keys,
            bytes as f64 / 1048576.0,
            bytes / keys.max(1),
            self.failure_sources.0,
            self.failure_sources.1 as f64 / 1048576.0,
            self.offenders.0
        )
    }
}

pub struct Engine {
    clock: EventClock,
    mode: Mode,
    geoip: GeoIp,
    geo_cache: GeoCache,
    allow: IpList,
    deny: IpList,
    detectors: Vec<Detector>,
    rules_version: std::sync::Arc<str>,
    model_version: std::sync::Arc<str>,
    model: Model,
    ageing: Ageing,
    profiles: ProfileStore,
    globals: Globals,
    agents: UserAgents,
    hasher: Hasher,
    /// Event time of the latest event (ms): the clock for an event without one.
    last_ms: u64,
    next_expiry_day: u32,
    /// Issued and in force: what the doors publish.
    enforcements: Enforcements,
    /// Blocks fraud feedback put on keys; checked while there are any.
    reported: ReportedBlocks,
    /// Values of sign-ins reported as fraudulent, per user.
    fraud: FraudMarks,
    /// What a fraudulent verdict blocks and requires (`[feedback]`).
    on_fraud: FeedbackSettings,
    /// Identifies the hash key in checkpoints (see `saved`).
    key_fingerprint: u64,
    /// The breach-corpus check (`[pwned]`).
    breached: breached::Breached,
    memory_budget: Option<u64>,
    /// Failure evidence per source and escalating bans (the model's
    /// `[evidence]`); `None` when the model has none.
    sources: Option<SourceEvidence>,
    /// The model's `[novelty]`: its cap and saturation.
    novelty: Option<NoveltySpec>,
}

/// A 64-bit key as a 32-bit feature value, mixing every bit in (an IPv6 /48
/// key keeps its distinguishing bits high).
fn fold32(k: u64) -> u32 {
    (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32
}

/// A country as a feature value.
fn country_id(c: crate::enrich::geoip::Country) -> u32 {
    u16::from_be_bytes(c.as_bytes()) as u32
}

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
fn owner_context(
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
    pub fn new(p: EngineParts) -> Engine {
        let limits = p.limits;
        let sources = SourceEvidence::new(p.model.spec.evidence.as_ref(), &limits);
        let novelty = p.model.spec.novelty;
        Engine {
            clock: p.clock,
            mode: p.mode,
            geoip: p.geoip,
            geo_cache: GeoCache::default(),
            allow: p.allow,
            deny: p.deny,
            detectors: p.rules.detectors,
            rules_version: p.rules.version.as_str().into(),
            model_version: p.model.spec.version.as_str().into(),
            ageing: p.model.spec.profile.ageing(),
            model: p.model,
            profiles: ProfileStore::new(limits.max_profiles),
            globals: Globals {
                country: Frequencies::new(limits.max_frequency_values),
                asn: Frequencies::new(limits.max_frequency_values),
                browser: Frequencies::new(limits.max_frequency_values),
                os: Frequencies::new(limits.max_frequency_values),
            },
            agents: UserAgents::new(limits.max_user_agents, p.hash_key),
            hasher: Hasher::new(p.hash_key),
            last_ms: 0,
            next_expiry_day: 0,
            enforcements: Enforcements::new(limits.max_enforcements),
            reported: ReportedBlocks::new(limits.max_enforcements),
            fraud: FraudMarks::new(limits.max_fraud_marked_users),
            on_fraud: p.feedback,
            key_fingerprint: saved::key_fingerprint(p.hash_key),
            breached: p.breached,
            memory_budget: limits.memory_budget_bytes().ok().flatten(),
            sources,
            novelty,
        }
    }

    /// `limits.memory_budget` in bytes, if set (the caps were checked against
    /// it when the engine was built).
    pub fn memory_budget(&self) -> Option<u64> {
        self.memory_budget
    }

    /// The breach-corpus index the engine reads: `serve` swaps a new build
    /// in through it.
    pub fn pwned_index(&self) -> &breached::SharedIndex {
        &self.breached.index
    }

    pub fn rules_version(&self) -> &str {
        &self.rules_version
    }

    pub fn model_version(&self) -> &str {
        &self.model.spec.version
    }

    pub fn geoip(&self) -> &GeoIp {
        &self.geoip
    }

    /// The enforcements issued since the last call (rule blocks and feedback),
    /// oldest first; the doors publish them. Cheap when there are none. Up to
    /// `limits.max_enforcements` wait; beyond, the oldest are dropped.
    pub fn take_enforcements(&mut self) -> Vec<Enforcement> {
        self.enforcements.take()
    }

    /// The enforcements in force at the engine's clock (the latest event
    /// time), oldest issued first: blocks until their `until`, password resets
    /// for [`enforce::PASSWORD_RESET_LISTED_MS`] after issue. Lists what the
    /// engine issued, up to `limits.max_enforcements`.
    pub fn enforcements_in_force(&self) -> Vec<Enforcement> {
        self.enforcements.in_force(self.last_ms)
    }

    /// The browser and OS families of the event's user agent.
    fn families(&mut self, e: &Event) -> Families {
        e.user_agent
            .as_deref()
            .map(|ua| self.agents.families(ua))
            .unwrap_or_default()
    }

    /// Decides on one event and, when it is an outcome, learns from it.
    pub fn evaluate(&mut self, e: &Event) -> Decision {
        let (now_ms, geo, families, keys) = self.arrive(e);
        let mut v = Verdict::default();
        let mut compromised = false;

        let allowlisted = self.allow.contains(e.ip) && !self.deny.contains(e.ip);
        if allowlisted {
            v.reasons.push(Reason {
                code: "ip_allowlisted".into(),
                score: 0.0,
                detail: "address on the allow-list: risk detection skipped".into(),
            });
        } else {
            if self.deny.contains(e.ip) {
                let s = self.model.spec.signals.ip_denylisted.score;
                v.add_evidence("ip_denylisted", s, "address on the deny-list".into());
                v.action = Action::Block;
            }
            if !self.reported.is_empty() {
                self.check_reported(&keys, now_ms, &mut v);
            }
            self.run_detectors(e, &keys, &geo, families, now_ms, &mut v);
            compromised = self.check_breached(e, now_ms, &mut v);
            self.weigh_sources(e, &keys, now_ms, &mut v);
            // One look-up serves both: the profile is the slowest memory an
            // event touches.
            let profile = self.profiles.get(keys.user);
            self.score_features(e, &geo, families, &keys, profile, &mut v);
            self.score_signals(e, &geo, profile, &mut v);
            if let Some(n) = self.novelty {
                let block_at = self
                    .model
                    .contributions_for(self.model.spec.thresholds.high);
                v.cap_step_ups(n.max, block_at);
            }
        }

        let (risk_score, risk_level, level_action) = self.model.assess(v.contributions);
        let (level_action, level_mfa) = match level_action {
            LevelAction::Allow => (Action::Allow, None),
            // Under attack, "MFA if configured" would let an attacker through
            // on every account without MFA.
            LevelAction::MfaIfConfigured if v.attack => {
                (Action::Challenge, Some(MfaStep::Required))
            }
            LevelAction::MfaIfConfigured => (Action::Challenge, Some(MfaStep::IfConfigured)),
            LevelAction::MfaRequired => (Action::Challenge, Some(MfaStep::Required)),
            LevelAction::Block => (Action::Block, None),
        };
        let (would, mfa) = if allowlisted {
            (Action::Allow, None)
        } else if level_action > v.action {
            (level_action, level_mfa.max(v.mfa))
        } else {
            (
                v.action,
                v.mfa.max(if level_action == v.action {
                    level_mfa
                } else {
                    None
                }),
            )
        };
        let (action, audit_action) = match self.mode {
            Mode::Enforce => (would, (v.audited > would).then_some(v.audited)),
            Mode::Audit => (
                Action::Allow,
                (would.max(v.audited) > Action::Allow).then_some(would.max(v.audited)),
            ),
        };

        // Only a success Palisade would let through teaches: an attacker who
        // got in despite a block must not become the user's habit, nor reset
        // what the attack counted. "MFA if configured" lets a user without
        // MFA through (Cognito's semantics): a success that did no MFA after
        // it passed too; "MFA required" needs the MFA passed.
        let passed = match would {
            Action::Allow => true,
            Action::Challenge => match (mfa, e.mfa) {
                (_, Some(Mfa::Passed)) => true,
                (Some(MfaStep::IfConfigured), None | Some(Mfa::None)) => true,
                _ => false,
            },
            Action::Block => false,
        };
        if e.outcome == Outcome::Success && passed {
            self.learn(e, &geo, families, &keys, now_ms);
        }
        if let (Outcome::Success, Some(src)) = (e.outcome, &mut self.sources) {
            src.succeeded(e, &keys, now_ms, passed);
        }
        if would == Action::Block && v.source_blame {
            self.ban_source(e, &keys, geo.asn, now_ms);
        }

        Decision {
            event_id: e.event_id.clone(),
            action,
            risk_level,
            risk_score: round4(risk_score),
            reasons: v.reasons,
            compromised_password: compromised,
            enforced: audit_action.is_none(),
            audit_action,
            mfa: if action == Action::Challenge {
                mfa
            } else {
                None
            },
            rules_version: self.rules_version.clone(),
            model_version: self.model_version.clone(),
        }
    }

    fn run_detectors(
        &mut self,
        e: &Event,
        keys: &crate::detect::Keys,
        geo: &GeoInfo,
        families: Families,
        now_ms: u64,
        v: &mut Verdict,
    ) {
        // Whether the sign-in comes from the account owner's known device
        // and network: asked only when a hold on the whole account applies.
        let mut owner: Option<bool> = None;
        for d in &mut self.detectors {
            let Some(hit) = d.evaluate(e, keys, now_ms) else {
                continue;
            };
            let detail = Explain::hit(d, hit, now_ms);
            let demanded = match (d.action, hit) {
                (_, HitKind::WouldOverflow) | (OverflowAction::Signal, _) => Action::Allow,
                (OverflowAction::Block, _) => Action::Block,
                (OverflowAction::Challenge, _) => Action::Challenge,
            };
            if d.audit {
                v.audited = v.audited.max(demanded);
                v.reasons.push(Reason {
                    code: d.id.clone().into(),
                    score: 0.0,
                    detail: format!("audit only: {detail}"),
                });
                continue;
            }
            let spares_owner = d.spares_owner();
            if spares_owner && demanded > Action::Allow {
                let is_owner = *owner.get_or_insert_with(|| {
                    owner_context(
                        &self.profiles,
                        &self.ageing,
                        self.sources.as_ref(),
                        e,
                        keys,
                        geo,
                        families,
                        now_ms,
                    )
                });
                if is_owner {
                    v.reasons.push(Reason {
                        code: d.id.clone().into(),
                        score: 0.0,
                        detail: format!(
                            "not applied: the sign-in is from the account owner's known device: {detail}"
                        ),
                    });
                    continue;
                }
            }
            if d.action == OverflowAction::Challenge && demanded == Action::Challenge {
                v.add_step_up(d.id.clone().into(), d.score, detail, false);
            } else {
                v.add(d.id.clone(), d.score, detail);
            }
            if let (
                OverflowAction::Block,
                HitKind::Overflow {
                    until_ms: Some(until),
                },
            ) = (d.action, hit)
            {
                // A hold on the account that spares its owner must not reach
                // an auth service as a block of the whole account.
                if self.mode == Mode::Enforce && !spares_owner {
                    self.enforcements.rule_block(d, e, geo.asn, until, now_ms);
                }
            }
            if demanded == Action::Block && d.key_kind().is_source() {
                v.source_blame = true;
            }
            if demanded == Action::Challenge {
                v.mfa = Some(MfaStep::Required);
            }
            v.action = v.action.max(demanded);
        }
    }

    /// The failure evidence of the event's sources (counting the event when
    /// it is a failed sign-in), and its address's ban record.
    fn weigh_sources(
        &mut self,
        e: &Event,
        keys: &crate::detect::Keys,
        now_ms: u64,
        v: &mut Verdict,
    ) {
        let Some(src) = &mut self.sources else {
            return;
        };
        let standing = src.standing(evidence::ban_key(e, keys), now_ms);
        if let Some(found) = src.weigh(e, keys, now_ms) {
            let detail = src.explain(&found);
            // The account's own failures are evidence against this sign-in;
            // an address's, network's or ASN's may be a crowd's.
            if found.kind == evidence::SourceKind::UserIp {
                let unlocks_at = self.novelty.map_or(0.0, |n| n.block_beside_failures);
                v.add_own_failures(found.kind.code(), found.score, detail, unlocks_at);
            } else {
                v.add(found.kind.code(), found.score, detail);
            }
            v.attack = true;
            // Failures that would block on their own ban the address, and
            // for an address banned before, failures that would step up: a
            // legitimate user's novelty must not get a shared address banned.
            let t = &self.model.spec.thresholds;
            let blames_at = if standing.is_some() { t.medium } else { t.high };
            v.source_blame |= found.score >= self.model.contributions_for(blames_at);
        }
        if let Some(standing) = standing {
            let code = match standing {
                Standing::Banned { .. } => "source_banned",
                Standing::Offender { .. } => "repeat_offender",
            };
            let score = src.standing_score(standing);
            v.add_evidence(code, score, src.explain_standing(standing, now_ms));
        }
    }

    /// Bans the event's address for its blocked failures (longer for each
    /// ban on its record), and issues the ban as an enforcement.
    #[cold]
    fn ban_source(&mut self, e: &Event, keys: &crate::detect::Keys, asn: Option<u32>, now_ms: u64) {
        let Some(src) = &mut self.sources else {
            return;
        };
        let Some((until_ms, _)) = src.ban(evidence::ban_key(e, keys), now_ms) else {
            return;
        };
        if self.mode != Mode::Enforce {
            return;
        }
        let scope = match netclass::canonical(e.ip) {
            std::net::IpAddr::V4(_) => Scope::Ip,
            std::net::IpAddr::V6(_) => Scope::Network,
        };
        let now = crate::event::Timestamp(now_ms);
        let until = Some(crate::event::Timestamp(until_ms));
        if let Some(x) = Enforcement::for_event(
            EnforcementAction::Block,
            scope,
            e,
            asn,
            until,
            "source_banned",
            now,
        ) {
            self.enforcements.issue(x, now_ms);
        }
    }

    /// The compromised-password check: the reason, and the action the
    /// event's kind is configured with. `true` when the password is in the
    /// corpus (at or above the prevalence threshold).
    fn check_breached(&mut self, e: &Event, now_ms: u64, v: &mut Verdict) -> bool {
        let Some((count, action)) = self.breached.check(e) else {
            return false;
        };
        let score = self.model.spec.signals.compromised_password.score;
        let mut detail = String::with_capacity(96);
        detail.push_str("password found in the breach corpus, seen ");
        if count > 1 {
            detail.push_str("at least ");
            detail.push_str(itoa::Buffer::new().format(count));
            detail.push_str(" times");
        } else {
            detail.push_str("at least once");
        }
        v.add_evidence("compromised_password", score, detail);
        match action {
            PwnedAction::Block => v.action = v.action.max(Action::Block),
            PwnedAction::RequirePasswordReset => {
                v.action = v.action.max(Action::Block);
                if self.mode == Mode::Enforce {
                    let reset = EnforcementAction::RequirePasswordReset;
                    let now = crate::event::Timestamp(now_ms);
                    if let Some(x) = Enforcement::for_event(
                        reset,
                        Scope::User,
                        e,
                        None,
                        None,
                        "compromised_password",
                        now,
                    ) {
                        self.enforcements.issue(x, now_ms);
                    }
                }
            }
            PwnedAction::Challenge => {
                v.action = v.action.max(Action::Challenge);
                v.mfa = Some(MfaStep::Required);
            }
            PwnedAction::Audit => v.audited = v.audited.max(Action::Block),
        }
        true
    }

    fn score_features(
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

    fn score_signals(&self, e: &Event, geo: &GeoInfo, profile: Option<&Profile>, v: &mut Verdict) {
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
        let seconds = ts.secs().saturating_sub(p.last.secs as u64);
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

    /// Moves event time to the event's (expiring what aged out once a day)
    /// and looks up what every path needs: its place, its browser and OS
    /// families, its keys.
    #[inline]
    fn arrive(&mut self, e: &Event) -> (u64, GeoInfo, Families, crate::detect::Keys) {
        let now_ms = e.timestamp.map_or(self.last_ms, |t| t.millis());
        self.last_ms = now_ms;
        self.clock.set_millis(now_ms);
        self.expire_profiles((now_ms / 86_400_000) as u32);
        let geo = self.geoip.lookup_cached(e.ip, &mut self.geo_cache);
        let families = self.families(e);
        let keys = self.hasher.keys(e, geo.asn);
        (now_ms, geo, families, keys)
    }

    /// Teaches the user's profile the event, and resets the user's buckets.
    /// Bit i of the result: detector i lifted a block or challenge.
    fn learn(
        &mut self,
        e: &Event,
        geo: &GeoInfo,
        fam: Families,
        keys: &crate::detect::Keys,
        now_ms: u64,
    ) -> u64 {
        let mut lifted = 0u64;
        for (i, d) in self.detectors.iter_mut().enumerate() {
            if d.on_success(keys, now_ms) && i < 64 {
                lifted |= 1 << i;
            }
        }
        self.learn_profile(e, geo, fam, keys, now_ms);
        lifted
    }

    /// The profile and global frequencies' part of learning a success.
    fn learn_profile(
        &mut self,
        e: &Event,
        geo: &GeoInfo,
        fam: Families,
        keys: &crate::detect::Keys,
        now_ms: u64,
    ) {
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
        p.last.secs = (now_ms / 1000).min(u32::MAX as u64) as u32;
        p.hours.learn(((now_ms / 3_600_000) % 24) as u32);
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
    fn expire_profiles(&mut self, day: u32) {
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
        }
        self.next_expiry_day = day + 1;
    }

    /// Distinct values counted per global-frequency feature.
    pub fn frequency_sizes(&self) -> [(&'static str, usize); 4] {
        let g = &self.globals;
        [
            ("countries", g.country.len()),
            ("ASNs", g.asn.len()),
            ("browsers", g.browser.len()),
            ("operating systems", g.os.len()),
        ]
    }

    pub fn state_stats(&self) -> StateStats {
        StateStats {
            profiles: self.profiles.len(),
            profile_bytes: self.profiles.heap_bytes(),
            rule_keys: self
                .detectors
                .iter()
                .map(|d| {
                    let (keys, bytes) = d.state_size();
                    (d.id.to_string(), keys, bytes)
                })
                .collect(),
            enforcements: self.enforcements.len(),
            enforcements_dropped: self.enforcements.dropped(),
            reported_blocks: self.reported.len(),
            fraud_marked_users: self.fraud.len(),
            fraud_mark_bytes: self.fraud.heap_bytes(),
            failure_sources: self.sources.as_ref().map_or((0, 0), |s| {
                let sizes = s.sizes();
                let tables = &sizes[..sizes.len() - 1];
                (
                    tables.iter().map(|t| t.1).sum(),
                    tables.iter().map(|t| t.2).sum(),
                )
            }),
            offenders: self.sources.as_ref().map_or((0, 0), |s| {
                let (_, n, b) = s.sizes()[evidence::SourceKind::ALL.len()];
                (n, b)
            }),
        }
    }

    /// Entries let go since this process started, by structure: `profiles`,
    /// `rule_keys`, `enforcements`, `fraud_marks`, `user_agent_cache` (the parse
    /// cache). Counters, not state: a restored engine starts them at 0.
    pub fn evictions(&self) -> Vec<(&'static str, Evictions)> {
        let mut rule_keys = Evictions::default();
        for d in &self.detectors {
            rule_keys += d.evictions();
        }
        let agents = Evictions {
            cap: self.agents.cache_stats().1,
            age: 0,
        };
        vec![
            ("profiles", self.profiles.evictions()),
            ("rule_keys", rule_keys),
            (
                "failure_sources",
                self.sources
                    .as_ref()
                    .map(SourceEvidence::evictions)
                    .unwrap_or_default(),
            ),
            ("enforcements", self.enforcements.evictions()),
            ("fraud_marks", self.fraud.evictions()),
            ("user_agent_cache", agents),
        ]
    }

    /// Each rule's overflows since the process started.
    pub fn rule_overflows(&self) -> impl Iterator<Item = (&std::sync::Arc<str>, u64)> {
        self.detectors.iter().map(|d| (&d.id, d.overflows()))
    }

    /// User agents whose parse is cached (a cache, not state: not saved).
    pub fn user_agents_cached(&self) -> usize {
        self.agents.cache_stats().0
    }
}
