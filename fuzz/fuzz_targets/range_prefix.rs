//! `cargo fuzz run range_prefix`: see [`palisade_fuzz::range_prefix`] for the input and the oracle.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| palisade_fuzz::range_prefix(data));
