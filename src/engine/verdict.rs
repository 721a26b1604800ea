//! What the detectors and signals concluded about one event, before the risk
//! level: the reasons with their scores, the strictest action demanded, and
//! which reasons are evidence against the sign-in and which only step up.
//!
//! Challenge before block: novelty (a new device, network, country, browser,
//! OS, an unusual hour), impossible travel and a rule's challenge (a sprayed
//! password, an account failing from many addresses) are reasons to ask for
//! MFA. Beside evidence against the sign-in itself (a ban, an anonymizer, a
//! breached password, the deny-list, reported fraud, or the account's own
//! failures past a level) they add up freely; without it they are scaled
//! down so that the risk stays below the level that blocks.

use crate::event::{Action, MfaStep, Reason, ReasonCode};

/// Step-up reasons followed, at most (an event gives a handful).
const MAX_STEP_UPS: usize = 12;

#[derive(Default)]
pub(super) struct Verdict {
    pub reasons: Vec<Reason>,
    pub contributions: f64,
    /// Strictest action demanded by enforced rules and lists.
    pub action: Action,
    /// Strictest action audited rules would have demanded.
    pub audited: Action,
    pub mfa: Option<MfaStep>,
    /// Evidence of an attack (failures, a ban) was given: a step-up must be
    /// MFA required, not "if configured".
    pub attack: bool,
    /// A source's failures, or a rule blocking a source, took part: a block
    /// bans the address.
    pub source_blame: bool,
    /// Indexes into `reasons` of the step-up reasons, whether each is
    /// novelty, and the sums of both.
    step_ups: [(u8, bool); MAX_STEP_UPS],
    step_up_count: usize,
    step_up: f64,
    novelty: f64,
    /// Evidence against the sign-in itself was given: step-ups add freely.
    unlocked: bool,
}

pub(super) fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

impl Verdict {
    pub fn add(&mut self, code: impl Into<ReasonCode>, score: f64, detail: String) {
        self.contributions += score;
        self.reasons.push(Reason {
            code: code.into(),
            score: round4(score),
            detail,
        });
    }

    /// Evidence of an attack on this sign-in itself: step-ups may block
    /// beside it.
    pub fn add_evidence(&mut self, code: &'static str, score: f64, detail: String) {
        self.unlocked = true;
        self.attack = true;
        self.add(code, score, detail);
    }

    /// The account's own failures from the address: evidence against the
    /// sign-in once they reach `unlocks_at` (a user retyping a password a
    /// few times before getting it right is no reason to block a new phone).
    pub fn add_own_failures(
        &mut self,
        code: &'static str,
        score: f64,
        detail: String,
        unlocks_at: f64,
    ) {
        self.unlocked |= score >= unlocks_at;
        self.attack = true;
        self.add(code, score, detail);
    }

    /// A reason that says the sign-in is new to the user (a value, an hour).
    pub fn add_novel(&mut self, code: &'static str, score: f64, detail: String) {
        self.novelty += score;
        self.add_step_up(code.into(), score, detail, true);
    }

    /// A reason that asks for MFA but says nothing against the user (a
    /// rule's challenge).
    pub fn add_step_up(&mut self, code: ReasonCode, score: f64, detail: String, novel: bool) {
        if self.step_up_count < MAX_STEP_UPS {
            self.step_ups[self.step_up_count] = (self.reasons.len() as u8, novel);
            self.step_up_count += 1;
            self.step_up += score;
        }
        self.add(code, score, detail);
    }

    /// Caps novelty at `novelty_max` and, unless evidence against the
    /// sign-in was given, every step-up so that the contributions stay below
    /// `block_at` (the sum at which the risk is high). Reasons are scaled
    /// down in proportion, and say so.
    pub fn cap_step_ups(&mut self, novelty_max: f64, block_at: f64) {
        if self.novelty > novelty_max && self.novelty > 0.0 {
            let scale = novelty_max / self.novelty;
            self.scale(scale, true);
            self.novelty = novelty_max;
        }
        let rest = self.contributions - self.step_up;
        // Beside evidence, or beside what blocks on its own, step-ups change
        // no action: they add freely.
        if self.unlocked || self.step_up <= 0.0 || rest >= block_at {
            return;
        }
        let allowed = block_at - rest - 0.01;
        if self.step_up > allowed {
            self.scale(allowed / self.step_up, false);
        }
    }

    /// Scales the step-ups (only novelty's when `novelty_only`) by `scale`.
    fn scale(&mut self, scale: f64, novelty_only: bool) {
        let mut removed = 0.0;
        for &(i, novel) in &self.step_ups[..self.step_up_count] {
            if novelty_only && !novel {
                continue;
            }
            let r = &mut self.reasons[i as usize];
            let scaled = r.score * scale;
            removed += r.score - scaled;
            r.score = round4(scaled);
            if !r.detail.ends_with(SCALED) {
                r.detail.push_str(SCALED);
            }
        }
        self.step_up -= removed;
        self.contributions -= removed;
    }
}

const SCALED: &str = "; scaled down: it steps up, it does not block alone";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_ups_stay_below_blocking_without_evidence_and_add_freely_with_it() {
        let mut v = Verdict::default();
        v.add_novel("new_device", 2.0, "d".into());
        v.add_novel("new_os", 3.0, "o".into());
        v.add_step_up("password_spray".into(), 2.0, "p".into(), false);
        v.add("failures_network", 3.0, "n".into());
        v.cap_step_ups(4.0, 5.4);
        // Novelty 5 is capped at 4, then every step-up is scaled so that the
        // sum stays under 5.4 beside the network's 3.
        assert!((v.contributions - 5.39).abs() < 1e-9, "{}", v.contributions);
        assert!(v.reasons[0].detail.ends_with(SCALED));
        assert_eq!(v.reasons[3].score, 3.0, "other reasons are not scaled");
        let sum: f64 = v.reasons.iter().map(|r| r.score).sum();
        assert!((sum - v.contributions).abs() < 1e-3, "the reasons add up");

        let mut v = Verdict::default();
        v.add_novel("new_device", 2.0, "d".into());
        v.add_novel("new_os", 3.0, "o".into());
        v.add_own_failures("failures_user_ip", 3.0, "f".into(), 4.0);
        v.cap_step_ups(4.0, 5.4);
        assert!(
            (v.contributions - 5.39).abs() < 1e-9,
            "3 own failures unlock nothing"
        );
        let mut v = Verdict::default();
        v.add_novel("new_device", 5.0, "d".into());
        v.add_own_failures("failures_user_ip", 4.4, "f".into(), 4.0);
        v.cap_step_ups(4.0, 5.4);
        assert!(
            (v.contributions - 8.4).abs() < 1e-9,
            "6 own failures unlock"
        );
        let mut v = Verdict::default();
        v.add_novel("new_device", 3.0, "d".into());
        v.add_evidence("anonymous_ip", 2.5, "a".into());
        v.cap_step_ups(4.0, 5.4);
        assert!(
            (v.contributions - 5.5).abs() < 1e-9,
            "an anonymizer unlocks"
        );
    }
}
