//! `cargo fuzz run pwned_index`: see [`palisade_fuzz::pwned_index`] for the input and the oracle.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| palisade_fuzz::pwned_index(data));
