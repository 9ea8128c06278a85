//! Holm's step-down correction for multiple tests.

/// Holm (1979) adjusted p-values, in the input order.
///
/// Sort the `m` p-values ascending; the `i`-th smallest (1-based) becomes
/// `max_{j <= i} min(1, (m - j + 1) p_(j))`. Rejecting every hypothesis whose adjusted p is
/// below alpha controls the family-wise error rate at alpha, with no assumption about how the
/// tests depend on each other.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut adjusted = vec![0.0; m];
    let mut running = 0.0f64;
    for (j, &i) in order.iter().enumerate() {
        let a = ((m - j) as f64 * p[i]).min(1.0);
        running = running.max(a);
        adjusted[i] = running;
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::holm;

    #[test]
    fn textbook_example() {
        // m = 4: 0.01*4, 0.02*3, 0.03*2 -> running max, 0.5*1.
        let adj = holm(&[0.03, 0.01, 0.5, 0.02]);
        let want = [0.06, 0.04, 0.5, 0.06];
        for (a, w) in adj.iter().zip(want) {
            assert!((a - w).abs() < 1e-15, "{adj:?}");
        }
    }

    #[test]
    fn caps_at_one_and_handles_empty() {
        assert_eq!(holm(&[0.6, 0.7]), vec![1.0, 1.0]);
        assert!(holm(&[]).is_empty());
    }
}
