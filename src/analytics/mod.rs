//! Offline analytics over event files: today the labelled traffic generator
//! ([`simulate`]) that feeds replays, benchmarks and evaluation.

pub mod simulate;
