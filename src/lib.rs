//! Palisade: sign-in threat protection.
//!
//! The pipeline, in the order an event meets it: [`event`] decodes it, [`enrich`]
//! adds what the address and user agent say, [`state`] holds what earlier events
//! taught, [`detect`] runs the rules, [`model`] scores the risk, and [`engine`]
//! ties them into one [`Decision`](event::Decision). The doors ([`ingest`]) only
//! decode and encode, and reach the engine through [`node`], which keeps what
//! they share; [`service`] starts the doors of `serve` on one node;
//! [`analytics`] makes and studies traffic. Every command ends in a
//! [`failure::Failure`] or success, which the binary maps to its exit code.

pub mod analytics;
pub mod check;
pub mod config;
pub mod detect;
pub mod engine;
pub mod enrich;
pub mod event;
pub mod failure;
pub mod ingest;
pub mod metrics;
pub mod model;
pub mod node;
pub mod problem;
pub mod serve;
pub mod service;
pub mod state;
