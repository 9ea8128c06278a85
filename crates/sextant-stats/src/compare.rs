//! The whole comparison of two suites: per-problem tests, the test across problems, Holm
//! corrections, verdicts and the power statement. Pure: the caller brings the numbers.

use serde::Serialize;

use crate::bootstrap::{BootstrapCi, bootstrap_median_difference, stream_seed};
use crate::describe::{Summary, summarize};
use crate::effect::{Magnitude, a12_parts};
use crate::error::StatsError;
use crate::holm::holm;
use crate::mann_whitney::{MannWhitney, mann_whitney_u};
use crate::power::{min_p_mann_whitney, min_p_wilcoxon, problems_needed, seeds_needed};
use crate::profile::{Profile, performance_profile};
use crate::wilcoxon::{Wilcoxon, wilcoxon_signed_rank};

/// Whether smaller or larger values of a metric are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Minimize,
    Maximize,
}

impl Direction {
    pub fn label(self) -> &'static str {
        match self {
            Self::Minimize => "min",
            Self::Maximize => "max",
        }
    }
}

/// The knobs of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// Family-wise significance level (after Holm), e.g. 0.05. The bootstrap intervals have
    /// coverage `1 - alpha`.
    pub alpha: f64,
    /// The A12 a change must reach to count (0.5 = any; Vargha and Delaney's "small" is 0.56):
    /// an improvement needs A12 >= min_effect, a regression A12 <= 1 - min_effect.
    pub min_effect: f64,
    /// Seed of the bootstrap; every problem's stream derives from it and its own label.
    pub seed: u64,
    /// Bootstrap resamples per problem.
    pub resamples: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            alpha: 0.05,
            min_effect: 0.56,
            seed: 0x5E57_A417,
            resamples: 10_000,
        }
    }
}

impl Settings {
    fn validate(&self) -> Result<(), StatsError> {
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(StatsError::Parameter {
                name: "alpha",
                expected: "between 0 and 1 (exclusive)",
                value: self.alpha,
            });
        }
        if !(0.5..=1.0).contains(&self.min_effect) {
            return Err(StatsError::Parameter {
                name: "the minimum effect (A12)",
                expected: "between 0.5 and 1",
                value: self.min_effect,
            });
        }
        if self.resamples == 0 {
            return Err(StatsError::Parameter {
                name: "the number of bootstrap resamples",
                expected: "at least 1",
                value: 0.0,
            });
        }
        Ok(())
    }
}

/// One metric's values: for every problem present on both sides, the runs (seeds) of each.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSamples {
    pub metric: String,
    pub direction: Direction,
    pub problems: Vec<ProblemSamples>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProblemSamples {
    pub problem: String,
    pub baseline: Vec<f64>,
    pub candidate: Vec<f64>,
}

/// The outcome for one metric or one problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The candidate is significantly better, by at least the minimum effect.
    Improved,
    /// The candidate is significantly worse, by at least the minimum effect.
    Regressed,
    /// The test could have detected a change and did not.
    NoSignificantChange,
    /// The test could not have reached significance at alpha with this many problems (or
    /// seeds), whatever the data: the absence of a verdict says nothing.
    Underpowered,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Self::Improved => "improved",
            Self::Regressed => "regressed",
            Self::NoSignificantChange => "no significant change",
            Self::Underpowered => "suite too small to detect a change at alpha",
        }
    }
}

/// One problem of one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProblemResult {
    pub problem: String,
    pub baseline: Summary,
    pub candidate: Summary,
    /// `median(candidate) - median(baseline)` in the metric's units, with its interval.
    pub difference: BootstrapCi,
    /// The rank-sum test of the candidate's runs against the baseline's (`u` counts
    /// candidate > baseline pairs).
    pub mann_whitney: MannWhitney,
    /// Holm-adjusted over every per-problem test of the comparison (all problems, all metrics).
    pub p_adjusted: f64,
    /// Probability that a candidate run is *better* than a baseline run (direction applied).
    pub a12: f64,
    pub magnitude: Magnitude,
    /// The smallest p this test could reach with these seed counts.
    pub min_attainable_p: f64,
    pub verdict: Verdict,
}

/// The test across problems for one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuiteResult {
    pub problems: usize,
    /// Signed-rank test on the per-problem differences of medians, oriented so that a
    /// positive difference favours the candidate (`r_plus` sums the candidate's wins).
    pub wilcoxon: Wilcoxon,
    /// Holm-adjusted over the metrics of the comparison.
    pub p_adjusted: f64,
    /// Problems where the candidate's median is better / equal / worse.
    pub wins: usize,
    pub ties: usize,
    pub losses: usize,
    /// Mean over problems of the per-problem A12 (the chance that a candidate run beats a
    /// baseline run on a problem drawn at random).
    pub mean_a12: f64,
    pub magnitude: Magnitude,
    pub min_attainable_p: f64,
    /// Lower bound of the Holm-adjusted p any data could give.
    pub min_attainable_p_adjusted: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricResult {
    pub metric: String,
    pub direction: Direction,
    pub verdict: Verdict,
    /// Why, in one sentence.
    pub reason: String,
    pub suite: SuiteResult,
    pub problems: Vec<ProblemResult>,
    /// Set when no per-problem test could reach significance at alpha.
    pub per_problem_note: Option<String>,
    /// Performance profile of the per-problem medians, sides `[baseline, candidate]`.
    pub profile: Option<Profile>,
    /// Why there is no profile, when there is none.
    pub profile_note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub settings: Settings,
    pub metrics: Vec<MetricResult>,
    /// Size of the per-problem Holm family (problems times metrics).
    pub per_problem_tests: usize,
    /// Whether any metric regressed (the exit status of `sextant compare`).
    pub regressed: bool,
}

/// `A12 - 0.5` from integer parts, oriented so that positive favours the candidate.
fn centered_a12(candidate: &[f64], baseline: &[f64], dir: Direction) -> Result<f64, StatsError> {
    let (u2, mn) = a12_parts(candidate, baseline)?;
    let num = match dir {
        Direction::Maximize => u2 as i64 - mn as i64,
        Direction::Minimize => mn as i64 - u2 as i64,
    };
    Ok(num as f64 / (2 * mn) as f64)
}

fn fmt_p(p: f64) -> String {
    if p < 1e-4 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

/// Compare the candidate with the baseline on every metric.
pub fn compare(metrics: &[MetricSamples], settings: &Settings) -> Result<Comparison, StatsError> {
    settings.validate()?;
    let alpha = settings.alpha;
    let threshold = settings.min_effect - 0.5;
    struct Partial {
        problems: Vec<(ProblemResult, f64)>,
        wilcoxon: Wilcoxon,
        wins: usize,
        ties: usize,
        losses: usize,
        mean_centered: f64,
        profile: Result<Profile, StatsError>,
    }
    let mut partials = Vec::with_capacity(metrics.len());
    for m in metrics {
        if m.problems.is_empty() {
            return Err(StatsError::Empty {
                what: "the set of problems measured on both sides",
            });
        }
        let mut problems = Vec::with_capacity(m.problems.len());
        let mut diffs = Vec::with_capacity(m.problems.len());
        let (mut wins, mut ties, mut losses) = (0, 0, 0);
        let mut centered_sum = 0.0;
        for ps in &m.problems {
            let baseline = summarize(&ps.baseline)?;
            let candidate = summarize(&ps.candidate)?;
            let label = format!("{}\u{0}{}", m.metric, ps.problem);
            let difference = bootstrap_median_difference(
                &ps.baseline,
                &ps.candidate,
                1.0 - alpha,
                settings.resamples,
                stream_seed(settings.seed, &label),
            )?;
            let mann_whitney = mann_whitney_u(&ps.candidate, &ps.baseline)?;
            let centered = centered_a12(&ps.candidate, &ps.baseline, m.direction)?;
            centered_sum += centered;
            let oriented = match m.direction {
                Direction::Maximize => candidate.median - baseline.median,
                Direction::Minimize => baseline.median - candidate.median,
            };
            if oriented > 0.0 {
                wins += 1;
            } else if oriented < 0.0 {
                losses += 1;
            } else {
                ties += 1;
            }
            diffs.push(oriented);
            let a12 = 0.5 + centered;
            problems.push((
                ProblemResult {
                    problem: ps.problem.clone(),
                    min_attainable_p: min_p_mann_whitney(ps.baseline.len(), ps.candidate.len()),
                    baseline,
                    candidate,
                    difference,
                    mann_whitney,
                    p_adjusted: f64::NAN,
                    a12,
                    magnitude: Magnitude::of(a12),
                    verdict: Verdict::NoSignificantChange,
                },
                centered,
            ));
        }
        let names: Vec<String> = m.problems.iter().map(|p| p.problem.clone()).collect();
        let medians: Vec<Vec<f64>> = problems
            .iter()
            .map(|(p, _)| vec![p.baseline.median, p.candidate.median])
            .collect();
        partials.push(Partial {
            wilcoxon: wilcoxon_signed_rank(&diffs)?,
            problems,
            wins,
            ties,
            losses,
            mean_centered: centered_sum / m.problems.len() as f64,
            profile: performance_profile(&names, &medians, m.direction == Direction::Minimize),
        });
    }

    // Holm over every per-problem test, and over the suite tests of the metrics.
    let per_problem_p: Vec<f64> = partials
        .iter()
        .flat_map(|p| p.problems.iter().map(|(r, _)| r.mann_whitney.p_value))
        .collect();
    let per_problem_adj = holm(&per_problem_p);
    let family = per_problem_p.len();
    let floor_all = partials
        .iter()
        .flat_map(|p| p.problems.iter().map(|(r, _)| r.min_attainable_p))
        .fold(1.0, f64::min);
    let suite_p: Vec<f64> = partials.iter().map(|p| p.wilcoxon.p_value).collect();
    let suite_adj = holm(&suite_p);
    let suite_floor_all = partials
        .iter()
        .map(|p| min_p_wilcoxon(p.problems.len()))
        .fold(1.0, f64::min);

    let mut out = Vec::with_capacity(metrics.len());
    let mut next = 0;
    for (mi, (m, part)) in metrics.iter().zip(partials).enumerate() {
        let mut problems = Vec::with_capacity(part.problems.len());
        let mut any_problem_possible = false;
        for (mut r, centered) in part.problems {
            r.p_adjusted = per_problem_adj[next];
            next += 1;
            let bound = r.min_attainable_p.max(family as f64 * floor_all).min(1.0);
            any_problem_possible |= bound < alpha;
            r.verdict = decide(
                r.p_adjusted < alpha,
                centered,
                centered,
                threshold,
                bound,
                alpha,
            );
            problems.push(r);
        }
        let n = problems.len();
        let min_p = min_p_wilcoxon(n);
        let k = metrics.len();
        let min_adj = min_p.max(k as f64 * suite_floor_all).min(1.0);
        let w = &part.wilcoxon;
        let direction = w.r_plus - w.r_minus;
        let verdict = decide(
            suite_adj[mi] < alpha,
            direction,
            part.mean_centered,
            threshold,
            min_adj,
            alpha,
        );
        let holm_note = if k > 1 {
            format!(" after Holm over {k} metrics")
        } else {
            String::new()
        };
        let mean_a12 = 0.5 + part.mean_centered;
        let reason = match verdict {
            Verdict::Improved | Verdict::Regressed => format!(
                "signed-rank p = {}{holm_note} < alpha = {alpha}, {} wins / {} ties / {} losses, \
                 mean A12 = {mean_a12:.3} ({})",
                fmt_p(suite_adj[mi]),
                part.wins,
                part.ties,
                part.losses,
                Magnitude::of(mean_a12).label()
            ),
            Verdict::NoSignificantChange if suite_adj[mi] < alpha => format!(
                "signed-rank p = {}{holm_note} < alpha = {alpha}, but the effect (mean A12 = \
                 {mean_a12:.3}) is below the minimum effect {} or points the other way",
                fmt_p(suite_adj[mi]),
                settings.min_effect
            ),
            Verdict::NoSignificantChange => format!(
                "signed-rank p = {}{holm_note} >= alpha = {alpha} ({} wins / {} ties / {} losses)",
                fmt_p(suite_adj[mi]),
                part.wins,
                part.ties,
                part.losses
            ),
            Verdict::Underpowered => {
                let needed = problems_needed(alpha, k)
                    .map(|n| format!("; at least {n} problems are needed"))
                    .unwrap_or_default();
                format!(
                    "with {n} problems the smallest attainable signed-rank p is {}{}, not below \
                     alpha = {alpha}: suite too small to detect a change at alpha{needed}",
                    fmt_p(min_p),
                    if k > 1 {
                        format!(" ({} after Holm over {k} metrics)", fmt_p(min_adj))
                    } else {
                        String::new()
                    }
                )
            }
        };
        let per_problem_note = (!any_problem_possible).then(|| {
            let (nb, nc) = problems
                .iter()
                .map(|p| (p.baseline.n, p.candidate.n))
                .max_by_key(|(b, c)| b.min(c).to_owned())
                .unwrap_or((0, 0));
            let needed = seeds_needed(alpha, family)
                .map(|s| format!("; {s} seeds per side would be needed"))
                .unwrap_or_default();
            format!(
                "with {nb} baseline and {nc} candidate seeds the smallest attainable per-problem \
                 p is {}; after Holm over {family} per-problem tests at best {}, not below alpha \
                 = {alpha}: no single problem can show a significant change{needed}",
                fmt_p(min_p_mann_whitney(nb, nc)),
                fmt_p((family as f64 * min_p_mann_whitney(nb, nc)).min(1.0))
            )
        });
        let (profile, profile_note) = match part.profile {
            Ok(p) => (Some(p), None),
            Err(e) => (None, Some(e.to_string())),
        };
        out.push(MetricResult {
            metric: m.metric.clone(),
            direction: m.direction,
            verdict,
            reason,
            suite: SuiteResult {
                problems: n,
                wilcoxon: part.wilcoxon,
                p_adjusted: suite_adj[mi],
                wins: part.wins,
                ties: part.ties,
                losses: part.losses,
                mean_a12,
                magnitude: Magnitude::of(mean_a12),
                min_attainable_p: min_p,
                min_attainable_p_adjusted: min_adj,
            },
            problems,
            per_problem_note,
            profile,
            profile_note,
        });
    }
    let regressed = out.iter().any(|m| m.verdict == Verdict::Regressed);
    Ok(Comparison {
        settings: settings.clone(),
        metrics: out,
        per_problem_tests: family,
        regressed,
    })
}

/// `direction` > 0 favours the candidate; `effect` is the centred A12 (`A12 - 0.5`).
fn decide(
    significant: bool,
    direction: f64,
    effect: f64,
    threshold: f64,
    floor: f64,
    alpha: f64,
) -> Verdict {
    if significant && direction > 0.0 && effect >= threshold && effect > 0.0 {
        Verdict::Improved
    } else if significant && direction < 0.0 && effect <= -threshold && effect < 0.0 {
        Verdict::Regressed
    } else if !significant && floor >= alpha {
        Verdict::Underpowered
    } else {
        Verdict::NoSignificantChange
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suite(n_problems: usize, seeds: usize, shift: f64) -> Vec<ProblemSamples> {
        (0..n_problems)
            .map(|p| {
                let base: Vec<f64> = (0..seeds)
                    .map(|s| 100.0 + 10.0 * p as f64 + s as f64)
                    .collect();
                ProblemSamples {
                    problem: format!("p{p:02}"),
                    candidate: base.iter().map(|v| v + shift + 0.25 * p as f64).collect(),
                    baseline: base,
                }
            })
            .collect()
    }

    fn metric(dir: Direction, problems: Vec<ProblemSamples>) -> MetricSamples {
        MetricSamples {
            metric: "cost".into(),
            direction: dir,
            problems,
        }
    }

    fn fast() -> Settings {
        Settings {
            resamples: 200,
            ..Settings::default()
        }
    }

    #[test]
    fn clear_improvement_when_minimising() {
        let c = compare(&[metric(Direction::Minimize, suite(10, 5, -20.0))], &fast()).unwrap();
        let m = &c.metrics[0];
        assert_eq!(m.verdict, Verdict::Improved, "{}", m.reason);
        assert_eq!((m.suite.wins, m.suite.losses), (10, 0));
        assert!(!c.regressed);
        // 5 vs 5 seeds over 10 problems cannot pass Holm: 10 * 2/252 > 0.05.
        assert!(m.per_problem_note.is_some());
        assert!(
            m.problems
                .iter()
                .all(|p| p.verdict == Verdict::Underpowered)
        );
        assert!(m.problems.iter().all(|p| p.a12 == 1.0));
    }

    #[test]
    fn same_shift_regresses_when_maximising() {
        let c = compare(&[metric(Direction::Maximize, suite(10, 5, -20.0))], &fast()).unwrap();
        assert_eq!(c.metrics[0].verdict, Verdict::Regressed);
        assert!(c.regressed);
    }

    #[test]
    fn five_problems_are_underpowered() {
        let c = compare(&[metric(Direction::Minimize, suite(5, 5, -20.0))], &fast()).unwrap();
        let m = &c.metrics[0];
        assert_eq!(m.verdict, Verdict::Underpowered);
        assert!(m.reason.contains("suite too small"), "{}", m.reason);
        assert!(m.reason.contains("at least 6 problems"), "{}", m.reason);
    }

    #[test]
    fn enough_seeds_make_problems_significant() {
        let c = compare(&[metric(Direction::Minimize, suite(10, 8, -20.0))], &fast()).unwrap();
        let m = &c.metrics[0];
        assert!(m.per_problem_note.is_none());
        assert!(m.problems.iter().all(|p| p.verdict == Verdict::Improved));
    }

    #[test]
    fn min_effect_blocks_tiny_effects() {
        // Ten problems where the candidate wins every median by a hair but the runs overlap.
        let problems: Vec<ProblemSamples> = (0..10)
            .map(|p| ProblemSamples {
                problem: format!("p{p}"),
                baseline: vec![1.0, 2.0, 3.0, 4.0, 5.0],
                candidate: vec![1.0, 2.0, 2.9, 4.0, 5.0],
            })
            .collect();
        let settings = Settings {
            min_effect: 0.6,
            ..fast()
        };
        let c = compare(&[metric(Direction::Minimize, problems)], &settings).unwrap();
        let m = &c.metrics[0];
        assert!(m.suite.p_adjusted < 0.05);
        assert_eq!(m.verdict, Verdict::NoSignificantChange, "{}", m.reason);
        assert!(m.reason.contains("below the minimum effect"));
    }

    #[test]
    fn profile_of_medians() {
        let c = compare(&[metric(Direction::Minimize, suite(10, 5, -20.0))], &fast()).unwrap();
        let p = c.metrics[0].profile.as_ref().unwrap();
        assert_eq!(p.rho(1, 1.0), 1.0);
        assert_eq!(p.rho(0, 1.0), 0.0);
        let neg = compare(&[metric(Direction::Minimize, suite(3, 3, -200.0))], &fast()).unwrap();
        assert!(neg.metrics[0].profile.is_none());
        assert!(neg.metrics[0].profile_note.is_some());
    }

    #[test]
    fn rejects_bad_settings_and_empty_metrics() {
        let bad = Settings {
            alpha: 1.5,
            ..fast()
        };
        assert!(compare(&[metric(Direction::Minimize, suite(3, 3, 0.0))], &bad).is_err());
        let bad = Settings {
            min_effect: 0.4,
            ..fast()
        };
        assert!(compare(&[metric(Direction::Minimize, suite(3, 3, 0.0))], &bad).is_err());
        assert!(compare(&[metric(Direction::Minimize, vec![])], &fast()).is_err());
    }
}
