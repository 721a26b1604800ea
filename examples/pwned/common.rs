//! The synthetic corpus both benchmark programs agree on: line `i` of seed `s`
//! is the `i`th draw of a ChaCha8 stream, so `pwned_lookup` can regenerate
//! hashes that are in an index built from `pwned_synth`'s output.

use rand::{Rng, SeedableRng};

pub struct Synth(rand_chacha::ChaCha8Rng);

impl Synth {
    pub fn new(seed: u64) -> Synth {
        Synth(rand_chacha::ChaCha8Rng::seed_from_u64(seed))
    }

    /// The next hash and its count: counts heavy-tailed like HIBP's (Pareto,
    /// median 2, a few in the millions).
    pub fn next_line(&mut self) -> ([u8; 20], u32) {
        let h: [u8; 20] = self.0.random();
        let u: f64 = self.0.random_range(f64::EPSILON..1.0);
        let count = u.powf(-1.5).min(u32::MAX as f64) as u32;
        (h, count.max(1))
    }
}
