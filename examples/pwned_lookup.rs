//! Lookup latency on a built index, warm: hits (hashes regenerated from the
//! synthetic corpus's seed) and misses (random hashes) timed separately.
//!
//! `cargo run --release --example pwned_lookup -- INDEX [LOOKUPS] [SEED]`
//!
//! Three figures per kind: the mean over a batch of independent lookups (the
//! CPU may overlap their cache misses: a throughput figure); the mean over a
//! chain where each lookup's hash depends on the previous answer (no overlap:
//! the latency one caller sees); and percentiles of individually timed
//! lookups (each includes ~20–40 ns of clock reading).

#[path = "pwned/common.rs"]
mod common;

use palisade::enrich::pwned::PwnedIndex;
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: pwned_lookup INDEX [LOOKUPS] [SEED]");
    let n: usize = args
        .next()
        .map_or(10_000_000, |a| a.parse().expect("LOOKUPS is a number"));
    let seed: u64 = args
        .next()
        .map_or(1, |a| a.parse().expect("SEED is a number"));
    let index = PwnedIndex::open(Path::new(&path)).expect("the index opens");
    println!("{}", index.describe());

    // Warm: read every page once, as a server that has been up a while has.
    let t = Instant::now();
    let bytes = std::fs::read(&path).expect("the index reads");
    black_box(bytes.iter().step_by(4096).map(|&b| b as u64).sum::<u64>());
    drop(bytes);
    println!("warm-up read in {:.1} s", t.elapsed().as_secs_f64());

    let hits_wanted = n.min(index.len() as usize);
    let mut synth = common::Synth::new(seed);
    let hits: Vec<[u8; 20]> = (0..hits_wanted).map(|_| synth.next_line().0).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let misses: Vec<[u8; 20]> = (0..n).map(|_| rng.random()).collect();

    for (kind, hashes) in [("hit", &hits), ("miss", &misses)] {
        // Independent lookups.
        let t = Instant::now();
        let mut found = 0usize;
        for h in hashes.iter() {
            found += index.lookup(black_box(h)).is_some() as usize;
        }
        let batch = t.elapsed().as_nanos() as f64 / hashes.len() as f64;
        if kind == "hit" && found != hashes.len() {
            eprintln!(
                "warning: only {found} of {} hits found: is SEED the one the corpus was made with?",
                hashes.len()
            );
        }
        // A dependent chain: the next hash's index depends on this answer.
        let t = Instant::now();
        let mut i = 0usize;
        let mut chain_found = 0usize;
        for step in 0..hashes.len() {
            let r = index.lookup(&hashes[i]);
            chain_found += r.is_some() as usize;
            let salt = r.map_or(0, |c| c as usize & 1);
            i = (step + 1 + salt) % hashes.len();
        }
        let chain = t.elapsed().as_nanos() as f64 / hashes.len() as f64;
        // Individually timed, first million.
        let mut times: Vec<u32> = hashes
            .iter()
            .take(1_000_000)
            .map(|h| {
                let t = Instant::now();
                black_box(index.lookup(black_box(h)));
                t.elapsed().as_nanos() as u32
            })
            .collect();
        times.sort_unstable();
        let pct = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
        println!(
            "{kind}: {} lookups, {found} found ({chain_found} in the chain); mean {batch:.0} ns independent, {chain:.0} ns chained; timed one by one p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns",
            hashes.len(),
            pct(0.5),
            pct(0.99),
            pct(0.999),
            times[times.len() - 1]
        );
    }
}
