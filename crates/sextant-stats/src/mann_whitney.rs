//! The Mann-Whitney U test (Wilcoxon rank-sum test) for two independent samples.
//!
//! Matches `scipy.stats.mannwhitneyu(x, y)` with its defaults: two-sided, `use_continuity=True`,
//! `method='auto'`. The `auto` rule: the **exact** null distribution of U when at least one
//! sample has 8 or fewer values *and* no value is tied (within or across the samples);
//! otherwise the **normal approximation** with the tie-corrected variance and a 0.5 continuity
//! correction. The exact distribution is computed with integer counts, so exact p-values are
//! exact to the last bit of a double.

use serde::Serialize;

use crate::error::{StatsError, check_sample};
use crate::normal;
use crate::rank::rank;

/// How a p-value was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PMethod {
    /// From the exact null distribution of the statistic.
    Exact,
    /// From every sign assignment (the signed-rank test with ties or zeros on small samples):
    /// exact too, conditional on the observed ranks.
    Permutation,
    /// From the normal approximation.
    Asymptotic,
}

/// Which p-value method to use; [`MethodChoice::Auto`] is SciPy's default rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MethodChoice {
    #[default]
    Auto,
    Exact,
    Asymptotic,
}

/// The result of a two-sided Mann-Whitney U test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MannWhitney {
    /// U of the first sample: the number of pairs `(x, y)` with `x > y`, ties counting half.
    pub u: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    pub method: PMethod,
    /// The standardised statistic, when the normal approximation was used.
    pub z: Option<f64>,
    /// Whether any two values (in either sample) were equal.
    pub ties: bool,
    pub n1: usize,
    pub n2: usize,
}

/// Two-sided Mann-Whitney U test of `x` against `y` with SciPy's `method='auto'` rule.
pub fn mann_whitney_u(x: &[f64], y: &[f64]) -> Result<MannWhitney, StatsError> {
    mann_whitney_u_with(x, y, MethodChoice::Auto)
}

/// [`mann_whitney_u`] with the p-value method chosen by the caller.
///
/// `Exact` with ties present is not exact (the null distribution assumes no ties); like SciPy
/// it then uses the integer part of U.
pub fn mann_whitney_u_with(
    x: &[f64],
    y: &[f64],
    choice: MethodChoice,
) -> Result<MannWhitney, StatsError> {
    check_sample("the first sample", x)?;
    check_sample("the second sample", y)?;
    let (n1, n2) = (x.len() as u64, y.len() as u64);
    let all: Vec<f64> = x.iter().chain(y).copied().collect();
    let ranked = rank(&all);
    let r1_doubled: u64 = ranked.doubled[..x.len()].iter().sum();
    // U1 = R1 - n1 (n1 + 1) / 2, kept doubled to stay an integer.
    let u1_doubled = r1_doubled - n1 * (n1 + 1);
    let u2_doubled = 2 * n1 * n2 - u1_doubled;
    let u_max_doubled = u1_doubled.max(u2_doubled);
    let ties = ranked.has_ties();
    let method = match choice {
        MethodChoice::Exact => PMethod::Exact,
        MethodChoice::Asymptotic => PMethod::Asymptotic,
        MethodChoice::Auto if (n1 > 8 && n2 > 8) || ties => PMethod::Asymptotic,
        MethodChoice::Auto => PMethod::Exact,
    };
    let (p, z) = match method {
        PMethod::Exact => {
            // P(U >= u) = P(U <= n1 n2 - u) by symmetry; U's integer part as SciPy does.
            let k = n1 * n2 - u_max_doubled / 2;
            (2.0 * exact_cdf(n1, n2, k), None)
        }
        _ => {
            let (n1f, n2f) = (n1 as f64, n2 as f64);
            let n = n1f + n2f;
            let mu = n1f * n2f / 2.0;
            let s = (n1f * n2f / 12.0 * ((n + 1.0) - ranked.tie_term() / (n * (n - 1.0)))).sqrt();
            let numerator = u_max_doubled as f64 / 2.0 - mu - 0.5;
            if s > 0.0 {
                let z = numerator / s;
                (2.0 * normal::sf(z), Some(z))
            } else {
                // Every value equal (or a single pair): no evidence either way.
                (1.0, None)
            }
        }
    };
    Ok(MannWhitney {
        u: u1_doubled as f64 / 2.0,
        p_value: p.clamp(0.0, 1.0),
        method,
        z,
        ties,
        n1: x.len(),
        n2: y.len(),
    })
}

/// `P(U <= k)` under the null hypothesis for samples of sizes `n1` and `n2` without ties.
///
/// The counts of U are the coefficients of the Gaussian binomial coefficient
/// `[n1 + n2 choose m]_q` (m = the smaller size), built as `prod (1 - q^(n+i)) / (1 - q^i)`
/// for i = 1..=m: every intermediate product is itself a Gaussian binomial, so integer
/// arithmetic stays exact. When the counts would overflow 128 bits (sizes far beyond any
/// suite of seeds) the same recurrence runs in floating point.
pub(crate) fn exact_cdf(n1: u64, n2: u64, k: u64) -> f64 {
    let (m, n) = (n1.min(n2) as usize, n1.max(n2) as usize);
    let top = m * n;
    if k as usize >= top {
        return 1.0;
    }
    let k = k as usize;
    if log2_binomial(m + n, m) < 120.0 {
        let c = gaussian_binomial_i128(m, n);
        let total: i128 = c.iter().sum();
        let below: i128 = c[..=k].iter().sum();
        ratio(below, total)
    } else {
        let c = gaussian_binomial_f64(m, n);
        let total: f64 = c.iter().sum();
        let below: f64 = c[..=k].iter().sum();
        below / total
    }
}

/// `a / b` for nonnegative 128-bit integers, correctly rounded enough for p-values (relative
/// error of a few ulps).
fn ratio(a: i128, b: i128) -> f64 {
    a as f64 / b as f64
}

fn log2_binomial(n: usize, k: usize) -> f64 {
    (0..k)
        .map(|i| ((n - i) as f64).log2() - ((i + 1) as f64).log2())
        .sum()
}

fn gaussian_binomial_i128(m: usize, n: usize) -> Vec<i128> {
    let mut c = vec![0i128; m * n + m + 1];
    c[0] = 1;
    for i in 1..=m {
        let shift = n + i;
        let deg = (i - 1) * n + shift;
        for k in (shift..=deg).rev() {
            c[k] -= c[k - shift];
        }
        for k in i..=deg {
            c[k] += c[k - i];
        }
    }
    c.truncate(m * n + 1);
    c
}

fn gaussian_binomial_f64(m: usize, n: usize) -> Vec<f64> {
    let mut c = vec![0f64; m * n + m + 1];
    c[0] = 1.0;
    for i in 1..=m {
        let shift = n + i;
        let deg = (i - 1) * n + shift;
        for k in (shift..=deg).rev() {
            c[k] -= c[k - shift];
        }
        for k in i..=deg {
            c[k] += c[k - i];
        }
    }
    c.truncate(m * n + 1);
    c.iter_mut().for_each(|v| *v = v.max(0.0));
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts of U by brute force: every way to pick which of the n1 + n2 ranks go to x.
    fn brute_counts(n1: usize, n2: usize) -> Vec<u64> {
        let n = n1 + n2;
        let mut counts = vec![0u64; n1 * n2 + 1];
        for mask in 0u32..(1 << n) {
            if mask.count_ones() as usize != n1 {
                continue;
            }
            let r: usize = (0..n).filter(|b| mask & (1 << b) != 0).map(|b| b + 1).sum();
            counts[r - n1 * (n1 + 1) / 2] += 1;
        }
        counts
    }

    #[test]
    fn gaussian_binomial_matches_brute_force() {
        for n1 in 1..=6 {
            for n2 in 1..=7 {
                let got = gaussian_binomial_i128(n1.min(n2), n1.max(n2));
                let want = brute_counts(n1, n2);
                assert_eq!(got.len(), want.len(), "{n1}x{n2}");
                for (g, w) in got.iter().zip(&want) {
                    assert_eq!(*g, i128::from(*w), "{n1}x{n2}");
                }
                let f = gaussian_binomial_f64(n1.min(n2), n1.max(n2));
                for (g, w) in f.iter().zip(&want) {
                    assert_eq!(*g, *w as f64, "{n1}x{n2} in floating point");
                }
            }
        }
    }

    #[test]
    fn complete_separation_small() {
        // 3 vs 3, fully separated: P(U >= 9) = 1 / C(6, 3) = 1/20, two-sided 0.1.
        let r = mann_whitney_u(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).unwrap();
        assert_eq!(r.method, PMethod::Exact);
        assert_eq!(r.u, 0.0);
        assert!((r.p_value - 0.1).abs() < 1e-15);
    }

    #[test]
    fn u_counts_ties_as_half() {
        let r = mann_whitney_u(&[1.0, 2.0], &[2.0, 0.0]).unwrap();
        // Pairs x > y: (1,0), (2,0); ties: (2,2) -> U = 2.5.
        assert_eq!(r.u, 2.5);
        assert_eq!(r.method, PMethod::Asymptotic);
        assert!(r.ties);
    }

    #[test]
    fn all_equal_gives_one() {
        let r = mann_whitney_u(&[1.0; 4], &[1.0; 5]).unwrap();
        assert_eq!(r.p_value, 1.0);
    }

    #[test]
    fn auto_rule_switches_on_size_and_ties() {
        let x: Vec<f64> = (0..9).map(f64::from).collect();
        let y: Vec<f64> = (0..9).map(|v| f64::from(v) + 0.5).collect();
        assert_eq!(mann_whitney_u(&x, &y).unwrap().method, PMethod::Asymptotic);
        assert_eq!(mann_whitney_u(&x[..8], &y).unwrap().method, PMethod::Exact);
        assert_eq!(
            mann_whitney_u(&[1.0, 1.0], &[2.0]).unwrap().method,
            PMethod::Asymptotic
        );
    }

    #[test]
    fn rejects_empty_and_nan() {
        assert!(matches!(
            mann_whitney_u(&[], &[1.0]),
            Err(StatsError::Empty { .. })
        ));
        assert!(matches!(
            mann_whitney_u(&[1.0], &[f64::NAN]),
            Err(StatsError::NonFinite { .. })
        ));
    }
}
