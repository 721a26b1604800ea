//! `cargo fuzz run event_decode`: see [`palisade_fuzz::event_decode`] for the input and the oracle.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| palisade_fuzz::event_decode(data));
