//! What a test *could* show: the smallest p-value attainable at given sample sizes.
//!
//! A rank test on few values has few possible outcomes, so its p-value has a floor: the
//! two-sided signed-rank test on `n` problems can never go below `2 / 2^n` (0.0625 for five
//! problems, so p < 0.05 is impossible), and the Mann-Whitney test on 3 against 3 seeds never
//! below 0.1. These functions compute the floor by running the test on the most extreme data
//! possible (complete separation, no ties), so they agree with the tests by construction.
//! Ties can in rare degenerate cases (every value on a side equal) push the normal
//! approximation slightly below this floor; the floor describes untied, continuous data.

use crate::mann_whitney::mann_whitney_u;
use crate::wilcoxon::wilcoxon_signed_rank;

/// Smallest two-sided Mann-Whitney p-value attainable with `n1` and `n2` untied values.
pub fn min_p_mann_whitney(n1: usize, n2: usize) -> f64 {
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    let x: Vec<f64> = (0..n1).map(|i| i as f64).collect();
    let y: Vec<f64> = (n1..n1 + n2).map(|i| i as f64).collect();
    mann_whitney_u(&x, &y).map_or(1.0, |r| r.p_value)
}

/// Smallest two-sided signed-rank p-value attainable with `n` untied, non-zero differences.
pub fn min_p_wilcoxon(n: usize) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let d: Vec<f64> = (1..=n).map(|i| i as f64).collect();
    wilcoxon_signed_rank(&d).map_or(1.0, |r| r.p_value)
}

/// The fewest problems with which the signed-rank test can reach `p < alpha` after a Holm
/// correction over `family` tests (the smallest adjusted p is `family * p`), if any up to 1000.
pub fn problems_needed(alpha: f64, family: usize) -> Option<usize> {
    (1..=1000).find(|&n| family as f64 * min_p_wilcoxon(n) < alpha)
}

/// The fewest seeds per side (equal on both sides) with which the Mann-Whitney test can reach
/// `p < alpha` after a Holm correction over `family` tests, if any up to 1000.
pub fn seeds_needed(alpha: f64, family: usize) -> Option<usize> {
    (1..=1000).find(|&n| family as f64 * min_p_mann_whitney(n, n) < alpha)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_rank_floor() {
        assert_eq!(min_p_wilcoxon(5), 0.0625);
        assert_eq!(min_p_wilcoxon(6), 0.03125);
        assert_eq!(problems_needed(0.05, 1), Some(6));
        // Holm over 3 metrics: need 3 * 2^(1-n) < 0.05, n = 7 gives 0.047.
        assert_eq!(problems_needed(0.05, 3), Some(7));
    }

    #[test]
    fn rank_sum_floor() {
        assert!((min_p_mann_whitney(3, 3) - 0.1).abs() < 1e-15);
        assert!((min_p_mann_whitney(4, 4) - 2.0 / 70.0).abs() < 1e-15);
        assert_eq!(seeds_needed(0.05, 1), Some(4));
        // 10 problems: 10 * 2 / C(2n, n) < 0.05 needs C(2n, n) > 400: n = 6 (924).
        assert_eq!(seeds_needed(0.05, 10), Some(6));
        assert_eq!(min_p_mann_whitney(0, 3), 1.0);
    }
}
