//! Every failed sign-in is evidence against its source (the model's
//! `[evidence]`). Per source (one user from one address, the address, its
//! network, its ASN) and window, the failures it made and the successes it
//! was let through give a likelihood ratio: how much likelier that many
//! failures are from an attacker than from a legitimate source, whose
//! expected failures grow with the people it signs in (a shared address's
//! crowd mistypes too). Failures of every reason count, a missing reason
//! included, and unknown users too.
//!
//! An address whose failures were blocked is banned, for longer each time it
//! comes back, and a past ban keeps scoring after it ends, fading over days.
//! The rate at which legitimate sign-ins fail is learnt from traffic: the
//! failures of one user from one address that end in that user's success.

use super::explain::{push_duration, push_fixed};
use crate::config::Limits;
use crate::detect::Keys;
use crate::enrich::netclass;
use crate::event::{Event, Kind, Outcome, Timestamp};
use crate::model::{BanSpec, EvidenceSpec, EvidenceTimes, SourceSpec};
use crate::state::sources::{Offenders, SourceTable, Tally, RING, WINDOWS};
use crate::state::Evictions;
use serde::{Deserialize, Serialize};

/// What a source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    UserIp,
    Ip,
    Network,
    Asn,
}

impl SourceKind {
    pub const ALL: [SourceKind; 4] = [
        SourceKind::UserIp,
        SourceKind::Ip,
        SourceKind::Network,
        SourceKind::Asn,
    ];

    /// The reason code its evidence is given under.
    pub fn code(self) -> &'static str {
        match self {
            SourceKind::UserIp => "failures_user_ip",
            SourceKind::Ip => "failures_ip",
            SourceKind::Network => "failures_network",
            SourceKind::Asn => "failures_asn",
        }
    }

    /// The name of its table, for metrics and state sizes.
    pub fn table_name(self) -> &'static str {
        match self {
            SourceKind::UserIp => "sources_user_ip",
            SourceKind::Ip => "sources_ip",
            SourceKind::Network => "sources_network",
            SourceKind::Asn => "sources_asn",
        }
    }

    fn what(self) -> &'static str {
        match self {
            SourceKind::UserIp => "this user from this address",
            SourceKind::Ip => "this address",
            SourceKind::Network => "this network",
            SourceKind::Asn => "this ASN",
        }
    }

    fn key(self, k: &Keys) -> Option<u64> {
        match self {
            SourceKind::UserIp => Some(k.user_ip),
            SourceKind::Ip => Some(k.ip),
            SourceKind::Network => Some(k.network),
            SourceKind::Asn => k.asn,
        }
    }
}

/// The key an address is banned under: the address, or for IPv6 its /64
/// (an attacker holding a /64 has as many addresses as it wants).
pub fn ban_key(e: &Event, k: &Keys) -> u64 {
    match netclass::canonical(e.ip) {
        std::net::IpAddr::V4(_) => k.ip,
        std::net::IpAddr::V6(_) => k.network,
    }
}

/// The strongest evidence an event's sources gave.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Found {
    pub kind: SourceKind,
    pub window: usize,
    /// Failures in the window, this event included when it is one.
    pub failures: u32,
    /// The failures besides this event: what the ratio weighs.
    pub others: u32,
    pub successes: f32,
    /// A legitimate source's expected failures there.
    pub expected: f64,
    pub likelihood_ratio: f64,
    pub score: f64,
}

/// Which of an event's sources have a tally, by [`SourceKind`]: read once
/// per event, since nothing between weighing a success and crediting it
/// changes the tables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Present([bool; 4]);

/// An address's ban record, as an event from it meets it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Standing {
    /// Serving a ban until then (seconds); the decayed count of bans.
    Banned { until: u32, level: f32 },
    /// Banned before; the decayed count of bans.
    Offender { level: f32 },
}

/// Failures that ended in a success, and the successes, decayed over a week:
/// the legitimate failure rate per success.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct TypoRate {
    failures: f64,
    successes: f64,
    secs: u32,
}

const TYPO_RATE_MEAN_LIFE_SECS: f64 = 7.0 * 86_400.0;
/// At most this many failures before a success count as one user's typos,
/// and only those within the hour before it.
const TYPOS_PER_SUCCESS: u32 = 5;
const TYPO_WINDOW_SECS: u32 = 3600;

impl TypoRate {
    fn decay(&mut self, now: u32) {
        let age = now.saturating_sub(self.secs) as f64;
        if age > 0.0 {
            let f = (-age / TYPO_RATE_MEAN_LIFE_SECS).exp();
            self.failures *= f;
            self.successes *= f;
            self.secs = now;
        }
    }

    fn rate(&self, prior: f64, prior_weight: f64) -> f64 {
        ((self.failures + prior * prior_weight) / (self.successes + prior_weight).max(1e-9))
            .clamp(0.01, 1.0)
    }
}

/// The sources' tallies and the offenders, with the model's parameters.
pub struct SourceEvidence {
    spec: EvidenceSpec,
    sources: [Option<SourceSpec>; 4],
    times: EvidenceTimes,
    /// By [`SourceKind`], in the order of [`SourceKind::ALL`].
    tables: [SourceTable; 4],
    offenders: Offenders,
    typos: TypoRate,
    /// `ln((1 + m) / m)`: the attacker's side of every ratio.
    attacker_log: f64,
    /// Per source and window, the log-ratio of one failure from a source
    /// with no successes (the usual case: no logarithm per event).
    per_failure: [[f64; WINDOWS]; 4],
}

impl SourceEvidence {
    /// Sizes each source table and the offenders' table for `n` keys (at
    /// most each cap) now.
    pub fn presize(&mut self, n: usize) {
        for t in &mut self.tables {
            t.presize(n);
        }
        self.offenders.presize(n);
    }

    /// `None` when the model has no `[evidence]` (or its times do not parse,
    /// which the model's check reports).
    pub fn new(spec: Option<&EvidenceSpec>, limits: &Limits) -> Option<SourceEvidence> {
        let spec = spec?;
        let times = spec.times().ok()?;
        let sources = spec.sources().map(|(_, s)| s);
        let m = spec.attacker_failures;
        let attacker_log = ((1.0 + m) / m).ln();
        let per_failure = sources.map(|s| {
            let expected = s.map_or([1.0; WINDOWS], |s| s.expected);
            expected.map(|e| ((1.0 + e) / e).ln() - attacker_log)
        });
        Some(SourceEvidence {
            spec: spec.clone(),
            sources,
            times,
            tables: std::array::from_fn(|_| SourceTable::tallies(limits.max_source_keys)),
            offenders: Offenders::records(limits.max_offenders),
            typos: TypoRate::default(),
            attacker_log,
            per_failure,
        })
    }

    fn bans(&self) -> Option<&BanSpec> {
        self.spec.bans.as_ref()
    }

    /// The failure rate per success legitimate traffic shows, as learnt.
    pub fn typo_rate(&self) -> f64 {
        self.typos
            .rate(self.spec.typo_rate, self.spec.typo_rate_weight)
    }

    /// The tallies of the event's sources, by [`SourceKind`]. A failure
    /// makes a tally for each of its sources at once, and a wider source's
    /// lives as long as the narrower ones' (it sees every failure they see),
    /// so a network without a tally has none for its addresses or their
    /// users, and an address without one none for its users: most events
    /// need one or two lookups, not four. (At the cap, where each table
    /// drops its own idlest tenth, a narrower tally may outlive a wider one;
    /// it is then not read until the wider source fails again.) An event
    /// whose network has no tally weighs no ASN evidence either: an ASN is
    /// too wide to hold against a network that has not failed.
    fn tallied(&self, keys: &Keys) -> [Option<&Tally>; 4] {
        tallied(&self.tables, &self.sources, keys)
    }

    /// Starts fetching what [`SourceEvidence::weigh`] reads first of the
    /// event's sources, so that those fetches overlap the rules' work.
    pub fn prefetch(&self, keys: &Keys) {
        for (i, kind) in SourceKind::ALL.into_iter().enumerate() {
            if let (Some(_), Some(key)) = (self.sources[i], kind.key(keys)) {
                self.tables[i].prefetch(key);
            }
        }
    }

    /// Which of the event's sources have a tally now.
    pub fn present(&self, keys: &Keys) -> Present {
        Present(self.tallied(keys).map(|t| t.is_some()))
    }

    /// How long the event's address and network are known to have made no
    /// failed sign-in (ms): the longest window for a source with no tally (a
    /// tally lives that long after its source's last failure), otherwise 0.
    /// The rules use it to skip what a success cannot change.
    pub fn quiet(&self, present: Present) -> crate::detect::Quiet {
        let horizon = u64::from(self.times.windows[WINDOWS - 1]) * 1000;
        let quiet = |kind: SourceKind| {
            if self.sources[kind as usize].is_some() && !present.0[kind as usize] {
                horizon
            } else {
                0
            }
        };
        crate::detect::Quiet {
            address_ms: quiet(SourceKind::Ip),
            network_ms: quiet(SourceKind::Network),
        }
    }

    /// Counts the event if it is a failed sign-in, then weighs what its
    /// sources have done: the strongest source's evidence, if any, and
    /// which sources have a tally after it (for [`SourceEvidence::quiet`]
    /// and [`SourceEvidence::succeeded`], so a success looks its sources up
    /// once).
    pub fn weigh(&mut self, e: &Event, keys: &Keys, now_ms: u64) -> (Option<Found>, Present) {
        let now = secs(now_ms);
        let failed = e.kind == Kind::SignIn && e.outcome == Outcome::Failure;
        let succeeded = e.outcome == Outcome::Success;
        let typo_rate = self.typo_rate();
        let windows = self.times.windows;
        // A late event's failure ages from its own time: in the windows it
        // falls in, it is this event's.
        let at = e.timestamp.map_or(now, |t| secs(t.millis()).min(now));
        let this: [u32; WINDOWS] =
            std::array::from_fn(|w| u32::from(failed && now - at < windows[w]));
        // A failure counts in each of its sources' tallies, read in place
        // after (a tally is too large to copy per source).
        let tallies = if failed {
            let mut out = [None; 4];
            let tables = self.tables.iter_mut();
            for ((i, kind), (slot, table)) in SourceKind::ALL
                .into_iter()
                .enumerate()
                .zip(out.iter_mut().zip(tables))
            {
                if let (Some(_), Some(key)) = (self.sources[i], kind.key(keys)) {
                    *slot = Some(table.fail_at(key, at, now, windows[WINDOWS - 1]));
                }
            }
            out
        } else {
            tallied(&self.tables, &self.sources, keys)
        };
        let present = Present(tallies.map(|t| t.is_some()));
        let mut best: Option<Found> = None;
        // The user's own failures from the address, per window. For a
        // success they were typos (the password was right): the user's
        // source weighs them, and the address, network and ASN weigh only
        // everyone else's, so one person retyping behind a shared address
        // is not held against them twice.
        let mut own = [0u32; WINDOWS];
        for (i, kind) in SourceKind::ALL.into_iter().enumerate() {
            let (Some(spec), Some(tally)) = (self.sources[i], tallies[i]) else {
                continue;
            };
            let failures = tally.failures(now, &windows);
            if kind == SourceKind::UserIp {
                own = failures;
            }
            // The failures besides this event: a failure is evidence against
            // the next sign-in from its source, not against itself (the
            // first failure is no evidence at all).
            let others: [u32; WINDOWS] = std::array::from_fn(|w| match kind {
                SourceKind::UserIp => failures[w] - this[w],
                _ if succeeded => failures[w].saturating_sub(own[w]),
                _ => failures[w] - this[w],
            });
            if others.iter().zip(&spec.free).all(|(o, f)| o <= f) {
                continue;
            }
            let successes = tally.successes(now, &windows);
            for w in 0..WINDOWS {
                let weighed = others[w].saturating_sub(spec.free[w]);
                if weighed == 0 {
                    continue;
                }
                let (expected, per_failure) = if successes[w] < 1e-3 {
                    (spec.expected[w], self.per_failure[i][w])
                } else {
                    let expected = spec.expected[w] + typo_rate * successes[w] as f64;
                    (
                        expected,
                        ((1.0 + expected) / expected).ln() - self.attacker_log,
                    )
                };
                let log_lr = weighed as f64 * per_failure;
                let score = (spec.weight * log_lr).min(spec.max);
                if score < spec.min || score <= 0.0 || best.is_some_and(|b| b.score >= score) {
                    continue;
                }
                best = Some(Found {
                    kind,
                    window: w,
                    failures: failures[w],
                    others: others[w],
                    successes: successes[w],
                    expected,
                    // Its logarithm until the strongest is known.
                    likelihood_ratio: log_lr,
                    score,
                });
            }
        }
        let found = best.map(|b| Found {
            likelihood_ratio: b.likelihood_ratio.exp(),
            ..b
        });
        (found, present)
    }

    /// The address's ban record, if it has one worth a score.
    pub fn standing(&self, ban_key: u64, now_ms: u64) -> Option<Standing> {
        let bans = self.bans()?;
        let o = self.offenders.get(ban_key)?;
        let now = secs(now_ms);
        let level = o.level(now, self.times.ban_half_life);
        if o.banned(now) {
            return Some(Standing::Banned {
                until: o.banned_until,
                level,
            });
        }
        (bans.score_per_ban * level as f64 >= 0.25).then_some(Standing::Offender { level })
    }

    /// The score of a standing.
    pub fn standing_score(&self, s: Standing) -> f64 {
        let Some(b) = self.bans() else { return 0.0 };
        match s {
            Standing::Banned { .. } => b.score,
            Standing::Offender { level } => (b.score_per_ban * level as f64).min(b.max_score),
        }
    }

    /// A successful sign-in: the right password, so the user's failures from
    /// this address in the hour before were typos. They are forgotten, by
    /// the user's source and by the address's, network's and ASN's (a
    /// shared address's crowd retyping passwords is no attack), whatever the
    /// engine decided: whoever typed the password knew it. When the engine
    /// let the success through (`let_through`), the typos teach the
    /// legitimate failure rate and the address, network and ASN are
    /// credited with a success. `present` is what [`SourceEvidence::weigh`]
    /// found for the event (a source without a tally has no typos to forget
    /// and no failures to credit the success against).
    pub fn succeeded(
        &mut self,
        e: &Event,
        keys: &Keys,
        present: Present,
        now_ms: u64,
        let_through: bool,
    ) {
        if e.kind != Kind::SignIn {
            return;
        }
        let now = secs(now_ms);
        let tallied = present.0;
        let mut typos = [0; RING];
        let n = if tallied[SourceKind::UserIp as usize] {
            self.tables[0].clear_failures(keys.user_ip, now, TYPO_WINDOW_SECS, &mut typos)
        } else {
            0
        };
        if let_through {
            self.typos.decay(now);
            self.typos.failures += (n as u32).min(TYPOS_PER_SUCCESS) as f64;
            self.typos.successes += 1.0;
        }
        let windows = self.times.windows;
        let credit = let_through.then_some((now, &windows));
        for (i, kind) in SourceKind::ALL.into_iter().enumerate().skip(1) {
            if let (true, Some(key)) = (tallied[i], kind.key(keys)) {
                self.tables[i].resolve(key, &typos[..n], credit);
            }
        }
    }

    /// Bans the address unless it is serving a ban: `first` times `factor`
    /// to the power of its decayed count of bans before, at most `max`.
    /// Returns when the ban ends (ms) and the count, this ban included.
    pub fn ban(&mut self, ban_key: u64, now_ms: u64) -> Option<(u64, f32)> {
        let b = self.spec.bans.clone()?;
        let now = secs(now_ms);
        if self.offenders.get(ban_key).is_some_and(|o| o.banned(now)) {
            return None;
        }
        let t = self.times;
        let (level, until) = self.offenders.ban(ban_key, now, t.ban_half_life, |before| {
            let grown = t.ban_first as f64 * b.factor.powf(before as f64);
            grown.min(t.ban_max as f64) as u32
        });
        Some((until as u64 * 1000, level))
    }

    /// Failures of one user from one address within `window` seconds.
    pub fn recent_failures(&self, user_ip: u64, now_ms: u64, window: u32) -> u32 {
        self.tables[0]
            .get(user_ip)
            .map_or(0, |t| t.failures_within(secs(now_ms), window))
    }

    /// Sources idle past the longest window, and offenders faded away, go.
    pub fn expire(&mut self, now_ms: u64) {
        let now = secs(now_ms);
        for t in &mut self.tables {
            t.forget_idle(now, self.times.windows[WINDOWS - 1]);
        }
        self.offenders.forget_faded(now, self.times.ban_half_life);
    }

    /// (table name, entries, bytes) per table, the offenders last.
    pub fn sizes(&self) -> Vec<(&'static str, usize, usize)> {
        let mut out: Vec<_> = SourceKind::ALL
            .iter()
            .zip(&self.tables)
            .map(|(k, t)| (k.table_name(), t.len(), t.heap_bytes()))
            .collect();
        out.push((
            "offenders",
            self.offenders.len(),
            self.offenders.heap_bytes(),
        ));
        out
    }

    pub fn evictions(&self) -> Evictions {
        let mut e = self.offenders.evictions();
        for t in &self.tables {
            e += t.evictions();
        }
        e
    }

    /// The state a checkpoint keeps.
    pub(crate) fn parts(&self) -> (&[SourceTable; 4], &Offenders, TypoRate) {
        (&self.tables, &self.offenders, self.typos)
    }

    pub(crate) fn restore(
        &mut self,
        tables: [SourceTable; 4],
        offenders: Offenders,
        typos: TypoRate,
    ) {
        for (mine, saved) in self.tables.iter_mut().zip(tables) {
            mine.restore_from(saved);
        }
        self.offenders.restore_from(offenders);
        self.typos = typos;
    }

    /// A failure reason's words: how many, over which window, against what a
    /// legitimate source would make.
    pub fn explain(&self, f: &Found) -> String {
        let mut out = String::with_capacity(200);
        let mut n = itoa::Buffer::new();
        out.push_str(n.format(f.failures));
        out.push_str(if f.failures == 1 {
            " failed sign-in from "
        } else {
            " failed sign-ins from "
        });
        out.push_str(f.kind.what());
        out.push_str(" in the last ");
        out.push_str(&self.spec.windows[f.window]);
        if f.failures as usize >= crate::state::sources::RING {
            out.push_str(" (or more)");
        }
        out.push_str(", with ");
        push_fixed(&mut out, f.successes as f64, 1);
        out.push_str(" successful; a legitimate source makes ");
        push_fixed(&mut out, f.expected, 2);
        out.push_str(" on average there (typo rate ");
        push_fixed(&mut out, self.typo_rate(), 3);
        out.push_str(" per success): likelihood ratio ");
        push_fixed(&mut out, f.likelihood_ratio.min(1e15), 1);
        out
    }

    /// A ban's words.
    pub fn explain_standing(&self, s: Standing, now_ms: u64) -> String {
        let mut out = String::with_capacity(200);
        let half_life = self.bans().map_or("", |b| b.half_life.as_str());
        match s {
            Standing::Banned { until, level } => {
                out.push_str("address banned until ");
                Timestamp(until as u64 * 1000).write_rfc3339(&mut out);
                out.push_str(" (");
                push_duration(&mut out, (until as u64).saturating_sub(now_ms / 1000));
                out.push_str(" left) for failed sign-ins that were blocked; bans so far: ");
                push_fixed(&mut out, level as f64, 1);
                out.push_str(" (fading with a half-life of ");
                out.push_str(half_life);
                out.push_str("), each ban longer than the one before");
            }
            Standing::Offender { level } => {
                out.push_str("address banned before for failed sign-ins that were blocked: ");
                push_fixed(&mut out, level as f64, 1);
                out.push_str(" bans (fading with a half-life of ");
                out.push_str(half_life);
                out.push(')');
            }
        }
        out
    }
}

/// [`SourceEvidence::tallied`], over the fields it reads, so that it can be
/// read beside the others.
fn tallied<'a>(
    tables: &'a [SourceTable; 4],
    sources: &[Option<SourceSpec>; 4],
    keys: &Keys,
) -> [Option<&'a Tally>; 4] {
    let mut out = [None; 4];
    let kinds = [SourceKind::Network, SourceKind::Ip, SourceKind::UserIp];
    for kind in kinds {
        let i = kind as usize;
        if sources[i].is_none() {
            continue;
        }
        let Some(key) = kind.key(keys) else { continue };
        out[i] = tables[i].get(key);
        if out[i].is_none() {
            return out;
        }
    }
    let asn = SourceKind::Asn as usize;
    if sources[asn].is_some() {
        out[asn] = keys.asn.and_then(|k| tables[asn].get(k));
    }
    out
}

fn secs(ms: u64) -> u32 {
    (ms / 1000).min(u32::MAX as u64) as u32
}

#[cfg(test)]
mod tests;
