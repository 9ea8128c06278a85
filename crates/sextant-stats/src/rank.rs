//! Average ranks with tie groups, the common ground of the rank tests.

/// Ranks of a sample, ties sharing the average of the ranks they span.
///
/// Ranks are kept *doubled* (`2 * rank`) so they are integers: a tie group spanning ranks
/// `a..=b` gets `a + b`. Rank sums then stay exact, which keeps the exact and permutation
/// distributions free of floating-point comparisons.
pub(crate) struct Ranked {
    /// `2 * average rank` of each input value, in input order.
    pub doubled: Vec<u64>,
    /// Size of every tie group (1 for a value that is not tied).
    pub groups: Vec<u64>,
}

impl Ranked {
    /// Whether any two values are equal.
    pub fn has_ties(&self) -> bool {
        self.groups.iter().any(|&t| t > 1)
    }

    /// `sum(t^3 - t)` over tie groups, the tie term of the normal approximations.
    pub fn tie_term(&self) -> f64 {
        self.groups
            .iter()
            .map(|&t| {
                let t = t as f64;
                t * t * t - t
            })
            .sum()
    }
}

/// Rank finite values (the caller has checked they are finite). Equal values (`==`, so `-0.0`
/// equals `0.0`) form one tie group.
pub(crate) fn rank(values: &[f64]) -> Ranked {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut doubled = vec![0; values.len()];
    let mut groups = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Ranks start..end (0-based) are 1-based start+1 ..= end; doubled average = start+1+end.
        let d = (start + 1 + end) as u64;
        for &i in &order[start..end] {
            doubled[i] = d;
        }
        groups.push((end - start) as u64);
        start = end;
    }
    Ranked { doubled, groups }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_ranks_of_ties() {
        let r = rank(&[3.0, 2.0, 1.0, 2.0, 2.0, 2.0, 1.0]);
        // 1s take ranks 1,2 (avg 1.5); 2s take 3..6 (avg 4.5); 3 takes 7.
        assert_eq!(r.doubled, vec![14, 9, 3, 9, 9, 9, 3]);
        let mut g = r.groups.clone();
        g.sort_unstable();
        assert_eq!(g, vec![1, 2, 4]);
        assert!(r.has_ties());
        assert_eq!(r.tie_term(), (8.0 - 2.0) + (64.0 - 4.0));
    }

    #[test]
    fn negative_zero_ties_with_zero() {
        let r = rank(&[0.0, -0.0, 1.0]);
        assert_eq!(r.doubled, vec![3, 3, 6]);
    }
}
