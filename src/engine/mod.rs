//! The engine: one decision path for every door. `evaluate` enriches an event,
//! runs the detectors, scores the risk and assembles the decision; when the event
//! is an outcome it also folds it into state. The clock is the event's timestamp,
//! so the same events in the same order always give the same decisions.
//! Enforced blocks leave as [`Enforcement`] records; [`Engine::feedback`] takes
//! a verdict on an earlier event.

pub mod budget;
mod build;
pub mod enforce;
pub mod evidence;
mod explain;
mod feedback;
pub mod hashing;
mod learn;
pub mod pwned;
mod saved;
mod score;
mod stats;
pub mod travel;
mod verdict;

pub use crate::event::FeedbackVerdict;
pub use build::{EngineParts, StartupError};
pub use enforce::{Enforcement, EnforcementAction, Scope};
pub use feedback::{FeedbackEffect, FeedbackSettings};
pub use stats::StateStats;

use crate::config::Mode;
use crate::detect::{Detector, HitKind, OverflowAction};
use crate::enrich::geoip::{GeoCache, GeoInfo, GeoIp};
use crate::enrich::iplist::IpList;
use crate::enrich::netclass;
use crate::enrich::useragent::{Families, UserAgents};
use crate::event::{Action, Decision, Event, Mfa, MfaStep, Outcome, Reason};
use crate::model::{LevelAction, Model, NoveltySpec};
use crate::state::fraud::FraudMarks;
use crate::state::frequency::Frequencies;
use crate::state::limiter::EventClock;
use crate::state::profile::{Ageing, ProfileStore};
use enforce::{Enforcements, ReportedBlocks};
use evidence::{SourceEvidence, Standing};
use explain::Explain;
use hashing::Hasher;
use pwned::PwnedAction;
use score::owner_context;
use verdict::{round4, Verdict};

/// Global frequencies of the features the model compares against everyone.
struct Globals {
    country: Frequencies,
    asn: Frequencies,
    browser: Frequencies,
    os: Frequencies,
}

pub struct Engine {
    clock: EventClock,
    /// Set while [`Engine::probe`] runs: nothing evaluating the event does
    /// is kept.
    probing: bool,
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
    /// Keys the memory of recent event ids (see [`Engine::recent_ids`]).
    id_seeds: [u64; 4],
    /// The breach-corpus check (`[pwned]`).
    pwned: pwned::PwnedCheck,
    memory_budget: Option<u64>,
    /// Failure evidence per source and escalating bans (the model's
    /// `[evidence]`); `None` when the model has none.
    sources: Option<SourceEvidence>,
    /// The model's `[novelty]`: its cap and saturation.
    novelty: Option<NoveltySpec>,
    time_bounds: crate::event::bounds::TimeBounds,
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

impl Engine {
    pub fn new(p: EngineParts) -> Engine {
        let limits = p.limits;
        let sources = SourceEvidence::new(p.model.spec.evidence.as_ref(), &limits);
        let novelty = p.model.spec.novelty;
        Engine {
            clock: p.clock,
            probing: false,
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
            enforcements: Enforcements::keyed(
                limits.max_enforcements,
                p.hash_key.map(|k| k ^ 0x656e_666f_7263_6573),
            ),
            reported: ReportedBlocks::new(limits.max_enforcements),
            fraud: FraudMarks::new(limits.max_fraud_marked_users),
            on_fraud: p.feedback,
            key_fingerprint: saved::key_fingerprint(p.hash_key),
            // Not the user hasher's seeds as they are: ids are hashed apart.
            id_seeds: p.hash_key.map(|k| k ^ 0x7265_6365_6e74_5f69),
            pwned: p.pwned,
            memory_budget: limits.memory_budget_bytes(),
            sources,
            novelty,
            time_bounds: p.time_bounds,
        }
    }

    /// Sizes the large tables now, from `limits.presize_profiles` and
    /// `limits.presize_keys`: a hash table that doubles copies every entry
    /// at once, a pause in which nothing is decided (a few milliseconds at
    /// a million entries), so a deployment that knows its size makes the
    /// room at start. Called once the state is in place (after a checkpoint
    /// is restored, which sizes tables to what they hold). Zero: grown as
    /// needed.
    pub fn presize(&mut self, profiles: usize, keys: usize) {
        if profiles > 0 {
            self.profiles.presize(profiles);
        }
        if keys > 0 {
            for d in &mut self.detectors {
                d.presize(keys);
            }
            if let Some(s) = &mut self.sources {
                s.presize(keys);
            }
        }
    }

    /// A memory of `cap` recent event ids, its hashes keyed by this
    /// engine's secret hash key (so attackers' ids cannot be aimed at it).
    pub fn recent_ids(&self, cap: usize) -> crate::state::recent_ids::RecentIds {
        crate::state::recent_ids::RecentIds::keyed(cap, self.id_seeds)
    }

    /// The seeds [`recent_ids`](Self::recent_ids) keys its table with.
    pub fn id_seeds(&self) -> [u64; 4] {
        self.id_seeds
    }

    /// How far an event's time may stray (`[event_time]`), for the doors.
    pub fn time_bounds(&self) -> crate::event::bounds::TimeBounds {
        self.time_bounds
    }

    /// `limits.memory_budget` in bytes, if set (the caps were checked against
    /// it when the engine was built).
    pub fn memory_budget(&self) -> Option<u64> {
        self.memory_budget
    }

    /// The breach-corpus index the engine reads: `serve` swaps a new build
    /// in through it.
    pub fn pwned_index(&self) -> &pwned::SharedIndex {
        &self.pwned.index
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

    /// The engine's clock: the latest event time applied (ms), 0 before the
    /// first event.
    pub fn clock_ms(&self) -> u64 {
        self.last_ms
    }

    /// The browser and OS families of the event's user agent.
    fn families(&mut self, e: &Event) -> Families {
        e.user_agent
            .as_deref()
            .map(|ua| {
                if self.probing {
                    self.agents.families_seen(ua)
                } else {
                    self.agents.families(ua)
                }
            })
            .unwrap_or_default()
    }

    /// The decision on an attempt, changing no state: the clock, rule
    /// state, bans and enforcements stay as they were (the GeoIP and user
    /// agent caches may fill). A replica answers `/v1/decide` with it at
    /// once and sends the attempt to the cluster log, where every replica,
    /// this one too, applies it with [`Engine::evaluate`]: the decision is
    /// the same as evaluate's on the same state.
    ///
    /// An outcome is asked about as the attempt before it: counting it is
    /// what deciding it does.
    pub fn probe(&mut self, e: &Event) -> Decision {
        if e.is_outcome() {
            let attempt = Event {
                outcome: Outcome::Attempt,
                ..e.clone()
            };
            return self.probe(&attempt);
        }
        let (last_ms, next_expiry_day) = (self.last_ms, self.next_expiry_day);
        self.probing = true;
        let d = self.evaluate(e);
        self.probing = false;
        self.agents.forget_unseen();
        self.last_ms = last_ms;
        self.next_expiry_day = next_expiry_day;
        self.clock.set_millis(last_ms);
        d
    }

    /// Decides on one event and, when it is an outcome, learns from it.
    pub fn evaluate(&mut self, e: &Event) -> Decision {
        let (now_ms, geo, families, keys) = self.arrive(e);
        self.prefetch(&keys);
        let mut v = Verdict::default();
        let mut compromised = false;
        let mut present = None;

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
            compromised = self.check_pwned(e, now_ms, &mut v);
            present = self.weigh_sources(e, &keys, now_ms, &mut v);
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
            Action::Challenge => matches!(
                (mfa, e.mfa),
                (_, Some(Mfa::Passed)) | (Some(MfaStep::IfConfigured), None | Some(Mfa::None))
            ),
            Action::Block => false,
        };
        if e.outcome == Outcome::Success && !self.probing {
            // An allow-listed success was not weighed: its sources are
            // looked up here.
            let present = present.or_else(|| self.sources.as_ref().map(|s| s.present(&keys)));
            if passed {
                let quiet = match (&self.sources, present) {
                    (Some(src), Some(present)) => src.quiet(present),
                    _ => Default::default(),
                };
                self.learn(e, &geo, families, &keys, now_ms, quiet);
            }
            if let (Some(src), Some(present)) = (&mut self.sources, present) {
                src.succeeded(e, &keys, present, now_ms, passed);
            }
        }
        if would == Action::Block && v.source_blame && !self.probing {
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
            let Some(hit) = d.evaluate(e, keys, now_ms, self.probing) else {
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
                if self.mode == Mode::Enforce && !spares_owner && !self.probing {
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
    /// it is a failed sign-in), and its address's ban record. Returns which
    /// sources have a tally, `None` when the model weighs none.
    fn weigh_sources(
        &mut self,
        e: &Event,
        keys: &crate::detect::Keys,
        now_ms: u64,
        v: &mut Verdict,
    ) -> Option<evidence::Present> {
        let src = self.sources.as_mut()?;
        let standing = src.standing(evidence::ban_key(e, keys), now_ms);
        let (found, present) = src.weigh(e, keys, now_ms);
        if let Some(found) = found {
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
        Some(present)
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
    fn check_pwned(&mut self, e: &Event, now_ms: u64, v: &mut Verdict) -> bool {
        let Some((count, action)) = self.pwned.check(e) else {
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
                if self.mode == Mode::Enforce && !self.probing {
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

    /// Starts fetching the user's profile and the filter bits the event's
    /// lookups read first: they miss the cache for most events, and fetched
    /// together here they arrive while the rules run, not one after another.
    #[inline]
    fn prefetch(&self, keys: &crate::detect::Keys) {
        self.profiles.prefetch(keys.user);
        for d in &self.detectors {
            d.prefetch(keys);
        }
        if let Some(src) = &self.sources {
            src.prefetch(keys);
        }
    }

    /// Moves event time to the event's (expiring what aged out once a day)
    /// and looks up what every path needs: its place, its browser and OS
    /// families, its keys.
    fn arrive(&mut self, e: &Event) -> (u64, GeoInfo, Families, crate::detect::Keys) {
        // The clock only moves forward: a late event is applied at the
        // clock's time (the doors bound how late, and how far ahead).
        let now_ms = e
            .timestamp
            .map_or(self.last_ms, |t| t.millis().max(self.last_ms));
        self.last_ms = now_ms;
        self.clock.set_millis(now_ms);
        if !self.probing {
            self.expire_profiles((now_ms / 86_400_000) as u32);
        }
        // The user's index line is on its way while the address is looked up.
        let user = self.hasher.user(e.tenant.as_deref(), &e.user);
        self.profiles.prefetch_index(user);
        let geo = self.geoip.lookup_cached(e.ip, &mut self.geo_cache);
        let families = self.families(e);
        let keys = self.hasher.keys_with_user(e, user, geo.asn);
        (now_ms, geo, families, keys)
    }
}
