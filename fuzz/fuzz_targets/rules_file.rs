//! `cargo fuzz run rules_file`: see [`palisade_fuzz::rules_file`] for the input and the oracle.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| palisade_fuzz::rules_file(data));
