//! `cargo fuzz run journal_read`: see [`palisade_fuzz::journal_read`] for the input and the oracle.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| palisade_fuzz::journal_read(data));
