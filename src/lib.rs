//! Palisade: sign-in threat protection.
//!
//! The pipeline, in the order an event meets it: [`event`] decodes it, [`enrich`]
//! adds what the address and user agent say, [`state`] holds what earlier events
//! taught, [`detect`] runs the rules, [`model`] scores the risk, and [`engine`]
//! ties them into one [`Decision`](event::Decision). The doors ([`ingest`]) only
//! decode and encode.

pub mod enrich;
pub mod event;
