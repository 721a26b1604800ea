//! Fitting the model's parameters to labelled sign-ins (`palisade train`): a
//! logistic regression by Newton's method (IRLS), and the score thresholds
//! that give a wanted rate among legitimate sign-ins.
//!
//! The model is already a logistic regression over its reasons (`risk_score =
//! logistic(bias + Σ weight·x)`), so fitting it is one: at most a few dozen
//! coefficients over many rows, where Newton's method converges in a handful
//! of steps and the normal equations are solved directly. Written out here
//! rather than taken from a crate: it is ~150 lines, and it needs three things
//! general crates do not combine: a fixed per-row offset (rule scores that
//! add to the same log-odds but are not the model's), an L2 penalty centred
//! on the current parameters rather than on zero (a signal the history never
//! shows keeps its value instead of being pulled to 0), and coefficients
//! bounded at zero (a weight below 0 would make a new device a reason to trust).

use thiserror::Error;

/// Newton steps before giving up: IRLS on a well-posed problem converges in
/// under 15; more means separation that the penalty does not tame.
pub const MAX_NEWTON_STEPS: usize = 100;
/// Converged when no coefficient moves more than this in one step.
pub const COEFFICIENT_TOLERANCE: f64 = 1e-7;
/// Halvings of a Newton step that lowers the penalised likelihood before
/// the fit is declared stuck.
pub const MAX_STEP_HALVINGS: usize = 30;

/// Rows of the regression: `x` row-major, one row per sign-in.
#[derive(Debug, Clone, Default)]
pub struct Design {
    /// Coefficients per row, the intercept not among them.
    pub columns: usize,
    pub x: Vec<f64>,
    /// Log-odds every row carries regardless of the coefficients.
    pub offset: Vec<f64>,
    pub attack: Vec<bool>,
}

impl Design {
    pub fn new(columns: usize) -> Design {
        Design {
            columns,
            ..Design::default()
        }
    }

    pub fn push(&mut self, x: &[f64], offset: f64, attack: bool) {
        assert_eq!(x.len(), self.columns, "a row has one value per column");
        self.x.extend_from_slice(x);
        self.offset.push(offset);
        self.attack.push(attack);
    }

    pub fn rows(&self) -> usize {
        self.attack.len()
    }

    fn row(&self, i: usize) -> &[f64] {
        &self.x[i * self.columns..(i + 1) * self.columns]
    }
}

/// How to fit: where each coefficient starts and is pulled to, and its bounds.
#[derive(Debug, Clone)]
pub struct FitOptions {
    /// Intercept's start.
    pub intercept: f64,
    /// Per column: the value the L2 penalty pulls towards (and the start).
    pub prior: Vec<f64>,
    /// Per column: whether the coefficient must stay >= 0.
    pub nonnegative: Vec<bool>,
    /// Penalty strength: `l2 / 2 · Σ (β - prior)²` is subtracted from the
    /// log-likelihood summed over rows (so it weighs like `l2` rows). The
    /// intercept is not penalised.
    pub l2: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub intercept: f64,
    pub coefficients: Vec<f64>,
    /// Columns held at 0 because their unbounded fit went below it.
    pub clamped: Vec<usize>,
    /// Newton steps, over every refit.
    pub steps: usize,
    /// Log-likelihood of the rows (without the penalty) at the fit.
    pub log_likelihood: f64,
}

#[derive(Debug, Error, PartialEq)]
pub enum FitError {
    #[error("the fit did not converge within {MAX_NEWTON_STEPS} Newton steps (largest last change {0:.3e}); raise --l2")]
    NoConvergence(f64),
    #[error("the fit is stuck: {MAX_STEP_HALVINGS} step halvings found no better coefficients")]
    Stuck,
    #[error("the equations are singular: a column is constant or duplicates another; raise --l2")]
    Singular,
    #[error("{0}")]
    Options(String),
}

fn logistic(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// ln(1 + e^z) without overflow.
fn softplus(z: f64) -> f64 {
    if z > 30.0 {
        z
    } else {
        z.exp().ln_1p()
    }
}

/// Fits the coefficients; a coefficient bound at zero whose fit goes below it
/// is fixed at 0 and the rest refitted, until none does (an active set: the
/// others adjust to its absence, which clamping after the fact would not do).
pub fn fit(d: &Design, o: &FitOptions) -> Result<Fit, FitError> {
    let p = d.columns;
    if o.prior.len() != p || o.nonnegative.len() != p {
        return Err(FitError::Options(format!(
            "{p} columns but {} priors and {} bounds",
            o.prior.len(),
            o.nonnegative.len()
        )));
    }
    if !(o.l2.is_finite() && o.l2 >= 0.0) {
        return Err(FitError::Options(format!("l2 must be >= 0, got {}", o.l2)));
    }
    let mut fixed = vec![false; p];
    let mut steps = 0;
    loop {
        let start: Vec<f64> = (0..p)
            .map(|j| if fixed[j] { 0.0 } else { o.prior[j].max(0.0) })
            .collect();
        let (b0, beta, n) = newton(d, o, &fixed, o.intercept, start)?;
        steps += n;
        let below: Vec<usize> = (0..p)
            .filter(|&j| !fixed[j] && o.nonnegative[j] && beta[j] < 0.0)
            .collect();
        if below.is_empty() {
            let clamped = (0..p).filter(|&j| fixed[j]).collect();
            return Ok(Fit {
                intercept: b0,
                log_likelihood: log_likelihood(d, b0, &beta),
                coefficients: beta,
                clamped,
                steps,
            });
        }
        for j in below {
            fixed[j] = true;
        }
    }
}

/// Σ log p(label | row) at the coefficients.
pub fn log_likelihood(d: &Design, intercept: f64, beta: &[f64]) -> f64 {
    (0..d.rows())
        .map(|i| {
            let z = intercept + d.offset[i] + dot(d.row(i), beta);
            // ln σ(z) = -softplus(-z); ln(1 - σ(z)) = -softplus(z).
            if d.attack[i] {
                -softplus(-z)
            } else {
                -softplus(z)
            }
        })
        .sum()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn objective(d: &Design, o: &FitOptions, b0: f64, beta: &[f64]) -> f64 {
    let penalty: f64 = beta
        .iter()
        .zip(&o.prior)
        .map(|(b, m)| (b - m) * (b - m))
        .sum();
    log_likelihood(d, b0, beta) - o.l2 / 2.0 * penalty
}

/// Newton's method on the penalised log-likelihood, the `fixed` columns held
/// at 0 (their prior pull ignored). Returns (intercept, coefficients, steps).
fn newton(
    d: &Design,
    o: &FitOptions,
    fixed: &[bool],
    mut b0: f64,
    mut beta: Vec<f64>,
) -> Result<(f64, Vec<f64>, usize), FitError> {
    // Unknowns: the intercept, then the free columns.
    let free: Vec<usize> = (0..d.columns).filter(|&j| !fixed[j]).collect();
    let k = free.len() + 1;
    let mut current = objective(d, o, b0, &beta);
    for step in 1..=MAX_NEWTON_STEPS {
        // Gradient g and negative Hessian h of the penalised log-likelihood.
        let mut g = vec![0.0; k];
        let mut h = vec![0.0; k * k];
        let mut xi = vec![0.0; k];
        for i in 0..d.rows() {
            let row = d.row(i);
            let z = b0 + d.offset[i] + dot(row, &beta);
            let mu = logistic(z);
            let w = mu * (1.0 - mu);
            let r = if d.attack[i] { 1.0 } else { 0.0 } - mu;
            xi[0] = 1.0;
            for (a, &j) in free.iter().enumerate() {
                xi[a + 1] = row[j];
            }
            for a in 0..k {
                if xi[a] == 0.0 {
                    continue;
                }
                g[a] += xi[a] * r;
                let wa = w * xi[a];
                // Upper triangle only; mirrored below.
                for b in a..k {
                    h[a * k + b] += wa * xi[b];
                }
            }
        }
        for a in 0..k {
            for b in 0..a {
                h[a * k + b] = h[b * k + a];
            }
        }
        for (a, &j) in free.iter().enumerate() {
            g[a + 1] -= o.l2 * (beta[j] - o.prior[j]);
            h[(a + 1) * k + a + 1] += o.l2;
        }
        let delta = solve(h, g, k).ok_or(FitError::Singular)?;
        // Step halving: Newton's full step can overshoot far from the optimum.
        let mut scale = 1.0;
        let mut halvings = 0;
        let (next_b0, next_beta, next) = loop {
            let nb0 = b0 + scale * delta[0];
            let mut nb = beta.clone();
            for (a, &j) in free.iter().enumerate() {
                nb[j] += scale * delta[a + 1];
            }
            let value = objective(d, o, nb0, &nb);
            if value >= current - 1e-12 * current.abs().max(1.0) {
                break (nb0, nb, value);
            }
            halvings += 1;
            if halvings > MAX_STEP_HALVINGS {
                return Err(FitError::Stuck);
            }
            scale /= 2.0;
        };
        let moved = delta.iter().map(|v| (v * scale).abs()).fold(0.0, f64::max);
        (b0, beta, current) = (next_b0, next_beta, next);
        if moved < COEFFICIENT_TOLERANCE {
            return Ok((b0, beta, step));
        }
        if step == MAX_NEWTON_STEPS {
            return Err(FitError::NoConvergence(moved));
        }
    }
    unreachable!("the loop returns on its last step")
}

/// Solves `a · x = b` for a symmetric positive-definite `a` (k×k, row-major)
/// by Cholesky; `None` when `a` is not positive definite.
fn solve(mut a: Vec<f64>, mut b: Vec<f64>, k: usize) -> Option<Vec<f64>> {
    for j in 0..k {
        let mut s = a[j * k + j];
        for m in 0..j {
            s -= a[j * k + m] * a[j * k + m];
        }
        // Relative to the diagonal: an all-zero column leaves s at rounding noise.
        if s <= 1e-12 * a[j * k + j].abs().max(1e-300) || !s.is_finite() {
            return None;
        }
        let l = s.sqrt();
        a[j * k + j] = l;
        for i in j + 1..k {
            let mut s = a[i * k + j];
            for m in 0..j {
                s -= a[i * k + m] * a[j * k + m];
            }
            a[i * k + j] = s / l;
        }
    }
    for i in 0..k {
        let mut s = b[i];
        for m in 0..i {
            s -= a[i * k + m] * b[m];
        }
        b[i] = s / a[i * k + i];
    }
    for i in (0..k).rev() {
        let mut s = b[i];
        for m in i + 1..k {
            s -= a[m * k + i] * b[m];
        }
        b[i] = s / a[i * k + i];
    }
    Some(b)
}

/// The lowest threshold `t` such that at most `rate` of `scores` are `>= t`
/// (the engine's rule for a level): the point where the flagged share of
/// legitimate sign-ins is the wanted friction. Placed halfway to the next
/// higher score, so a held-out score near the boundary is not decided by
/// rounding. Above every score (at most 1) when `rate · len < 1`.
pub fn threshold_for_rate(scores: &[f64], rate: f64) -> f64 {
    let mut s: Vec<f64> = scores.iter().copied().filter(|v| v.is_finite()).collect();
    if s.is_empty() {
        return 1.0;
    }
    s.sort_by(|a, b| b.total_cmp(a));
    let allowed = ((rate * s.len() as f64).floor() as usize).min(s.len() - 1);
    // s[allowed] must not be flagged, nor anything tied with it; the threshold
    // goes above it, below the lowest score that may be flagged.
    let bar = s[allowed];
    match s[..allowed].iter().rev().find(|&&v| v > bar) {
        Some(&above) => bar + (above - bar) / 2.0,
        None => bar + (1.0 - bar) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Rows drawn from a known logistic model: sparse non-negative features
    /// like the model's (a ratio or an indicator, mostly 0), and an offset.
    fn synthetic(n: usize, intercept: f64, beta: &[f64], seed: u64) -> Design {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut d = Design::new(beta.len());
        let mut x = vec![0.0; beta.len()];
        for _ in 0..n {
            for (j, v) in x.iter_mut().enumerate() {
                *v = if rng.random::<f64>() < 0.3 {
                    if j % 2 == 0 {
                        rng.random::<f64>() * 3.0
                    } else {
                        1.0
                    }
                } else {
                    0.0
                };
            }
            let offset = if rng.random::<f64>() < 0.05 { 2.0 } else { 0.0 };
            let z = intercept + offset + dot(&x, beta);
            d.push(&x, offset, rng.random::<f64>() < logistic(z));
        }
        d
    }

    fn options(p: usize, l2: f64) -> FitOptions {
        FitOptions {
            intercept: 0.0,
            prior: vec![0.0; p],
            nonnegative: vec![true; p],
            l2,
        }
    }

    #[test]
    fn irls_recovers_the_coefficients_of_a_known_logistic_model() {
        let truth = [1.2, 2.0, 0.4, 0.0, 0.8];
        let d = synthetic(200_000, -3.0, &truth, 7);
        let f = fit(&d, &options(truth.len(), 0.0)).unwrap();
        assert!((f.intercept + 3.0).abs() < 0.05, "{f:?}");
        for (got, want) in f.coefficients.iter().zip(truth) {
            assert!((got - want).abs() < 0.06, "{got} vs {want}: {f:?}");
        }
        assert!(f.steps < 20, "{f:?}");
    }

    #[test]
    fn a_coefficient_that_would_go_negative_is_held_at_zero_and_the_rest_refit() {
        let truth = [1.0, -1.5, 0.5];
        let d = synthetic(100_000, -2.0, &truth, 3);
        let f = fit(&d, &options(3, 0.0)).unwrap();
        assert_eq!(f.clamped, vec![1]);
        assert_eq!(f.coefficients[1], 0.0);
        let mut free = options(3, 0.0);
        free.nonnegative = vec![false; 3];
        let g = fit(&d, &free).unwrap();
        assert!((g.coefficients[1] + 1.5).abs() < 0.1, "{g:?}");
        assert!(g.log_likelihood > f.log_likelihood);
    }

    #[test]
    fn the_penalty_pulls_towards_the_prior_and_keeps_unseen_columns_there() {
        // Column 1 is never non-zero: the data say nothing about it.
        let mut d = synthetic(20_000, -2.0, &[1.0, 0.0], 5);
        for i in 0..d.rows() {
            d.x[i * 2 + 1] = 0.0;
        }
        let mut o = options(2, 10.0);
        o.prior = vec![0.0, 4.0];
        let f = fit(&d, &o).unwrap();
        assert!((f.coefficients[1] - 4.0).abs() < 1e-9, "{f:?}");
        assert!((f.coefficients[0] - 1.0).abs() < 0.15, "{f:?}");
        // Without a penalty the empty column leaves the equations singular.
        assert_eq!(fit(&d, &options(2, 0.0)), Err(FitError::Singular));
    }

    #[test]
    fn perfect_separation_converges_under_a_penalty() {
        let mut d = Design::new(1);
        for i in 0..1000 {
            let attack = i % 10 == 0;
            d.push(&[if attack { 1.0 } else { 0.0 }], 0.0, attack);
        }
        let f = fit(&d, &options(1, 1.0)).unwrap();
        assert!(f.coefficients[0] > 3.0, "{f:?}");
        assert!(f.coefficients[0].is_finite());
    }

    #[test]
    fn the_threshold_gives_the_requested_share_of_scores_at_or_above_it() {
        let scores: Vec<f64> = (0..1000).map(|i| i as f64 / 1000.0).collect();
        // 1% of 1000: the ten highest, 0.990..=0.999, may be flagged; 0.989 not.
        let t = threshold_for_rate(&scores, 0.01);
        assert!((t - 0.9895).abs() < 1e-12, "{t}");
        assert_eq!(scores.iter().filter(|&&s| s >= t).count(), 10);
        let t = threshold_for_rate(&scores, 0.001);
        assert_eq!(scores.iter().filter(|&&s| s >= t).count(), 1);
        // Ties at the boundary are all below it: fewer flagged, never more.
        let mut tied = vec![0.1; 95];
        tied.extend([0.5; 3]);
        tied.extend([0.9; 2]);
        let t = threshold_for_rate(&tied, 0.04);
        assert_eq!(t, 0.7);
        assert_eq!(tied.iter().filter(|&&s| s >= t).count(), 2);
        // Fewer scores than one in `rate`: above them all.
        let t = threshold_for_rate(&[0.2, 0.4], 0.01);
        assert!(t > 0.4 && t <= 1.0, "{t}");
    }
}
