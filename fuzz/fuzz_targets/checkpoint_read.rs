//! `cargo fuzz run checkpoint_read`: see [`palisade_fuzz::checkpoint_read`] for the input and the oracle.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| palisade_fuzz::checkpoint_read(data));
