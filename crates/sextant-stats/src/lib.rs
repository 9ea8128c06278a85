//! Statistics for `sextant compare`: is a candidate significantly better than a baseline
//! across a suite of test problems, each run with several seeds?
//!
//! This crate owns the numbers and nothing else: no I/O, no HTTP, no printing. It follows the
//! practice of algorithm benchmarking (COCO, IOHprofiler): per problem, a rank-sum test of the
//! candidate's runs against the baseline's with an effect size and a bootstrap interval of the
//! difference of medians; across problems, a signed-rank test on the per-problem medians
//! (Demšar 2006); Holm's correction for the many tests; and a statement of power, because a
//! suite of five problems can never give p < 0.05 and saying "no significant change" then
//! would mislead.
//!
//! The two rank tests reproduce SciPy's defaults (`scipy.stats.mannwhitneyu` and
//! `scipy.stats.wilcoxon`, including their rules for choosing exact or approximate p-values),
//! checked against SciPy itself by `tests/scipy_agreement.rs`.
//!
//! ```
//! use sextant_stats::{mann_whitney_u, wilcoxon_signed_rank, vargha_delaney_a12, holm};
//! let r = mann_whitney_u(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).unwrap();
//! assert!((r.p_value - 0.1).abs() < 1e-15);          // exact: 2 / C(6, 3)
//! let w = wilcoxon_signed_rank(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
//! assert_eq!(w.p_value, 0.0625);                     // five problems cannot reach 0.05
//! assert_eq!(vargha_delaney_a12(&[2.0, 3.0], &[1.0, 2.0]).unwrap(), 0.875);
//! assert_eq!(holm(&[0.01, 0.04]), vec![0.02, 0.04]);
//! ```

mod bootstrap;
mod compare;
mod describe;
mod effect;
mod error;
mod holm;
mod mann_whitney;
mod normal;
mod power;
mod profile;
mod rank;
mod wilcoxon;

pub use bootstrap::{BootstrapCi, SplitMix64, bootstrap_median_difference, stream_seed};
pub use compare::{
    Comparison, Direction, MetricResult, MetricSamples, ProblemResult, ProblemSamples, Settings,
    SuiteResult, Verdict, compare,
};
pub use describe::{Summary, median, summarize};
pub use effect::{Magnitude, vargha_delaney_a12};
pub use error::StatsError;
pub use holm::holm;
pub use mann_whitney::{MannWhitney, MethodChoice, PMethod, mann_whitney_u, mann_whitney_u_with};
pub use power::{min_p_mann_whitney, min_p_wilcoxon, problems_needed, seeds_needed};
pub use profile::{Profile, performance_profile};
pub use wilcoxon::{Wilcoxon, wilcoxon_signed_rank, wilcoxon_signed_rank_with};
