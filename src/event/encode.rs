//! A decision as one line of JSON, written directly: the replay's output path.
//! It writes exactly what serde's derived `Serialize` writes (a test holds the
//! two together), but copies strings that need no escaping in one go, where
//! serde_json checks them byte by byte; that check was a tenth of a replay.

use super::{Action, Decision, MfaStep, RiskLevel};

impl Decision {
    /// Appends the decision's JSON (no newline) to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"event_id\":");
        string(out, &self.event_id);
        out.extend_from_slice(b",\"action\":\"");
        out.extend_from_slice(self.action.as_str().as_bytes());
        out.extend_from_slice(b"\",\"risk_level\":\"");
        out.extend_from_slice(level(self.risk_level));
        out.extend_from_slice(b"\",\"risk_score\":");
        number(out, self.risk_score);
        out.extend_from_slice(b",\"reasons\":[");
        for (i, r) in self.reasons.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"code\":");
            string(out, &r.code);
            out.extend_from_slice(b",\"score\":");
            number(out, r.score);
            out.extend_from_slice(b",\"detail\":");
            string(out, &r.detail);
            out.push(b'}');
        }
        out.extend_from_slice(b"],\"compromised_password\":");
        out.extend_from_slice(if self.compromised_password {
            b"true"
        } else {
            b"false"
        });
        out.extend_from_slice(b",\"enforced\":");
        out.extend_from_slice(if self.enforced { b"true" } else { b"false" });
        if let Some(a) = self.audit_action {
            out.extend_from_slice(b",\"audit_action\":\"");
            out.extend_from_slice(action(a));
            out.push(b'"');
        }
        if let Some(m) = self.mfa {
            out.extend_from_slice(b",\"mfa\":\"");
            out.extend_from_slice(match m {
                MfaStep::IfConfigured => b"if_configured",
                MfaStep::Required => b"required",
            });
            out.push(b'"');
        }
        out.extend_from_slice(b",\"rules_version\":");
        string(out, &self.rules_version);
        out.extend_from_slice(b",\"model_version\":");
        string(out, &self.model_version);
        out.push(b'}');
    }
}

fn action(a: Action) -> &'static [u8] {
    a.as_str().as_bytes()
}

fn level(l: RiskLevel) -> &'static [u8] {
    l.as_str().as_bytes()
}

fn string(out: &mut Vec<u8>, s: &str) {
    if super::scan::special(s.as_bytes()).is_none() {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

fn number(out: &mut Vec<u8>, x: f64) {
    let _ = serde_json::to_writer(&mut *out, &x);
}

#[cfg(test)]
mod tests {
    use super::super::{Reason, ReasonCode};
    use super::*;
    use std::sync::Arc;

    fn decision(event_id: &str, detail: &str) -> Decision {
        Decision {
            event_id: event_id.to_string(),
            action: Action::Challenge,
            risk_level: RiskLevel::Medium,
            risk_score: 0.4567,
            reasons: vec![
                Reason {
                    code: ReasonCode::Signal("new_device"),
                    score: 1.25,
                    detail: detail.to_string(),
                },
                Reason {
                    code: ReasonCode::Rule(Arc::from("brute_force")),
                    score: 3.0,
                    detail: "x".into(),
                },
            ],
            compromised_password: false,
            enforced: false,
            audit_action: Some(Action::Block),
            mfa: Some(MfaStep::IfConfigured),
            rules_version: Arc::from("rules-0123"),
            model_version: Arc::from("risk-v1"),
        }
    }

    #[test]
    fn writes_what_serde_writes() {
        for (id, detail) in [
            ("e1", "plain"),
            ("quote\"d", "back\\slash"),
            ("ctl\u{1}", "tab\tnew\nline"),
            ("ünï", "☃"),
        ] {
            let d = decision(id, detail);
            let mut mine = Vec::new();
            d.write_json(&mut mine);
            assert_eq!(
                String::from_utf8(mine).unwrap(),
                serde_json::to_string(&d).unwrap()
            );
        }
        let mut bare = decision("e2", "d");
        bare.reasons.clear();
        bare.audit_action = None;
        bare.mfa = None;
        bare.risk_score = 0.0;
        let mut mine = Vec::new();
        bare.write_json(&mut mine);
        assert_eq!(
            String::from_utf8(mine).unwrap(),
            serde_json::to_string(&bare).unwrap()
        );
    }
}
