//! Performance profiles (Dolan and Moré 2002).
//!
//! For each problem `p` and side `s` with cost `t[p][s] > 0` (smaller is better), the ratio
//! to the best side is `r[p][s] = t[p][s] / min_s t[p][s]`; the profile of side `s` is
//! `rho_s(tau)`, the fraction of problems on which `r[p][s] <= tau`. `rho_s(1)` is the share of
//! problems that side wins (ties count for both); the height as `tau` grows shows how far
//! behind it is where it loses. For a metric to maximise the cost is `1 / value`, so the ratio
//! is `best / value`.

use serde::Serialize;

use crate::error::StatsError;

/// Ratios to the best side, sorted ascending, for each side: `rho(tau)` is the fraction of
/// ratios `<= tau`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub ratios: Vec<Vec<f64>>,
}

impl Profile {
    /// `rho_s(tau)` for side `s`.
    pub fn rho(&self, side: usize, tau: f64) -> f64 {
        let r = &self.ratios[side];
        if r.is_empty() {
            return 0.0;
        }
        r.partition_point(|&x| x <= tau) as f64 / r.len() as f64
    }

    /// The largest finite ratio over all sides (where every profile has reached 1).
    pub fn max_ratio(&self) -> f64 {
        self.ratios.iter().flatten().copied().fold(1.0, f64::max)
    }
}

/// Profiles of several sides over problems: `values[p][s]` is side `s`'s value on problem
/// `p` (e.g. its median), `names[p]` the problem's name for error messages.
pub fn performance_profile(
    names: &[String],
    values: &[Vec<f64>],
    minimize: bool,
) -> Result<Profile, StatsError> {
    let sides = values.first().map_or(0, Vec::len);
    let mut ratios = vec![Vec::with_capacity(values.len()); sides];
    for (p, row) in values.iter().enumerate() {
        if let Some(&value) = row.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
            return Err(StatsError::ProfileUndefined {
                problem: names.get(p).cloned().unwrap_or_else(|| format!("#{p}")),
                value,
            });
        }
        let cost = |v: f64| if minimize { v } else { 1.0 / v };
        let best = row.iter().map(|&v| cost(v)).fold(f64::INFINITY, f64::min);
        for (s, &v) in row.iter().enumerate() {
            ratios[s].push(cost(v) / best);
        }
    }
    for r in &mut ratios {
        r.sort_by(f64::total_cmp);
    }
    Ok(Profile { ratios })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_sides() {
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let v = vec![vec![1.0, 2.0], vec![4.0, 2.0], vec![3.0, 3.0]];
        let p = performance_profile(&names, &v, true).unwrap();
        assert_eq!(p.ratios[0], vec![1.0, 1.0, 2.0]);
        assert_eq!(p.ratios[1], vec![1.0, 1.0, 2.0]);
        assert_eq!(p.rho(0, 1.0), 2.0 / 3.0);
        assert_eq!(p.rho(0, 2.0), 1.0);
        assert_eq!(p.max_ratio(), 2.0);
        let q = performance_profile(&names, &v, false).unwrap();
        // Maximising: problem a's best is 2, so side 0 has ratio 2.
        assert_eq!(q.ratios[0], vec![1.0, 1.0, 2.0]);
    }

    #[test]
    fn needs_positive_values() {
        let names = vec!["x".to_owned()];
        let e = performance_profile(&names, &[vec![0.0, 1.0]], true).unwrap_err();
        assert!(matches!(e, StatsError::ProfileUndefined { .. }));
    }
}
