//! Enrichment: what an event's address says beyond the address itself, before
//! state and detectors see it. [`netclass`] decides from the address alone
//! (private, reserved, public…); [`geoip`] asks MaxMind databases about public
//! addresses.

pub mod geoip;
pub mod netclass;
