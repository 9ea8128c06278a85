//! Medians, quartiles and the five numbers of a box plot.

use serde::Serialize;

use crate::error::{StatsError, check_sample};

/// The median (the mean of the two middle values for an even count).
pub fn median(xs: &[f64]) -> Result<f64, StatsError> {
    check_sample("the sample", xs)?;
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    Ok(median_sorted(&v))
}

pub(crate) fn median_sorted(v: &[f64]) -> f64 {
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The `q`-quantile of sorted values by linear interpolation between order statistics
/// (NumPy's default, Hyndman and Fan's type 7).
pub(crate) fn quantile_sorted(v: &[f64], q: f64) -> f64 {
    let h = (v.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    v[lo] + (h - lo as f64) * (v[hi] - v[lo])
}

/// What a box plot draws for one sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub n: usize,
    pub min: f64,
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    pub max: f64,
    pub mean: f64,
}

/// Five-number summary plus the mean.
pub fn summarize(xs: &[f64]) -> Result<Summary, StatsError> {
    check_sample("the sample", xs)?;
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    Ok(Summary {
        n: v.len(),
        min: v[0],
        q1: quantile_sorted(&v, 0.25),
        median: median_sorted(&v),
        q3: quantile_sorted(&v, 0.75),
        max: v[v.len() - 1],
        mean: v.iter().sum::<f64>() / v.len() as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]).unwrap(), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]).unwrap(), 2.5);
        assert!(median(&[]).is_err());
    }

    #[test]
    fn quartiles_like_numpy() {
        let s = summarize(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        // numpy.percentile([1,2,3,4], [25, 75]) == [1.75, 3.25]
        assert_eq!((s.q1, s.q3), (1.75, 3.25));
        assert_eq!((s.min, s.max, s.mean), (1.0, 4.0, 2.5));
    }
}
