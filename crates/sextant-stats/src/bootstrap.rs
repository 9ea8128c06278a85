//! A seeded bootstrap confidence interval for the difference of medians.
//!
//! The generator is SplitMix64 (Steele, Lea and Flood 2014), written out here so a seed means
//! the same resamples in every version of Sextant, whatever happens to a dependency's
//! generator. Indices are drawn without modulo bias (Lemire 2019).

use serde::Serialize;

use crate::describe::{median_sorted, quantile_sorted};
use crate::error::{StatsError, check_sample};

/// A small, fast, reproducible pseudo-random generator.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform integer in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (m >> 64) as u64
    }
}

/// A stream seed for one labelled use of a run-wide seed (e.g. one metric on one problem), so
/// each problem's resamples depend only on the seed and its own label, not on the order in
/// which problems are processed. FNV-1a of the label mixed into the seed.
pub fn stream_seed(seed: u64, label: &str) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in label.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    SplitMix64::new(seed ^ h).next_u64()
}

/// A percentile bootstrap interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BootstrapCi {
    /// The observed statistic: `median(candidate) - median(baseline)`.
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
    /// Coverage of the interval, e.g. 0.95.
    pub level: f64,
    pub resamples: usize,
    /// The stream seed that produced the resamples.
    pub seed: u64,
}

/// Percentile bootstrap (Efron 1979) interval of `median(candidate) - median(baseline)`:
/// each resample draws both sides independently with replacement, at their own sizes.
pub fn bootstrap_median_difference(
    baseline: &[f64],
    candidate: &[f64],
    level: f64,
    resamples: usize,
    seed: u64,
) -> Result<BootstrapCi, StatsError> {
    check_sample("the baseline sample", baseline)?;
    check_sample("the candidate sample", candidate)?;
    if !(level > 0.0 && level < 1.0) {
        return Err(StatsError::Parameter {
            name: "the confidence level",
            expected: "between 0 and 1",
            value: level,
        });
    }
    if resamples == 0 {
        return Err(StatsError::Parameter {
            name: "the number of bootstrap resamples",
            expected: "at least 1",
            value: 0.0,
        });
    }
    let sorted = |xs: &[f64]| {
        let mut v = xs.to_vec();
        v.sort_by(f64::total_cmp);
        v
    };
    let estimate = median_sorted(&sorted(candidate)) - median_sorted(&sorted(baseline));
    let mut rng = SplitMix64::new(seed);
    let mut draw = |xs: &[f64], buf: &mut Vec<f64>| {
        buf.clear();
        buf.extend((0..xs.len()).map(|_| xs[rng.below(xs.len() as u64) as usize]));
        buf.sort_by(f64::total_cmp);
        median_sorted(buf)
    };
    let (mut bb, mut cb) = (Vec::new(), Vec::new());
    let mut diffs: Vec<f64> = (0..resamples)
        .map(|_| {
            let b = draw(baseline, &mut bb);
            let c = draw(candidate, &mut cb);
            c - b
        })
        .collect();
    diffs.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Ok(BootstrapCi {
        estimate,
        low: quantile_sorted(&diffs, tail),
        high: quantile_sorted(&diffs, 1.0 - tail),
        level,
        resamples,
        seed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_sequence() {
        // First outputs of SplitMix64 seeded with 0 (the published reference values).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn below_is_in_range_and_covers_it() {
        let mut r = SplitMix64::new(7);
        let mut seen = [false; 5];
        for _ in 0..1000 {
            let v = r.below(5) as usize;
            seen[v] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn same_seed_same_interval() {
        let b = [1.0, 2.0, 3.0, 4.0, 5.0];
        let c = [3.0, 4.0, 5.0, 6.0, 7.5];
        let x = bootstrap_median_difference(&b, &c, 0.95, 2000, 42).unwrap();
        let y = bootstrap_median_difference(&b, &c, 0.95, 2000, 42).unwrap();
        assert_eq!(x, y);
        assert_eq!(x.estimate, 2.0);
        assert!(x.low <= x.estimate && x.estimate <= x.high);
        // A different seed draws different resamples: on samples with many distinct values
        // the interval's ends move.
        let b: Vec<f64> = (0..15).map(|i| f64::from(i).sqrt()).collect();
        let c: Vec<f64> = (0..15).map(|i| f64::from(i).ln_1p()).collect();
        let x = bootstrap_median_difference(&b, &c, 0.9, 500, 42).unwrap();
        let z = bootstrap_median_difference(&b, &c, 0.9, 500, 43).unwrap();
        assert_ne!((x.low, x.high), (z.low, z.high));
    }

    #[test]
    fn stream_seeds_differ_by_label() {
        assert_ne!(stream_seed(1, "a"), stream_seed(1, "b"));
        assert_eq!(stream_seed(1, "a"), stream_seed(1, "a"));
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(bootstrap_median_difference(&[1.0], &[1.0], 1.0, 10, 0).is_err());
        assert!(bootstrap_median_difference(&[1.0], &[1.0], 0.9, 0, 0).is_err());
    }
}
