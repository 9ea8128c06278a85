//! The Wilcoxon signed-rank test for paired differences.
//!
//! Matches `scipy.stats.wilcoxon(d)` with its defaults: two-sided, `zero_method='wilcox'`,
//! `correction=False`, `method='auto'`.
//!
//! - **Zeros** (differences exactly 0) are dropped before ranking (Wilcoxon's own rule); they
//!   still count towards the sample size that picks the method, as in SciPy.
//! - **Ties** among the absolute differences get the average of the ranks they span.
//! - The `auto` rule, with `n` the number of differences *including* zeros:
//!   `n > 50` → normal approximation; otherwise no ties and no zeros → **exact** distribution;
//!   ties or zeros and `n <= 13` → **permutation**: every one of the `2^n` sign assignments
//!   (exact given the observed ranks); ties or zeros and `13 < n <= 50` → normal approximation.
//! - The normal approximation uses the tie-corrected variance and no continuity correction.
//!
//! One deliberate difference: when every difference is zero SciPy's normal approximation
//! returns NaN; here the p-value is 1 (no evidence of a change).

use serde::Serialize;

use crate::error::{StatsError, check_sample};
use crate::mann_whitney::{MethodChoice, PMethod};
use crate::normal;
use crate::rank::rank;

/// The result of a two-sided Wilcoxon signed-rank test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Wilcoxon {
    /// SciPy's statistic: `min(r_plus, r_minus)`.
    pub statistic: f64,
    /// Sum of the ranks of the positive differences.
    pub r_plus: f64,
    /// Sum of the ranks of the negative differences.
    pub r_minus: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    pub method: PMethod,
    /// The standardised statistic, when the normal approximation was used.
    pub z: Option<f64>,
    /// Number of differences, zeros included.
    pub n: usize,
    /// Number of differences that were exactly zero (dropped).
    pub zeros: usize,
    /// Whether absolute non-zero differences were tied.
    pub ties: bool,
}

/// Two-sided signed-rank test of the differences `d` with SciPy's `method='auto'` rule.
pub fn wilcoxon_signed_rank(d: &[f64]) -> Result<Wilcoxon, StatsError> {
    wilcoxon_signed_rank_with(d, MethodChoice::Auto)
}

/// [`wilcoxon_signed_rank`] with the p-value method chosen by the caller (`Exact` with ties
/// or zeros rounds the statistic conservatively, as SciPy's `method='exact'` does).
pub fn wilcoxon_signed_rank_with(d: &[f64], choice: MethodChoice) -> Result<Wilcoxon, StatsError> {
    check_sample("the differences", d)?;
    let nonzero: Vec<f64> = d.iter().copied().filter(|v| *v != 0.0).collect();
    let zeros = d.len() - nonzero.len();
    let abs: Vec<f64> = nonzero.iter().map(|v| v.abs()).collect();
    let ranked = rank(&abs);
    let (mut rp2, mut rm2) = (0u64, 0u64);
    for (v, r) in nonzero.iter().zip(&ranked.doubled) {
        if *v > 0.0 {
            rp2 += r;
        } else {
            rm2 += r;
        }
    }
    let ties = ranked.has_ties();
    let n = d.len();
    let method = match choice {
        MethodChoice::Exact => PMethod::Exact,
        MethodChoice::Asymptotic => PMethod::Asymptotic,
        MethodChoice::Auto if n > 50 => PMethod::Asymptotic,
        MethodChoice::Auto if !ties && zeros == 0 => PMethod::Exact,
        MethodChoice::Auto if n <= 13 => PMethod::Permutation,
        MethodChoice::Auto => PMethod::Asymptotic,
    };
    let count = nonzero.len() as u64;
    let (p, z) = match method {
        PMethod::Exact => {
            // Null distribution of r_plus over integer ranks 1..=count.
            let dist = subset_sum_counts(&(1..=count).collect::<Vec<_>>());
            // r_plus = rp2 / 2; floor for the upper tail, ceil for the lower (SciPy's rule).
            let floor = (rp2 / 2) as usize;
            let ceil = rp2.div_ceil(2) as usize;
            (two_sided(&dist, ceil, floor, count), None)
        }
        PMethod::Permutation => {
            // Every sign assignment over the observed (doubled) ranks.
            let dist = subset_sum_counts(&ranked.doubled);
            let obs = rp2 as usize;
            (two_sided(&dist, obs, obs, count), None)
        }
        PMethod::Asymptotic => {
            let c = count as f64;
            let mean = c * (c + 1.0) * 0.25;
            let var = (c * (c + 1.0) * (2.0 * c + 1.0) - ranked.tie_term() / 2.0) / 24.0;
            if var > 0.0 {
                let z = (rp2 as f64 / 2.0 - mean) / var.sqrt();
                (2.0 * normal::sf(z.abs()), Some(z))
            } else {
                (1.0, None)
            }
        }
    };
    let (r_plus, r_minus) = (rp2 as f64 / 2.0, rm2 as f64 / 2.0);
    Ok(Wilcoxon {
        statistic: r_plus.min(r_minus),
        r_plus,
        r_minus,
        p_value: p.clamp(0.0, 1.0),
        method,
        z,
        n,
        zeros,
        ties,
    })
}

/// `counts[s]` = number of subsets of `weights` whose sum is `s` (the null distribution of
/// the positive rank sum when each sign is + or - with probability 1/2).
fn subset_sum_counts(weights: &[u64]) -> Vec<u64> {
    let total: u64 = weights.iter().sum();
    let mut c = vec![0u64; total as usize + 1];
    c[0] = 1;
    let mut reach = 0usize;
    for &w in weights {
        let w = w as usize;
        for s in (w..=reach + w).rev() {
            c[s] += c[s - w];
        }
        reach += w;
    }
    c
}

/// `2 * min(P(S <= le), P(S >= ge))` from integer counts over `2^count` equally likely
/// assignments, capped at 1.
fn two_sided(dist: &[u64], le: usize, ge: usize, count: u64) -> f64 {
    let lower: u64 = dist[..=le.min(dist.len() - 1)].iter().sum();
    let upper: u64 = dist.get(ge..).map_or(0, |t| t.iter().sum());
    let total = 2f64.powi(count as i32);
    (2.0 * lower.min(upper) as f64 / total).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_positive_exact() {
        // n = 6, every difference positive: P(r+ >= 21) = 1/64, two-sided 1/32.
        let r = wilcoxon_signed_rank(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        assert_eq!(r.method, PMethod::Exact);
        assert_eq!(r.r_plus, 21.0);
        assert_eq!(r.statistic, 0.0);
        assert_eq!(r.p_value, 1.0 / 32.0);
    }

    #[test]
    fn five_problems_can_never_reach_five_percent() {
        let r = wilcoxon_signed_rank(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert_eq!(r.p_value, 1.0 / 16.0);
    }

    #[test]
    fn zeros_are_dropped_and_switch_to_permutation() {
        let r = wilcoxon_signed_rank(&[0.0, 1.0, 2.0, 3.0]).unwrap();
        assert_eq!(r.method, PMethod::Permutation);
        assert_eq!(r.zeros, 1);
        assert_eq!(r.r_plus, 6.0);
        // 3 non-zero differences all positive: 2 * 1/8.
        assert_eq!(r.p_value, 0.25);
    }

    #[test]
    fn all_zero_is_no_evidence() {
        for d in [vec![0.0; 5], vec![0.0; 20]] {
            let r = wilcoxon_signed_rank(&d).unwrap();
            assert_eq!(r.p_value, 1.0, "{} zeros", d.len());
        }
    }

    #[test]
    fn subset_sums() {
        assert_eq!(subset_sum_counts(&[1, 2, 3]), vec![1, 1, 1, 2, 1, 1, 1]);
        assert_eq!(subset_sum_counts(&[]), vec![1]);
    }

    #[test]
    fn large_sample_is_asymptotic() {
        let d: Vec<f64> = (1..=51).map(|v| f64::from(v) - 20.0).collect();
        let r = wilcoxon_signed_rank(&d).unwrap();
        assert_eq!(r.method, PMethod::Asymptotic);
        assert!(r.z.is_some());
    }
}
