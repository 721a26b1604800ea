//! The model's trainable parameters and how a decision's reasons show them:
//! every model reason's score is one parameter times what the sign-in showed
//! (a feature's clipped log-likelihood ratio, or a signal's presence), so a
//! decision made with known parameters gives back the row a fit needs.

use super::{FeatureSpec, ModelSpec};
use crate::event::Reason;

/// One parameter a fit can set (the bias aside, which is the intercept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parameter {
    Feature(Feature),
    Signal(Signal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    Device,
    Country,
    Asn,
    Network,
    Browser,
    Os,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    ImpossibleTravel,
    AnonymousIp,
    HostingIp,
    IpDenylisted,
    UnusualHour,
    ReportedFraud,
    CompromisedPassword,
}

/// Every trainable parameter, in the order of a row's columns.
pub const PARAMETERS: [Parameter; 13] = [
    Parameter::Feature(Feature::Device),
    Parameter::Feature(Feature::Country),
    Parameter::Feature(Feature::Asn),
    Parameter::Feature(Feature::Network),
    Parameter::Feature(Feature::Browser),
    Parameter::Feature(Feature::Os),
    Parameter::Signal(Signal::ImpossibleTravel),
    Parameter::Signal(Signal::AnonymousIp),
    Parameter::Signal(Signal::HostingIp),
    Parameter::Signal(Signal::IpDenylisted),
    Parameter::Signal(Signal::UnusualHour),
    Parameter::Signal(Signal::ReportedFraud),
    Parameter::Signal(Signal::CompromisedPassword),
];

impl Feature {
    /// The section in the model file: `[features.NAME]`.
    pub fn name(self) -> &'static str {
        match self {
            Feature::Device => "device",
            Feature::Country => "country",
            Feature::Asn => "asn",
            Feature::Network => "network",
            Feature::Browser => "browser",
            Feature::Os => "os",
        }
    }

    pub fn spec(self, m: &ModelSpec) -> Option<FeatureSpec> {
        let f = &m.features;
        match self {
            Feature::Device => f.device,
            Feature::Country => f.country,
            Feature::Asn => f.asn,
            Feature::Network => f.network,
            Feature::Browser => f.browser,
            Feature::Os => f.os,
        }
    }

    pub fn spec_mut(self, m: &mut ModelSpec) -> Option<&mut FeatureSpec> {
        let f = &mut m.features;
        match self {
            Feature::Device => f.device.as_mut(),
            Feature::Country => f.country.as_mut(),
            Feature::Asn => f.asn.as_mut(),
            Feature::Network => f.network.as_mut(),
            Feature::Browser => f.browser.as_mut(),
            Feature::Os => f.os.as_mut(),
        }
    }
}

impl Signal {
    /// The section in the model file: `[signals.NAME]`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::ImpossibleTravel => "impossible_travel",
            Signal::AnonymousIp => "anonymous_ip",
            Signal::HostingIp => "hosting_ip",
            Signal::IpDenylisted => "ip_denylisted",
            Signal::UnusualHour => "unusual_hour",
            Signal::ReportedFraud => "reported_fraud",
            Signal::CompromisedPassword => "compromised_password",
        }
    }

    fn score(self, m: &ModelSpec) -> f64 {
        let s = &m.signals;
        match self {
            Signal::ImpossibleTravel => s.impossible_travel.score,
            Signal::AnonymousIp => s.anonymous_ip.score,
            Signal::HostingIp => s.hosting_ip.score,
            Signal::IpDenylisted => s.ip_denylisted.score,
            Signal::UnusualHour => s.unusual_hour.score,
            Signal::ReportedFraud => s.reported_fraud.score,
            Signal::CompromisedPassword => s.compromised_password.score,
        }
    }

    fn score_mut(self, m: &mut ModelSpec) -> &mut f64 {
        let s = &mut m.signals;
        match self {
            Signal::ImpossibleTravel => &mut s.impossible_travel.score,
            Signal::AnonymousIp => &mut s.anonymous_ip.score,
            Signal::HostingIp => &mut s.hosting_ip.score,
            Signal::IpDenylisted => &mut s.ip_denylisted.score,
            Signal::UnusualHour => &mut s.unusual_hour.score,
            Signal::ReportedFraud => &mut s.reported_fraud.score,
            Signal::CompromisedPassword => &mut s.compromised_password.score,
        }
    }
}

impl Parameter {
    /// As written in the model file: `features.device.weight`.
    pub fn key(self) -> String {
        match self {
            Parameter::Feature(f) => format!("features.{}.weight", f.name()),
            Parameter::Signal(s) => format!("signals.{}.score", s.name()),
        }
    }

    /// The reason codes the engine gives this parameter's contributions.
    pub fn codes(self) -> &'static [&'static str] {
        match self {
            Parameter::Feature(f) => match f {
                Feature::Device => &["new_device"],
                Feature::Country => &["new_country"],
                Feature::Asn => &["new_asn"],
                Feature::Network => &["new_network"],
                Feature::Browser => &["new_browser"],
                Feature::Os => &["new_os"],
            },
            // A block from fraud feedback scores as the signal does.
            Parameter::Signal(Signal::ReportedFraud) => &["reported_fraud", "reported_fraud_block"],
            Parameter::Signal(s) => match s {
                Signal::ImpossibleTravel => &["impossible_travel"],
                Signal::AnonymousIp => &["anonymous_ip"],
                Signal::HostingIp => &["hosting_ip"],
                Signal::IpDenylisted => &["ip_denylisted"],
                Signal::UnusualHour => &["unusual_hour"],
                Signal::CompromisedPassword => &["compromised_password"],
                Signal::ReportedFraud => unreachable!("matched above"),
            },
        }
    }

    /// The parameter's value in `m`; `None` for a feature the model leaves out.
    pub fn value(self, m: &ModelSpec) -> Option<f64> {
        match self {
            Parameter::Feature(f) => f.spec(m).map(|s| s.weight),
            Parameter::Signal(s) => Some(s.score(m)),
        }
    }

    /// Whether a fit can learn it from decisions made with `m`: a feature
    /// left out, or weighted 0, never shows its ratio in a reason.
    pub fn learnable(self, m: &ModelSpec) -> bool {
        match self {
            Parameter::Feature(f) => f.spec(m).is_some_and(|s| s.weight > 0.0),
            Parameter::Signal(_) => true,
        }
    }

    /// Sets the parameter in `m`. A feature's `max` and `min` scale with its
    /// weight, so they keep clipping and cutting the same log-likelihood
    /// ratios: the rows the weight was fitted on were clipped there.
    pub fn set(self, m: &mut ModelSpec, value: f64) {
        match self {
            Parameter::Feature(f) => {
                let Some(s) = f.spec_mut(m) else { return };
                if s.weight > 0.0 {
                    let scale = value / s.weight;
                    s.max *= scale;
                    s.min *= scale;
                }
                s.weight = value;
            }
            Parameter::Signal(sig) => *sig.score_mut(m) = value,
        }
    }
}

/// A decision's reasons as a row: per [`PARAMETERS`], the feature's clipped
/// log-likelihood ratio (its score over its weight; 0 when it gave no reason)
/// or the signal's count; and the offset, the sum of every other reason's
/// score (the rules'), which adds to the same log-odds but is not the model's.
pub fn row(m: &ModelSpec, reasons: &[Reason]) -> ([f64; PARAMETERS.len()], f64) {
    let mut x = [0.0; PARAMETERS.len()];
    let mut offset = 0.0;
    'reasons: for r in reasons {
        for (j, p) in PARAMETERS.iter().enumerate() {
            if p.codes().contains(&&*r.code) {
                match p {
                    Parameter::Feature(f) => {
                        if let Some(s) = f.spec(m).filter(|s| s.weight > 0.0) {
                            x[j] += r.score / s.weight;
                        }
                    }
                    Parameter::Signal(_) => x[j] += 1.0,
                }
                continue 'reasons;
            }
        }
        offset += r.score;
    }
    (x, offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::load_model;

    fn reason(code: &'static str, score: f64) -> Reason {
        Reason {
            code: code.into(),
            score,
            detail: String::new(),
        }
    }

    #[test]
    fn reasons_become_ratios_counts_and_an_offset() {
        let m = load_model(None, None).unwrap().spec;
        let (x, offset) = row(
            &m,
            &[
                reason("new_device", 1.6),
                reason("impossible_travel", 5.0),
                reason("brute_force", 3.0),
                reason("reported_fraud", 4.0),
                reason("reported_fraud_block", 4.0),
            ],
        );
        // device weight 0.8: a ratio of e^2.
        assert!((x[0] - 2.0).abs() < 1e-12);
        assert_eq!(x[6], 1.0);
        assert_eq!(x[11], 2.0);
        assert_eq!(offset, 3.0);
        assert_eq!(x.iter().filter(|v| **v != 0.0).count(), 3);
    }

    #[test]
    fn every_code_belongs_to_one_parameter_and_setting_a_weight_keeps_the_clip() {
        let mut seen = std::collections::HashSet::new();
        for p in PARAMETERS {
            for c in p.codes() {
                assert!(seen.insert(*c), "{c} twice");
            }
        }
        let mut m = load_model(None, None).unwrap().spec;
        let device = Parameter::Feature(Feature::Device);
        let before = m.features.device.unwrap();
        device.set(&mut m, 1.6);
        let after = m.features.device.unwrap();
        assert_eq!(device.value(&m), Some(1.6));
        // Clipped at the same ratio: max / weight unchanged.
        assert!((after.max / after.weight - before.max / before.weight).abs() < 1e-12);
        assert!((after.min / after.weight - before.min / before.weight).abs() < 1e-12);
        let hour = Parameter::Signal(Signal::UnusualHour);
        hour.set(&mut m, 0.5);
        assert_eq!(m.signals.unusual_hour.score, 0.5);
        assert_eq!(hour.key(), "signals.unusual_hour.score");
    }
}
