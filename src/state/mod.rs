//! What earlier events taught: per-user profiles, keyed leaky buckets, the
//! global frequencies the risk model compares a user against, fraud marks from
//! feedback, and the recent events of each user. Every structure here is
//! bounded (a cap and an age) and sized in bytes for the metrics.

pub mod checkpoint;
pub mod fraud;
pub mod frequency;
pub mod history;
pub mod journal;
pub mod limiter;
pub mod profile;
pub mod recent_ids;
