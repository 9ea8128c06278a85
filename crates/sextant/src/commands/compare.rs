//! `sextant compare`: a statistical verdict of a candidate against a baseline across a suite of
//! test problems, stored in the tracking server next to the runs, usable as a CI gate.
//!
//! This module selects and groups runs and stores the result; the statistics are in
//! `sextant-stats`, the reports in [`render`] (terminal, Markdown) and [`html`].
//!
//! Exit status: 0 when no metric regressed, 1 when one regressed significantly, 2 on a usage or
//! data error (any `Err` returned here becomes 2 in `lib.rs`).

mod html;
mod render;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use sextant_client::{Client, NewRun, RunQuery, now_ms};
use sextant_stats::{
    Comparison, Direction, MetricSamples, ProblemSamples, Settings, Verdict, compare,
};
use sextant_types::{Metric, Run, RunStatus, Tag, ViewType};

use crate::cli::CompareArgs;
use crate::printer::{out, outln};

/// The experiment comparisons are stored in.
pub const COMPARISONS_EXPERIMENT: &str = "comparisons";
/// MLflow's tag for the git branch a run's code came from.
pub const BRANCH_TAG: &str = "mlflow.source.git.branch";

/// One side of the comparison: how it was chosen and the runs it holds.
pub(crate) struct Side {
    pub label: &'static str,
    pub selector: String,
    pub runs: Vec<Run>,
}

/// A run left out of the statistics, and why.
#[derive(Debug, Clone)]
pub(crate) struct Excluded {
    pub side: &'static str,
    pub run_id: String,
    pub run_name: String,
    pub problem: Option<String>,
    pub reason: String,
}

/// A problem measured on one side only (for one metric, or for all of them).
#[derive(Debug, Clone)]
pub(crate) struct OneSided {
    pub problem: String,
    pub metric: String,
    pub present_on: &'static str,
}

/// What a run is grouped by.
#[derive(Debug, Clone)]
enum GroupKey {
    Tag(String),
    Param(String),
    RunName,
    Attribute(&'static str),
}

impl GroupKey {
    fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        let unquote = |k: &str| k.trim_matches('`').trim_matches('"').to_owned();
        if let Some(k) = s.strip_prefix("tags.").or_else(|| s.strip_prefix("tag.")) {
            return Ok(Self::Tag(unquote(k)));
        }
        if let Some(k) = s
            .strip_prefix("params.")
            .or_else(|| s.strip_prefix("param."))
        {
            return Ok(Self::Param(unquote(k)));
        }
        let attr = s
            .strip_prefix("attributes.")
            .or_else(|| s.strip_prefix("attribute."))
            .unwrap_or(s);
        match attr {
            "run_name" => Ok(Self::RunName),
            "user_id" => Ok(Self::Attribute("user_id")),
            "experiment_id" => Ok(Self::Attribute("experiment_id")),
            _ => bail!(
                "--by '{s}' is not a grouping key\nhint: use tags.KEY, params.KEY, run_name, \
                 user_id or experiment_id, e.g. --by tags.problem"
            ),
        }
    }

    fn of(&self, run: &Run) -> Option<String> {
        match self {
            Self::Tag(k) => run
                .data
                .tags
                .iter()
                .find(|t| &t.key == k)
                .map(|t| t.value.clone()),
            Self::Param(k) => run
                .data
                .params
                .iter()
                .find(|t| &t.key == k)
                .map(|t| t.value.clone()),
            Self::RunName => Some(run.info.run_name.clone()),
            Self::Attribute("user_id") => Some(run.info.user_id.clone()),
            Self::Attribute(_) => Some(run.info.experiment_id.clone()),
        }
        .filter(|v| !v.is_empty())
    }
}

/// `NAME[:min|:max]`; minimise when no direction is given.
fn parse_metric(s: &str) -> Result<(String, Direction)> {
    let (name, dir) = match s.rsplit_once(':') {
        Some((n, "min")) => (n, Direction::Minimize),
        Some((n, "max")) => (n, Direction::Maximize),
        Some((_, other)) => bail!(
            "--metric '{s}': unknown direction '{other}'\nhint: write NAME:min (smaller is \
             better) or NAME:max (larger is better)"
        ),
        None => (s, Direction::Minimize),
    };
    if name.trim().is_empty() {
        bail!("--metric '{s}' names no metric\nhint: e.g. --metric cost:min");
    }
    Ok((name.trim().to_owned(), dir))
}

fn mlflow_string(s: &str, flag: &str) -> Result<String> {
    if s.contains('\'') {
        bail!("{flag} '{s}' contains a single quote, which the search grammar cannot hold");
    }
    Ok(format!("'{s}'"))
}

fn and(a: &str, b: &str) -> String {
    match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("({a}) AND ({b})"),
    }
}

fn search(
    client: &Client,
    experiment_ids: &[String],
    filter: &str,
    flag: &str,
) -> Result<Vec<Run>> {
    client
        .search_runs(&RunQuery {
            experiment_ids: experiment_ids.to_vec(),
            filter: filter.to_owned(),
            order_by: vec!["attributes.start_time DESC".into()],
            view: ViewType::ActiveOnly,
            max_results: None,
        })
        .with_context(|| format!("searching runs for {flag} \"{filter}\""))
}

fn tag<'a>(run: &'a Run, key: &str) -> Option<&'a str> {
    run.data
        .tags
        .iter()
        .find(|t| t.key == key)
        .map(|t| t.value.as_str())
}

/// The newest complete suite on `branch`: among runs on the branch carrying `suite_tag`, the
/// suite (tag value) whose newest run started last, skipping suites that still have runs
/// RUNNING or SCHEDULED and suites that share a run with the candidate.
fn latest_suite(
    client: &Client,
    experiment_ids: &[String],
    branch: &str,
    suite_tag: &str,
    extra: Option<&str>,
    candidate: &HashSet<String>,
) -> Result<(String, Vec<Run>)> {
    let filter = and(
        &format!(
            "tags.`{BRANCH_TAG}` = {}",
            mlflow_string(branch, "--baseline-latest-on")?
        ),
        extra.unwrap_or(""),
    );
    let runs = search(client, experiment_ids, &filter, "--baseline-latest-on")?;
    let mut suites: BTreeMap<String, Vec<Run>> = BTreeMap::new();
    for r in runs {
        if let Some(s) = tag(&r, suite_tag) {
            suites.entry(s.to_owned()).or_default().push(r);
        }
    }
    let newest = |rs: &[Run]| {
        rs.iter()
            .filter_map(|r| r.info.start_time)
            .max()
            .unwrap_or(0)
    };
    let mut skipped = Vec::new();
    let best = suites
        .into_iter()
        .filter(|(name, rs)| {
            let open = rs
                .iter()
                .any(|r| matches!(r.info.status, RunStatus::Running | RunStatus::Scheduled));
            let shared = rs.iter().any(|r| candidate.contains(&r.info.run_id));
            if open {
                skipped.push(format!("{name} (still running)"));
            } else if shared {
                skipped.push(format!("{name} (is the candidate)"));
            }
            !open && !shared
        })
        .max_by_key(|(_, rs)| newest(rs));
    match best {
        Some((suite, runs)) => Ok((
            format!("newest complete suite on {branch}: {suite_tag} = {suite}"),
            runs,
        )),
        None => bail!(
            "no complete suite on branch '{branch}': no finished run has tags {BRANCH_TAG} = \
             '{branch}' and {suite_tag}{}\nhint: tag every run of a suite with {suite_tag}=<suite \
             id> (and {BRANCH_TAG}, which mlflow sets from git), or choose the baseline with \
             --baseline FILTER",
            if skipped.is_empty() {
                String::new()
            } else {
                format!(" (skipped: {})", skipped.join(", "))
            }
        ),
    }
}

fn experiment_ids(client: &Client, names: &[String]) -> Result<Vec<String>> {
    if names.is_empty() {
        let all = client
            .search_experiments(None, ViewType::ActiveOnly)
            .context("listing experiments")?;
        let ids: Vec<String> = all
            .into_iter()
            .filter(|e| e.name != COMPARISONS_EXPERIMENT)
            .map(|e| e.experiment_id)
            .collect();
        if ids.is_empty() {
            bail!("the tracking server has no active experiment to search");
        }
        return Ok(ids);
    }
    names
        .iter()
        .map(|n| {
            client
                .get_experiment_by_name(n)
                .with_context(|| format!("looking up experiment '{n}'"))?
                .map(|e| e.experiment_id)
                .ok_or_else(|| {
                    anyhow!(
                        "experiment '{n}' does not exist\nhint: --experiment takes an \
                         experiment's name; leave it out to search every active experiment"
                    )
                })
        })
        .collect()
}

/// The runs grouped into problems, per metric, with everything left out listed.
pub(crate) struct Selection {
    pub samples: Vec<MetricSamples>,
    pub excluded: Vec<Excluded>,
    pub one_sided: Vec<OneSided>,
    /// Run ids per side, per problem (the runs that entered the statistics for some metric).
    pub used: [BTreeMap<String, Vec<String>>; 2],
}

fn latest_value(run: &Run, key: &str) -> Option<f64> {
    run.data
        .metrics
        .iter()
        .filter(|m: &&Metric| m.key == key)
        .max_by_key(|m| (m.step, m.timestamp))
        .map(|m| m.value.0)
}

fn select(
    sides: [&Side; 2],
    key: &GroupKey,
    by: &str,
    metrics: &[(String, Direction)],
) -> Selection {
    let mut excluded = Vec::new();
    // problem -> (baseline runs, candidate runs)
    let mut groups: [BTreeMap<String, Vec<&Run>>; 2] = [BTreeMap::new(), BTreeMap::new()];
    for (i, side) in sides.iter().enumerate() {
        for r in &side.runs {
            let problem = key.of(r);
            let status_reason = match r.info.status {
                RunStatus::Finished => None,
                RunStatus::Failed => Some("run FAILED".to_owned()),
                RunStatus::Killed => Some("run KILLED".to_owned()),
                RunStatus::Running | RunStatus::Scheduled => {
                    Some(format!("run not finished ({})", r.info.status.as_str()))
                }
            };
            let reason = status_reason.or_else(|| problem.is_none().then(|| format!("no {by}")));
            match (reason, problem) {
                (Some(reason), problem) => excluded.push(Excluded {
                    side: side.label,
                    run_id: r.info.run_id.clone(),
                    run_name: r.info.run_name.clone(),
                    problem,
                    reason,
                }),
                (None, Some(p)) => groups[i].entry(p).or_default().push(r),
                (None, None) => {}
            }
        }
    }
    let mut one_sided = Vec::new();
    let mut used: [BTreeMap<String, Vec<String>>; 2] = [BTreeMap::new(), BTreeMap::new()];
    let problems: BTreeSet<&String> = groups[0].keys().chain(groups[1].keys()).collect();
    let mut samples = Vec::new();
    for (metric, direction) in metrics {
        let mut ps = Vec::new();
        for &p in &problems {
            let mut vals: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
            let mut ids: [Vec<String>; 2] = [Vec::new(), Vec::new()];
            for i in 0..2 {
                for r in groups[i].get(p).into_iter().flatten() {
                    match latest_value(r, metric) {
                        Some(v) if v.is_finite() => {
                            vals[i].push(v);
                            ids[i].push(r.info.run_id.clone());
                        }
                        other => excluded.push(Excluded {
                            side: sides[i].label,
                            run_id: r.info.run_id.clone(),
                            run_name: r.info.run_name.clone(),
                            problem: Some(p.clone()),
                            reason: match other {
                                Some(v) => format!("{metric} is {v}"),
                                None => format!("no metric {metric}"),
                            },
                        }),
                    }
                }
            }
            match (vals[0].is_empty(), vals[1].is_empty()) {
                (false, false) => {
                    for i in 0..2 {
                        used[i].entry(p.clone()).or_default().append(&mut ids[i]);
                    }
                    let [baseline, candidate] = vals;
                    ps.push(ProblemSamples {
                        problem: p.clone(),
                        baseline,
                        candidate,
                    });
                }
                (true, true) => {}
                (b_empty, _) => one_sided.push(OneSided {
                    problem: p.clone(),
                    metric: metric.clone(),
                    present_on: if b_empty { "candidate" } else { "baseline" },
                }),
            }
        }
        samples.push(MetricSamples {
            metric: metric.clone(),
            direction: *direction,
            problems: ps,
        });
    }
    for u in &mut used {
        for ids in u.values_mut() {
            ids.sort();
            ids.dedup();
        }
    }
    Selection {
        samples,
        excluded,
        one_sided,
        used,
    }
}

/// The verdict of the whole comparison.
fn overall(c: &Comparison) -> &'static str {
    let has = |v| c.metrics.iter().any(|m| m.verdict == v);
    if has(Verdict::Regressed) {
        "regressed"
    } else if has(Verdict::Improved) {
        "improved"
    } else if c.metrics.iter().all(|m| m.verdict == Verdict::Underpowered) {
        "underpowered"
    } else {
        "no_significant_change"
    }
}

/// Everything a report shows, in one place.
pub(crate) struct Report<'a> {
    pub verdict: &'static str,
    pub sides: [&'a Side; 2],
    pub by: &'a str,
    pub comparison: &'a Comparison,
    pub selection: &'a Selection,
    pub stored_run: Option<String>,
    pub tracking_uri: String,
}

impl Report<'_> {
    pub fn exit_code(&self) -> u8 {
        u8::from(self.comparison.regressed)
    }

    pub fn to_json(&self) -> Value {
        let side = |i: usize| {
            let s = self.sides[i];
            json!({
                "selector": s.selector,
                "runs": s.runs.len(),
                "run_ids": s.runs.iter().map(|r| r.info.run_id.clone()).collect::<Vec<_>>(),
                "runs_by_problem": self.selection.used[i],
            })
        };
        json!({
            "verdict": self.verdict,
            "exit_code": self.exit_code(),
            "tracking_uri": self.tracking_uri,
            "comparison_run_id": self.stored_run,
            "by": self.by,
            "baseline": side(0),
            "candidate": side(1),
            "settings": self.comparison.settings,
            "per_problem_tests": self.comparison.per_problem_tests,
            "metrics": self.comparison.metrics,
            "excluded_runs": self.selection.excluded.iter().map(|e| json!({
                "side": e.side, "run_id": e.run_id, "run_name": e.run_name,
                "problem": e.problem, "reason": e.reason,
            })).collect::<Vec<_>>(),
            "one_sided_problems": self.selection.one_sided.iter().map(|o| json!({
                "problem": o.problem, "metric": o.metric, "present_on": o.present_on,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Write `bytes` to `path` atomically (a temporary file beside it, then a rename).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("{} is not a file path", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| {
        let _ = std::fs::remove_file(&tmp);
        format!("renaming {} to {}", tmp.display(), path.display())
    })
}

/// A metric key MLflow accepts: letters, digits, `_ - . / space`; anything else becomes `_`.
fn metric_key(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| {
            p.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ') {
                        c
                    } else {
                        '_'
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// MLflow's limit on a tag value.
const TAG_LIMIT: usize = 8000;

fn ids_tag(ids: &[String]) -> String {
    let all = ids.join(",");
    if all.len() <= TAG_LIMIT {
        all
    } else {
        format!("{} runs, see compared_runs.json", ids.len())
    }
}

/// Store the comparison as a run of the `comparisons` experiment; returns its run id.
fn store(client: &Client, report: &Report<'_>, markdown: &str, html: &str) -> Result<String> {
    let exp = client
        .get_or_create_experiment(COMPARISONS_EXPERIMENT)
        .context("creating the comparisons experiment")?;
    let c = report.comparison;
    let [b, cand] = report.sides;
    let all_ids = |s: &Side| {
        s.runs
            .iter()
            .map(|r| r.info.run_id.clone())
            .collect::<Vec<_>>()
    };
    let mut tags = vec![
        Tag::new("sextant.compare.verdict", report.verdict),
        Tag::new("sextant.compare.baseline", b.selector.clone()),
        Tag::new("sextant.compare.candidate", cand.selector.clone()),
        Tag::new("sextant.compare.by", report.by),
        Tag::new("sextant.compare.alpha", c.settings.alpha.to_string()),
        Tag::new(
            "sextant.compare.min_effect",
            c.settings.min_effect.to_string(),
        ),
        Tag::new("sextant.compare.seed", c.settings.seed.to_string()),
        Tag::new(
            "sextant.compare.bootstrap",
            c.settings.resamples.to_string(),
        ),
        Tag::new("sextant.compare.baseline_run_ids", ids_tag(&all_ids(b))),
        Tag::new("sextant.compare.candidate_run_ids", ids_tag(&all_ids(cand))),
        Tag::new(
            "sextant.compare.excluded_runs",
            report.selection.excluded.len().to_string(),
        ),
        Tag::new(
            "sextant.compare.one_sided_problems",
            report.selection.one_sided.len().to_string(),
        ),
    ];
    for m in &c.metrics {
        tags.push(Tag::new(
            format!("sextant.compare.verdict.{}", metric_key(&[&m.metric])),
            serde_json::to_value(m.verdict)?
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ));
    }
    let desc = format!(
        "{}: {}",
        report.verdict.replace('_', " "),
        c.metrics
            .iter()
            .map(|m| format!("{} {} ({})", m.metric, m.verdict.label(), m.reason))
            .collect::<Vec<_>>()
            .join("; ")
    );
    tags.push(Tag::new("mlflow.note.content", desc));
    let name: String = format!("compare: {} vs {}", cand.selector, b.selector)
        .chars()
        .take(200)
        .collect();
    let run = client
        .create_run(&NewRun {
            experiment_id: exp,
            run_name: Some(name),
            start_time: Some(now_ms()),
            tags,
            user_id: None,
        })
        .context("creating the comparison run")?;
    let ts = now_ms();
    let metric = |key: String, value: f64| Metric {
        key,
        value: value.into(),
        timestamp: ts,
        step: 0,
        dataset_name: None,
        dataset_digest: None,
        model_id: None,
        run_id: None,
    };
    let mut metrics = Vec::new();
    for m in &c.metrics {
        let k = |s: &str| metric_key(&[&m.metric, s]);
        let s = &m.suite;
        metrics.extend([
            metric(k("signed_rank_p"), s.wilcoxon.p_value),
            metric(k("signed_rank_p_adjusted"), s.p_adjusted),
            metric(k("wins"), s.wins as f64),
            metric(k("ties"), s.ties as f64),
            metric(k("losses"), s.losses as f64),
            metric(k("mean_a12"), s.mean_a12),
            metric(k("problems"), s.problems as f64),
            metric(k("min_attainable_p"), s.min_attainable_p),
        ]);
        for p in &m.problems {
            let k = |s: &str| metric_key(&[&m.metric, &p.problem, s]);
            metrics.extend([
                metric(k("median_difference"), p.difference.estimate),
                metric(k("ci_low"), p.difference.low),
                metric(k("ci_high"), p.difference.high),
                metric(k("p"), p.mann_whitney.p_value),
                metric(k("p_adjusted"), p.p_adjusted),
                metric(k("a12"), p.a12),
            ]);
        }
    }
    client
        .log_batch(&run.info.run_id, &metrics, &[], &[])
        .context("logging the comparison's statistics")?;
    let mut json = report.to_json();
    json["comparison_run_id"] = json!(run.info.run_id);
    let ids = json!({
        "baseline": json["baseline"]["run_ids"],
        "candidate": json["candidate"]["run_ids"],
        "baseline_by_problem": json["baseline"]["runs_by_problem"],
        "candidate_by_problem": json["candidate"]["runs_by_problem"],
    });
    for (path, bytes) in [
        ("comparison.json", serde_json::to_vec_pretty(&json)?),
        ("compared_runs.json", serde_json::to_vec_pretty(&ids)?),
        ("report.md", markdown.as_bytes().to_vec()),
        ("report.html", html.as_bytes().to_vec()),
    ] {
        client
            .upload_artifact_bytes(&run, path, &bytes)
            .with_context(|| format!("uploading {path} to the comparison run"))?;
    }
    client
        .update_run(
            &run.info.run_id,
            Some(RunStatus::Finished),
            Some(now_ms()),
            None,
        )
        .context("finishing the comparison run")?;
    Ok(run.info.run_id)
}

pub fn run(args: CompareArgs) -> Result<ExitCode> {
    let metrics: Vec<(String, Direction)> = args
        .metric
        .iter()
        .map(|m| parse_metric(m))
        .collect::<Result<_>>()?;
    let mut seen = HashSet::new();
    if let Some((dup, _)) = metrics.iter().find(|(m, _)| !seen.insert(m.clone())) {
        bail!("--metric {dup} is given twice");
    }
    let key = GroupKey::parse(&args.by)?;
    let settings = Settings {
        alpha: args.alpha,
        min_effect: args.min_effect,
        seed: args.seed,
        resamples: args.bootstrap,
    };
    if !(settings.alpha > 0.0 && settings.alpha < 1.0) {
        bail!(
            "--alpha must be between 0 and 1 (exclusive), got {}",
            settings.alpha
        );
    }
    if !(0.5..=1.0).contains(&settings.min_effect) {
        bail!(
            "--min-effect is an A12 between 0.5 (any effect) and 1, got {}\nhint: Vargha and \
             Delaney call 0.56 small, 0.64 medium, 0.71 large",
            settings.min_effect
        );
    }
    if settings.resamples == 0 {
        bail!("--bootstrap must be at least 1");
    }
    let user = args.user.clone().or_else(|| std::env::var("USER").ok());
    let client = Client::from_env(args.tracking_uri.clone())?.with_user(user);
    let spinner = indicatif::ProgressBar::new_spinner();
    if !std::io::stderr().is_terminal() {
        spinner.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    spinner.set_message("searching runs");
    let exp_ids = experiment_ids(&client, &args.experiment)?;
    let candidate_runs = search(&client, &exp_ids, &args.candidate, "--candidate")?;
    let candidate_ids: HashSet<String> = candidate_runs
        .iter()
        .map(|r| r.info.run_id.clone())
        .collect();
    let (baseline_selector, baseline_runs) = match (&args.baseline, &args.baseline_latest_on) {
        (filter, Some(branch)) => latest_suite(
            &client,
            &exp_ids,
            branch,
            &args.suite_tag,
            filter.as_deref(),
            &candidate_ids,
        )?,
        (Some(filter), None) => (
            filter.clone(),
            search(&client, &exp_ids, filter, "--baseline")?,
        ),
        (None, None) => {
            bail!("no baseline given\nhint: pass --baseline FILTER or --baseline-latest-on BRANCH")
        }
    };
    spinner.finish_and_clear();
    if candidate_runs.is_empty() {
        bail!(
            "no run matches --candidate \"{}\"\nhint: check the filter (MLflow's search grammar, \
             e.g. tags.git_branch = 'feature') and --experiment",
            args.candidate
        );
    }
    if baseline_runs.is_empty() {
        bail!(
            "no run matches the baseline ({baseline_selector})\nhint: check the filter and --experiment"
        );
    }
    if let Some(r) = baseline_runs
        .iter()
        .find(|r| candidate_ids.contains(&r.info.run_id))
    {
        bail!(
            "run {} ({}) is in both the baseline and the candidate\nhint: make the two filters \
             exclusive, e.g. by branch or suite tag",
            r.info.run_id,
            r.info.run_name
        );
    }
    let sides = [
        Side {
            label: "baseline",
            selector: baseline_selector,
            runs: baseline_runs,
        },
        Side {
            label: "candidate",
            selector: args.candidate.clone(),
            runs: candidate_runs,
        },
    ];
    let selection = select([&sides[0], &sides[1]], &key, &args.by, &metrics);
    if args.require_complete && (!selection.excluded.is_empty() || !selection.one_sided.is_empty())
    {
        let mut lines: Vec<String> = selection
            .excluded
            .iter()
            .map(|e| {
                format!(
                    "  {} run {} ({}){}: {}",
                    e.side,
                    e.run_id,
                    e.run_name,
                    e.problem
                        .as_ref()
                        .map(|p| format!(", problem {p}"))
                        .unwrap_or_default(),
                    e.reason
                )
            })
            .collect();
        lines.extend(selection.one_sided.iter().map(|o| {
            format!(
                "  problem {} has {} only on the {}",
                o.problem, o.metric, o.present_on
            )
        }));
        bail!(
            "--require-complete: the suites are not complete\n{}\nhint: re-run the failed runs, \
             or drop --require-complete to compare what is there",
            lines.join("\n")
        );
    }
    for m in &selection.samples {
        if m.problems.is_empty() {
            bail!(
                "no problem has metric {} on both sides (grouped by {})\nhint: check the metric \
                 name and --by; runs left out: {}",
                m.metric,
                args.by,
                selection.excluded.len()
            );
        }
    }
    let comparison = compare(&selection.samples, &settings)?;
    let mut report = Report {
        verdict: overall(&comparison),
        sides: [&sides[0], &sides[1]],
        by: &args.by,
        comparison: &comparison,
        selection: &selection,
        stored_run: None,
        tracking_uri: client.base_url().to_owned(),
    };
    let markdown = render::markdown(&report);
    let html = html::report(&report);
    if !args.no_store {
        report.stored_run = Some(store(&client, &report, &markdown, &html)?);
    }
    // Files are written after storing so they carry the comparison run's id.
    let markdown = render::markdown(&report);
    let html = html::report(&report);
    if let Some(path) = &args.markdown {
        write_atomic(path, markdown.as_bytes())?;
    }
    if let Some(path) = &args.html {
        write_atomic(path, html.as_bytes())?;
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        out!("{}", render::terminal(&report, color));
    }
    Ok(ExitCode::from(report.exit_code()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_directions() {
        assert_eq!(
            parse_metric("cost").unwrap(),
            ("cost".into(), Direction::Minimize)
        );
        assert_eq!(
            parse_metric("acc:max").unwrap(),
            ("acc".into(), Direction::Maximize)
        );
        assert_eq!(
            parse_metric("a:b:min").unwrap(),
            ("a:b".into(), Direction::Minimize)
        );
        assert!(parse_metric("acc:up").is_err());
        assert!(parse_metric(":max").is_err());
    }

    #[test]
    fn group_keys() {
        assert!(
            matches!(GroupKey::parse("tags.problem").unwrap(), GroupKey::Tag(k) if k == "problem")
        );
        assert!(
            matches!(GroupKey::parse("params.`data set`").unwrap(), GroupKey::Param(k) if k == "data set")
        );
        assert!(matches!(
            GroupKey::parse("attributes.run_name").unwrap(),
            GroupKey::RunName
        ));
        assert!(GroupKey::parse("metrics.x").is_err());
    }

    #[test]
    fn metric_keys_are_sanitised() {
        assert_eq!(metric_key(&["cost", "route:A→B", "p"]), "cost/route_A_B/p");
    }

    #[test]
    fn filters_combine() {
        assert_eq!(and("a = 1", ""), "a = 1");
        assert_eq!(and("a = 1", "b = 2"), "(a = 1) AND (b = 2)");
        assert!(mlflow_string("it's", "--x").is_err());
    }
}
