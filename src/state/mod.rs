//! What earlier events taught: per-user profiles, keyed leaky buckets, and the
//! global frequencies the risk model compares a user against. Every structure
//! here is bounded (a cap and an age) and sized in bytes for the metrics.

pub mod frequency;
pub mod limiter;
pub mod profile;
