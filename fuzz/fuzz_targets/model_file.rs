//! `cargo fuzz run model_file`: see [`palisade_fuzz::model_file`] for the input and the oracle.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| palisade_fuzz::model_file(data));
