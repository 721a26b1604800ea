//! Sampling helpers over the run's one seeded generator. rand 0.9 without
//! rand_distr has no Poisson or normal distribution; these few are enough.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// The run's generator: one stream, drawn in a fixed order, so a seed names an
/// output byte for byte.
pub(super) type SimRng = ChaCha8Rng;

pub(super) fn chance(rng: &mut SimRng, p: f64) -> bool {
    rng.random::<f64>() < p
}

pub(super) fn uniform(rng: &mut SimRng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.random::<f64>()
}

/// Scale-free sizes (attempts per IP, per campaign): as many between 20 and 40
/// as between 100 and 200.
pub(super) fn log_uniform(rng: &mut SimRng, lo: f64, hi: f64) -> f64 {
    uniform(rng, lo.ln(), hi.ln()).exp()
}

/// A standard normal draw (Box–Muller).
pub(super) fn normal(rng: &mut SimRng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>(); // in (0, 1], so the log is finite
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Poisson draw: Knuth's product method for the small means sign-in rates have,
/// the normal approximation above 30.
pub(super) fn poisson(rng: &mut SimRng, lambda: f64) -> u32 {
    if lambda <= 0.0 {
        return 0;
    }
    if lambda > 30.0 {
        return (lambda + lambda.sqrt() * normal(rng)).round().max(0.0) as u32;
    }
    let limit = (-lambda).exp();
    let mut p = 1.0;
    let mut k = 0;
    loop {
        p *= rng.random::<f64>();
        if p <= limit {
            return k;
        }
        k += 1;
    }
}

/// An index drawn with the given weights; at least one weight must be nonzero.
pub(super) fn pick_weighted(rng: &mut SimRng, weights: impl Iterator<Item = u32> + Clone) -> usize {
    let total: u32 = weights.clone().sum();
    let mut x = rng.random_range(0..total);
    let mut last = 0;
    for (i, w) in weights.enumerate() {
        if x < w {
            return i;
        }
        x -= w;
        last = i;
    }
    last
}

/// How many campaigns of one kind start today: one per `users_per_campaign`
/// users, the fraction rounded at random. With `at_least_one`, populations of
/// 1000 users and more get at least one every day, so every kind shows up in
/// any run of that size.
pub(super) fn campaign_count(
    rng: &mut SimRng,
    users: u32,
    users_per_campaign: f64,
    at_least_one: bool,
) -> u32 {
    let x = f64::from(users) / users_per_campaign;
    let n = x.floor() as u32 + u32::from(chance(rng, x.fract()));
    if at_least_one && users >= 1000 {
        n.max(1)
    } else {
        n
    }
}

/// splitmix64's finalizer: a stable hash for choices that must not depend on
/// the run's stream (which of a country's networks count as mobile, say).
pub(super) fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn poisson_and_normal_have_the_right_moments() {
        let mut rng = SimRng::seed_from_u64(7);
        let n = 20_000;
        for lambda in [0.3, 2.0, 12.0, 50.0] {
            let mean = (0..n)
                .map(|_| poisson(&mut rng, lambda) as f64)
                .sum::<f64>()
                / n as f64;
            assert!(
                (mean - lambda).abs() < 0.05 * lambda + 0.02,
                "λ={lambda} mean={mean}"
            );
        }
        let xs: Vec<f64> = (0..n).map(|_| normal(&mut rng)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }

    #[test]
    fn weighted_picks_follow_weights_and_skip_zeros() {
        let mut rng = SimRng::seed_from_u64(1);
        let w = [0u32, 3, 1, 0];
        let mut seen = [0u32; 4];
        for _ in 0..4000 {
            seen[pick_weighted(&mut rng, w.iter().copied())] += 1;
        }
        assert_eq!((seen[0], seen[3]), (0, 0));
        assert!(seen[1] > 2 * seen[2], "{seen:?}");
    }

    #[test]
    fn campaign_counts_scale_and_floor_at_one() {
        let mut rng = SimRng::seed_from_u64(3);
        assert_eq!(campaign_count(&mut rng, 1000, 100_000.0, true), 1);
        assert_eq!(campaign_count(&mut rng, 1_000_000, 100_000.0, true), 10);
        let tiny: u32 = (0..100)
            .map(|_| campaign_count(&mut rng, 10, 100_000.0, true))
            .sum();
        assert!(tiny <= 2);
    }
}
