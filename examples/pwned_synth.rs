//! Writes a synthetic breach corpus for the index benchmarks: N random
//! `HASH:COUNT` lines (40 uppercase hex, unsorted), from a seeded RNG.
//!
//! `cargo run --release --example pwned_synth -- 100000000 1 > /tmp/pwned-bench/synth-100m.txt`

#[path = "pwned/common.rs"]
mod common;

use std::io::Write;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .expect("usage: pwned_synth COUNT [SEED]");
    let seed: u64 = args
        .next()
        .map_or(1, |a| a.parse().expect("SEED is a number"));
    let mut synth = common::Synth::new(seed);
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut num = itoa::Buffer::new();
    let mut line = Vec::with_capacity(64);
    for _ in 0..n {
        let (h, count) = synth.next_line();
        line.clear();
        for b in h {
            line.push(HEX[(b >> 4) as usize]);
            line.push(HEX[(b & 15) as usize]);
        }
        line.push(b':');
        line.extend_from_slice(num.format(count).as_bytes());
        line.push(b'\n');
        out.write_all(&line).expect("stdout is writable");
    }
    out.flush().expect("stdout is writable");
}
