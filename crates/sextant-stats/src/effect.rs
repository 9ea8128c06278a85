//! Vargha and Delaney's A12 effect size.

use serde::Serialize;

use crate::error::{StatsError, check_sample};
use crate::rank::rank;

/// `A12(x, y)`: the probability that a value drawn from `x` is greater than one drawn from
/// `y`, ties counting half. 0.5 means no difference; 1 means every `x` beats every `y`.
pub fn vargha_delaney_a12(x: &[f64], y: &[f64]) -> Result<f64, StatsError> {
    let (u2, pairs) = a12_parts(x, y)?;
    Ok(u2 as f64 / (2 * pairs) as f64)
}

/// `(2 * U_x, n1 * n2)` as integers, so callers can form `A12 - 0.5` without rounding bias:
/// swapping the samples turns `2 U_x - n1 n2` into its exact negative.
pub(crate) fn a12_parts(x: &[f64], y: &[f64]) -> Result<(u64, u64), StatsError> {
    check_sample("the first sample", x)?;
    check_sample("the second sample", y)?;
    let all: Vec<f64> = x.iter().chain(y).copied().collect();
    let r = rank(&all);
    let n1 = x.len() as u64;
    let r1_doubled: u64 = r.doubled[..x.len()].iter().sum();
    Ok((r1_doubled - n1 * (n1 + 1), n1 * y.len() as u64))
}

/// Vargha and Delaney's (2000) magnitude labels, on `|A12 - 0.5|`: below 0.06 negligible,
/// below 0.14 small, below 0.21 medium, otherwise large (A12 thresholds 0.56, 0.64, 0.71).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Magnitude {
    Negligible,
    Small,
    Medium,
    Large,
}

impl Magnitude {
    pub fn of(a12: f64) -> Self {
        let d = (a12 - 0.5).abs();
        if d < 0.06 {
            Self::Negligible
        } else if d < 0.14 {
            Self::Small
        } else if d < 0.21 {
            Self::Medium
        } else {
            Self::Large
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Negligible => "negligible",
            Self::Small => "small",
            Self::Medium => "medium",
            Self::Large => "large",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_pairs() {
        // x > y in (3,1), (3,2), (2,1); the tie (2,2) counts half: 3.5 / 4.
        assert_eq!(vargha_delaney_a12(&[3.0, 2.0], &[1.0, 2.0]).unwrap(), 0.875);
        assert_eq!(vargha_delaney_a12(&[5.0], &[1.0, 2.0]).unwrap(), 1.0);
        assert_eq!(vargha_delaney_a12(&[1.0, 1.0], &[1.0]).unwrap(), 0.5);
    }

    #[test]
    fn magnitudes() {
        assert_eq!(Magnitude::of(0.5), Magnitude::Negligible);
        assert_eq!(Magnitude::of(0.6), Magnitude::Small);
        assert_eq!(Magnitude::of(0.3), Magnitude::Medium);
        assert_eq!(Magnitude::of(0.0), Magnitude::Large);
    }
}
