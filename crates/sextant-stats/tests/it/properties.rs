//! Properties every comparison must have, whatever the data.

use proptest::prelude::*;
use sextant_stats::{
    Direction, MetricSamples, ProblemSamples, Settings, Verdict, compare, holm, mann_whitney_u,
    performance_profile, wilcoxon_signed_rank,
};

/// Values on a grid of quarters: ties happen often, and adding a whole constant is exact.
fn value() -> impl Strategy<Value = f64> {
    (-40i32..40).prop_map(|v| f64::from(v) / 4.0)
}

fn sample(max: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(value(), 1..=max)
}

fn problems() -> impl Strategy<Value = Vec<ProblemSamples>> {
    prop::collection::vec((sample(6), sample(6)), 1..=12).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (baseline, candidate))| ProblemSamples {
                problem: format!("p{i}"),
                baseline,
                candidate,
            })
            .collect()
    })
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![Just(Direction::Minimize), Just(Direction::Maximize)]
}

fn settings() -> Settings {
    Settings {
        resamples: 50,
        ..Settings::default()
    }
}

fn mirror(v: Verdict) -> Verdict {
    match v {
        Verdict::Improved => Verdict::Regressed,
        Verdict::Regressed => Verdict::Improved,
        other => other,
    }
}

proptest! {
    #[test]
    fn p_values_are_probabilities(x in sample(30), y in sample(30), d in sample(60)) {
        let m = mann_whitney_u(&x, &y).unwrap();
        prop_assert!((0.0..=1.0).contains(&m.p_value), "{m:?}");
        let w = wilcoxon_signed_rank(&d).unwrap();
        prop_assert!((0.0..=1.0).contains(&w.p_value), "{w:?}");
    }

    #[test]
    fn rank_tests_are_symmetric(x in sample(20), y in sample(20), d in sample(40)) {
        let a = mann_whitney_u(&x, &y).unwrap();
        let b = mann_whitney_u(&y, &x).unwrap();
        prop_assert_eq!(a.p_value, b.p_value);
        prop_assert_eq!(a.u + b.u, (x.len() * y.len()) as f64);
        let neg: Vec<f64> = d.iter().map(|v| -v).collect();
        let w = wilcoxon_signed_rank(&d).unwrap();
        let wn = wilcoxon_signed_rank(&neg).unwrap();
        prop_assert_eq!(w.p_value, wn.p_value);
        prop_assert_eq!(w.r_plus, wn.r_minus);
    }

    #[test]
    fn swapping_sides_mirrors_the_verdict(ps in problems(), dir in direction()) {
        let swapped: Vec<ProblemSamples> = ps
            .iter()
            .map(|p| ProblemSamples {
                problem: p.problem.clone(),
                baseline: p.candidate.clone(),
                candidate: p.baseline.clone(),
            })
            .collect();
        let a = compare(&[MetricSamples { metric: "m".into(), direction: dir, problems: ps }], &settings()).unwrap();
        let b = compare(&[MetricSamples { metric: "m".into(), direction: dir, problems: swapped }], &settings()).unwrap();
        let (ma, mb) = (&a.metrics[0], &b.metrics[0]);
        prop_assert_eq!(mirror(ma.verdict), mb.verdict, "{} / {}", ma.reason, mb.reason);
        prop_assert_eq!(ma.suite.p_adjusted, mb.suite.p_adjusted);
        prop_assert_eq!((ma.suite.wins, ma.suite.ties, ma.suite.losses), (mb.suite.losses, mb.suite.ties, mb.suite.wins));
        for (pa, pb) in ma.problems.iter().zip(&mb.problems) {
            prop_assert_eq!(mirror(pa.verdict), pb.verdict);
            prop_assert_eq!(pa.mann_whitney.p_value, pb.mann_whitney.p_value);
            prop_assert!((pa.a12 + pb.a12 - 1.0).abs() < 1e-12);
            prop_assert_eq!(pa.difference.estimate, -pb.difference.estimate);
        }
    }

    #[test]
    fn adding_a_constant_to_both_sides_changes_nothing(
        ps in problems(), dir in direction(), shift in -1000i32..1000,
    ) {
        let k = f64::from(shift);
        let moved: Vec<ProblemSamples> = ps
            .iter()
            .map(|p| ProblemSamples {
                problem: p.problem.clone(),
                baseline: p.baseline.iter().map(|v| v + k).collect(),
                candidate: p.candidate.iter().map(|v| v + k).collect(),
            })
            .collect();
        let a = compare(&[MetricSamples { metric: "m".into(), direction: dir, problems: ps }], &settings()).unwrap();
        let b = compare(&[MetricSamples { metric: "m".into(), direction: dir, problems: moved }], &settings()).unwrap();
        let (ma, mb) = (&a.metrics[0], &b.metrics[0]);
        prop_assert_eq!(ma.verdict, mb.verdict);
        prop_assert_eq!(&ma.suite.wilcoxon, &mb.suite.wilcoxon);
        prop_assert_eq!(ma.suite.mean_a12, mb.suite.mean_a12);
        for (pa, pb) in ma.problems.iter().zip(&mb.problems) {
            prop_assert_eq!(pa.verdict, pb.verdict);
            prop_assert_eq!(&pa.mann_whitney, &pb.mann_whitney);
            prop_assert_eq!(pa.a12, pb.a12);
            // Same seed, same resample indices: the interval moves by nothing at all.
            prop_assert_eq!(pa.difference.estimate, pb.difference.estimate);
            prop_assert_eq!((pa.difference.low, pa.difference.high), (pb.difference.low, pb.difference.high));
        }
    }

    #[test]
    fn holm_is_monotone_and_bounded(p in prop::collection::vec(0.0f64..=1.0, 0..40)) {
        let adj = holm(&p);
        for i in 0..p.len() {
            prop_assert!(adj[i] >= p[i] && adj[i] <= 1.0);
            for j in 0..p.len() {
                if p[i] <= p[j] {
                    prop_assert!(adj[i] <= adj[j], "p {} <= {} but adjusted {} > {}", p[i], p[j], adj[i], adj[j]);
                }
            }
        }
    }

    #[test]
    fn profiles_climb_to_one(rows in prop::collection::vec((1u32..100, 1u32..100), 1..20)) {
        let names: Vec<String> = (0..rows.len()).map(|i| format!("p{i}")).collect();
        let values: Vec<Vec<f64>> = rows.iter().map(|(a, b)| vec![f64::from(*a), f64::from(*b)]).collect();
        let p = performance_profile(&names, &values, true).unwrap();
        for side in 0..2 {
            let mut last = 0.0;
            for step in 0..50 {
                let tau = 1.0 + f64::from(step) * (p.max_ratio() - 1.0) / 49.0;
                let r = p.rho(side, tau);
                prop_assert!(r >= last);
                last = r;
            }
            prop_assert_eq!(p.rho(side, p.max_ratio()), 1.0);
        }
        // On every problem one side is best, so the two profiles at tau = 1 cover all problems.
        prop_assert!(p.rho(0, 1.0) + p.rho(1, 1.0) >= 1.0);
    }
}
