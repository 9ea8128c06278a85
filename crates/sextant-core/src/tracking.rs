//! The tracking service: experiments, runs, metrics, params, tags, datasets, logged models.

use std::sync::Arc;

use sextant_search as search;
use sextant_store::{
    ChartQuery, ChartX, ExperimentSearch, HistoryCursor, HistoryPage, LoggedModelSearch,
    MetadataStore, NewLoggedModel, NewRun, Page, RunSearch, RunUpdate, StoreError,
};
use sextant_types::{
    DatasetInput, Experiment, LifecycleStage, LoggedModel, LoggedModelMetric, LoggedModelStatus,
    Metric, ModelInput, ModelOutput, Param, Run, RunInfo, RunStatus, Tag, ViewType,
};

use crate::validation::{self as v, MAX_EXPERIMENTS_LISTED_PER_PAGE, MAX_RESULTS_SEARCH_RUNS};
use crate::{CoreError, Result, names};

/// MLflow's tag for a run's name.
pub const RUN_NAME_TAG: &str = "mlflow.runName";

/// A search request as the API gives it: raw strings, still to be parsed.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub filter: String,
    pub order_by: Vec<String>,
    pub max_results: Option<u64>,
    pub offset: u64,
}

/// A new run as the API gives it.
#[derive(Debug, Clone, Default)]
pub struct CreateRun {
    pub experiment_id: Option<String>,
    pub user_id: String,
    pub run_name: Option<String>,
    pub start_time: Option<i64>,
    pub tags: Vec<Tag>,
}

/// Experiments, runs and logged models, with MLflow's rules.
#[derive(Clone)]
pub struct TrackingService {
    store: Arc<dyn MetadataStore>,
}

fn invalid(msg: impl Into<String>) -> CoreError {
    CoreError::InvalidParameter(msg.into())
}

impl TrackingService {
    pub fn new(store: Arc<dyn MetadataStore>) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &Arc<dyn MetadataStore> {
        &self.store
    }

    // --- experiments

    pub async fn create_experiment(
        &self,
        name: &str,
        artifact_location: Option<&str>,
        tags: Vec<Tag>,
    ) -> Result<String> {
        v::validate_experiment_name(name)?;
        for t in &tags {
            v::validate_experiment_tag(t)?;
        }
        let loc = artifact_location.unwrap_or("");
        if loc.starts_with("runs:") {
            return Err(invalid(format!(
                "Artifact location cannot be a runs:/ URI. Given: '{loc}'"
            )));
        }
        Ok(self.store.create_experiment(name, loc, &tags).await?)
    }

    pub async fn get_experiment(&self, id: &str) -> Result<Experiment> {
        Ok(self.store.get_experiment(id).await?)
    }

    pub async fn get_experiment_by_name(&self, name: &str) -> Result<Experiment> {
        Ok(self.store.get_experiment_by_name(name).await?)
    }

    pub async fn search_experiments(
        &self,
        req: SearchRequest,
        view: ViewType,
    ) -> Result<Page<Experiment>> {
        let max = req.max_results.unwrap_or(1000);
        if max == 0 || max > MAX_EXPERIMENTS_LISTED_PER_PAGE {
            return Err(invalid(format!(
                "Invalid value {max} for parameter 'max_results' supplied. It must be at most \
                 {MAX_EXPERIMENTS_LISTED_PER_PAGE}, but got value {max}"
            )));
        }
        let filter = search::parse_experiment_filter(&req.filter)?;
        let order_by = parse_order_by(&req.order_by, search::parse_experiment_order_by)?;
        Ok(self
            .store
            .search_experiments(ExperimentSearch {
                filter,
                order_by,
                view,
                max_results: max,
                offset: req.offset,
            })
            .await?)
    }

    pub async fn rename_experiment(&self, id: &str, new_name: &str) -> Result<()> {
        v::validate_experiment_name(new_name)?;
        Ok(self.store.rename_experiment(id, new_name).await?)
    }

    pub async fn delete_experiment(&self, id: &str) -> Result<()> {
        Ok(self
            .store
            .set_experiment_lifecycle(id, LifecycleStage::Deleted)
            .await?)
    }

    pub async fn restore_experiment(&self, id: &str) -> Result<()> {
        Ok(self
            .store
            .set_experiment_lifecycle(id, LifecycleStage::Active)
            .await?)
    }

    pub async fn set_experiment_tag(&self, id: &str, tag: Tag) -> Result<()> {
        v::validate_experiment_tag(&tag)?;
        Ok(self.store.set_experiment_tag(id, &tag).await?)
    }

    pub async fn delete_experiment_tag(&self, id: &str, key: &str) -> Result<()> {
        Ok(self.store.delete_experiment_tag(id, key).await?)
    }

    /// Whether the store answers within `within` (for `/health`).
    pub async fn ping(&self, within: std::time::Duration) -> Result<()> {
        Ok(self.store.ping(within).await?)
    }

    // --- runs

    pub async fn create_run(&self, req: CreateRun) -> Result<Run> {
        let mut tags = req.tags;
        for (i, t) in tags.iter_mut().enumerate() {
            v::validate_tag(t, &format!("tags[{i}]."))?;
        }
        let tag_name = tags
            .iter()
            .find(|t| t.key == RUN_NAME_TAG)
            .map(|t| t.value.clone());
        let run_name = match (req.run_name.filter(|n| !n.is_empty()), tag_name) {
            (Some(n), Some(t)) if n != t => {
                return Err(invalid(format!(
                    "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with \
                     different values (run_name='{n}', mlflow.runName='{t}')."
                )));
            }
            (Some(n), _) | (None, Some(n)) => n,
            (None, None) => names::random_run_name(),
        };
        v::validate_run_name("run_name", &run_name)?;
        let experiment_id = req
            .experiment_id
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| "0".into());
        Ok(self
            .store
            .create_run(NewRun {
                experiment_id,
                user_id: req.user_id,
                run_name,
                start_time: req.start_time.or_else(|| Some(sextant_types::now_millis())),
                tags,
            })
            .await?)
    }

    pub async fn get_run(&self, run_id: &str) -> Result<Run> {
        Ok(self.store.get_run(run_id).await?)
    }

    pub async fn update_run(
        &self,
        run_id: &str,
        status: Option<RunStatus>,
        end_time: Option<i64>,
        run_name: Option<String>,
    ) -> Result<RunInfo> {
        if let Some(n) = &run_name {
            v::validate_run_name("run_name", n)?;
        }
        Ok(self
            .store
            .update_run(
                run_id,
                RunUpdate {
                    status,
                    end_time,
                    run_name,
                },
            )
            .await?)
    }

    pub async fn delete_run(&self, run_id: &str) -> Result<()> {
        Ok(self
            .store
            .set_run_lifecycle(run_id, LifecycleStage::Deleted)
            .await?)
    }

    pub async fn restore_run(&self, run_id: &str) -> Result<()> {
        Ok(self
            .store
            .set_run_lifecycle(run_id, LifecycleStage::Active)
            .await?)
    }

    pub async fn log_metric(&self, run_id: &str, metric: Metric) -> Result<()> {
        v::validate_metric(&metric, "")?;
        Ok(self
            .store
            .log_batch(run_id, vec![metric], vec![], vec![])
            .await?)
    }

    pub async fn log_param(&self, run_id: &str, mut param: Param) -> Result<()> {
        v::validate_param(&mut param, "")?;
        match self
            .store
            .log_batch(run_id, vec![], vec![param], vec![])
            .await
        {
            Err(StoreError::ParamsChanged { run_id, changes }) if changes.len() == 1 => {
                Err(CoreError::InvalidParameter(
                    StoreError::param_changed_message(&run_id, &changes[0]),
                ))
            }
            other => Ok(other?),
        }
    }

    pub async fn set_tag(&self, run_id: &str, mut tag: Tag) -> Result<()> {
        v::validate_tag(&mut tag, "")?;
        Ok(self
            .store
            .log_batch(run_id, vec![], vec![], vec![tag])
            .await?)
    }

    pub async fn delete_tag(&self, run_id: &str, key: &str) -> Result<()> {
        Ok(self.store.delete_run_tag(run_id, key).await?)
    }

    pub async fn log_batch(
        &self,
        run_id: &str,
        metrics: Vec<Metric>,
        mut params: Vec<Param>,
        mut tags: Vec<Tag>,
    ) -> Result<()> {
        v::validate_batch(&metrics, &mut params, &mut tags)?;
        // Identical duplicate params in one batch are fine; store each once.
        let mut seen = std::collections::HashSet::new();
        params.retain(|p| seen.insert(p.key.clone()));
        Ok(self.store.log_batch(run_id, metrics, params, tags).await?)
    }

    pub async fn log_inputs(
        &self,
        run_id: &str,
        datasets: Vec<DatasetInput>,
        models: Vec<ModelInput>,
    ) -> Result<()> {
        if datasets.len() > 1000 {
            return Err(invalid(
                "A batch logging request can contain at most 1000 datasets.",
            ));
        }
        for d in &datasets {
            let ds = &d.dataset;
            v::check_len("Dataset name", &ds.name, v::MAX_DATASET_NAME_SIZE)?;
            v::check_len("Dataset digest", &ds.digest, v::MAX_DATASET_DIGEST_SIZE)?;
            v::check_len("Dataset source", &ds.source, v::MAX_DATASET_SOURCE_SIZE)?;
            if let Some(s) = &ds.schema {
                v::check_len("Dataset schema", s, v::MAX_DATASET_SCHEMA_SIZE)?;
            }
            if let Some(p) = &ds.profile {
                v::check_len("Dataset profile", p, v::MAX_DATASET_PROFILE_SIZE)?;
            }
            for t in &d.tags {
                v::check_len("InputTag key", &t.key, v::MAX_INPUT_TAG_KEY_SIZE)?;
                v::check_len("InputTag value", &t.value, v::MAX_INPUT_TAG_VALUE_SIZE)?;
            }
        }
        Ok(self.store.log_inputs(run_id, datasets, models).await?)
    }

    pub async fn log_outputs(&self, run_id: &str, models: Vec<ModelOutput>) -> Result<()> {
        Ok(self.store.log_outputs(run_id, models).await?)
    }

    pub async fn metric_history(
        &self,
        run_id: &str,
        key: &str,
        max_results: u64,
        after: Option<HistoryCursor>,
    ) -> Result<HistoryPage> {
        Ok(self
            .store
            .get_metric_history(run_id, key, max_results, after)
            .await?)
    }

    /// Every point of a metric of one run, read in pages.
    async fn full_history(&self, run_id: &str, key: &str) -> Result<Vec<Metric>> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .store
                .get_metric_history(run_id, key, 100_000, after)
                .await?;
            all.extend(page.metrics);
            match page.next {
                Some(c) => after = Some(c),
                None => return Ok(all),
            }
        }
    }

    /// One metric of several runs (MLflow's ajax `get-history-bulk`): each point carries its
    /// run id; runs in the order given, at most `max_results` points in all.
    pub async fn metric_history_bulk(
        &self,
        run_ids: &[String],
        key: &str,
        max_results: usize,
    ) -> Result<Vec<Metric>> {
        if run_ids.is_empty() {
            return Err(invalid(v::missing_value("run_id")));
        }
        if run_ids.len() > MAX_BULK_RUNS {
            return Err(invalid(format!(
                "GetMetricHistoryBulk request cannot specify more than {MAX_BULK_RUNS} run_ids. \
                 Received {} run_ids.",
                run_ids.len()
            )));
        }
        let mut out = Vec::new();
        for run_id in run_ids {
            for mut m in self.full_history(run_id, key).await? {
                if out.len() >= max_results {
                    return Ok(out);
                }
                m.run_id = Some(run_id.clone());
                out.push(m);
            }
        }
        Ok(out)
    }

    /// A metric of several runs sampled over steps (MLflow's `get-history-bulk-interval`, what
    /// charts use): per run at most `max_results` distinct steps in `[start_step, end_step]`,
    /// evenly spaced, always including the first and last, with every point at those steps.
    pub async fn metric_history_sampled(
        &self,
        run_ids: &[String],
        key: &str,
        start_step: Option<i64>,
        end_step: Option<i64>,
        max_results: usize,
    ) -> Result<Vec<Metric>> {
        if run_ids.is_empty() {
            return Err(invalid(v::missing_value("run_ids")));
        }
        if run_ids.len() > MAX_BULK_RUNS {
            return Err(invalid(format!(
                "GetMetricHistoryBulkInterval request must specify at most {MAX_BULK_RUNS} \
                 run_ids. Received {} run_ids.",
                run_ids.len()
            )));
        }
        if let (Some(a), Some(b)) = (start_step, end_step) {
            if a > b {
                return Err(invalid(format!(
                    "end_step must be greater than start_step. Found start_step={a} and \
                     end_step={b}."
                )));
            }
        }
        let mut out = Vec::new();
        for run_id in run_ids {
            let points: Vec<Metric> = self
                .full_history(run_id, key)
                .await?
                .into_iter()
                .filter(|m| start_step.is_none_or(|a| m.step >= a))
                .filter(|m| end_step.is_none_or(|b| m.step <= b))
                .collect();
            let mut steps: Vec<i64> = points.iter().map(|m| m.step).collect();
            steps.sort_unstable();
            steps.dedup();
            let keep = sample_steps(&steps, max_results);
            let mut chosen: Vec<Metric> = points
                .into_iter()
                .filter(|m| keep.binary_search(&m.step).is_ok())
                .map(|mut m| {
                    m.run_id = Some(run_id.clone());
                    m
                })
                .collect();
            chosen.sort_by(|a, b| a.step.cmp(&b.step).then(a.timestamp.cmp(&b.timestamp)));
            out.extend(chosen);
        }
        Ok(out)
    }

    pub async fn search_runs(
        &self,
        experiment_ids: Vec<String>,
        req: SearchRequest,
        view: ViewType,
    ) -> Result<Page<Run>> {
        let max = req.max_results.unwrap_or(1000);
        if max > MAX_RESULTS_SEARCH_RUNS {
            return Err(invalid(format!(
                "Invalid value {max} for parameter 'max_results' supplied. It must be at most \
                 {MAX_RESULTS_SEARCH_RUNS}, but got value {max}"
            )));
        }
        v::list_limit(
            "experiment_ids",
            experiment_ids.len(),
            v::MAX_SEARCH_EXPERIMENT_IDS,
        )?;
        for e in &experiment_ids {
            if e.trim().parse::<i64>().is_err() {
                return Err(invalid(format!(
                    "Invalid experiment ID '{e}'. Experiment ID must be a valid integer."
                )));
            }
        }
        let filter = search::parse_run_filter(&req.filter)?;
        let order_by = parse_order_by(&req.order_by, search::parse_run_order_by)?;
        if max == 0 {
            return Ok(Page {
                items: vec![],
                next_offset: None,
            });
        }
        Ok(self
            .store
            .search_runs(RunSearch {
                experiment_ids,
                filter,
                order_by,
                view,
                max_results: max,
                offset: req.offset,
            })
            .await?)
    }

    // --- logged models

    pub async fn create_logged_model(&self, model: NewLoggedModel) -> Result<LoggedModel> {
        if model
            .name
            .chars()
            .any(|c| matches!(c, '/' | ':' | '.' | '%' | '"' | '\''))
        {
            return Err(invalid(format!(
                "Invalid model name ('{}') provided. Model name must be a non-empty string and \
                 cannot contain the following characters: ('/', ':', '.', '%', '\"', \"'\")",
                model.name
            )));
        }
        Ok(self.store.create_logged_model(model).await?)
    }

    pub async fn get_logged_model(&self, id: &str, allow_deleted: bool) -> Result<LoggedModel> {
        Ok(self.store.get_logged_model(id, allow_deleted).await?)
    }

    pub async fn finalize_logged_model(
        &self,
        id: &str,
        status: LoggedModelStatus,
    ) -> Result<LoggedModel> {
        Ok(self.store.finalize_logged_model(id, status).await?)
    }

    pub async fn delete_logged_model(&self, id: &str) -> Result<()> {
        Ok(self.store.delete_logged_model(id).await?)
    }

    pub async fn set_logged_model_tags(&self, id: &str, tags: Vec<Tag>) -> Result<()> {
        Ok(self.store.set_logged_model_tags(id, tags).await?)
    }

    pub async fn delete_logged_model_tag(&self, id: &str, key: &str) -> Result<()> {
        Ok(self.store.delete_logged_model_tag(id, key).await?)
    }

    pub async fn log_logged_model_params(&self, id: &str, params: Vec<Param>) -> Result<()> {
        Ok(self.store.log_logged_model_params(id, params).await?)
    }

    pub async fn log_logged_model_metrics(
        &self,
        id: &str,
        metrics: Vec<LoggedModelMetric>,
    ) -> Result<()> {
        Ok(self.store.log_logged_model_metrics(id, metrics).await?)
    }

    pub async fn search_logged_models(
        &self,
        experiment_ids: Vec<String>,
        req: SearchRequest,
    ) -> Result<Page<LoggedModel>> {
        v::list_limit(
            "experiment_ids",
            experiment_ids.len(),
            v::MAX_SEARCH_EXPERIMENT_IDS,
        )?;
        let filter = search::parse_logged_model_filter(&req.filter)?;
        let order_by = parse_order_by(&req.order_by, search::parse_logged_model_order_by)?;
        Ok(self
            .store
            .search_logged_models(LoggedModelSearch {
                experiment_ids,
                filter,
                order_by,
                max_results: req.max_results.unwrap_or(100),
                offset: req.offset,
            })
            .await?)
    }
}

/// At most this many runs per bulk history request (MLflow's limit).
pub const MAX_BULK_RUNS: usize = 100;

/// At most `n` of the sorted distinct `steps`, evenly spaced, always keeping the first and last.
pub fn sample_steps(steps: &[i64], n: usize) -> Vec<i64> {
    if steps.len() <= n || n == 0 {
        return if n == 0 { vec![] } else { steps.to_vec() };
    }
    if n == 1 {
        return vec![steps[0]];
    }
    let last = steps.len() - 1;
    let mut out: Vec<i64> = (0..n)
        .map(|i| steps[(i * last + (n - 1) / 2) / (n - 1)])
        .collect();
    out.dedup();
    out
}

/// Parse an `order_by` list with `parse`, refusing a key named twice.
pub(crate) fn parse_order_by<F: PartialEq>(
    raw: &[String],
    parse: impl Fn(&str) -> std::result::Result<search::OrderBy<F>, search::SearchError>,
) -> Result<Vec<search::OrderBy<F>>> {
    v::list_limit("order_by", raw.len(), v::MAX_ORDER_BY_KEYS)?;
    let parsed = raw
        .iter()
        .map(|o| parse(o))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    no_duplicate_order_keys(&parsed, raw)?;
    Ok(parsed)
}

/// Refuses an `order_by` list that names the same key twice (MLflow's own server fails on it
/// with an internal error; it is a user mistake, so say so).
fn no_duplicate_order_keys<F: PartialEq>(
    parsed: &[search::OrderBy<F>],
    raw: &[String],
) -> Result<()> {
    for (i, o) in parsed.iter().enumerate() {
        if let Some(j) = parsed[..i].iter().position(|p| p.field == o.field) {
            return Err(invalid(format!(
                "Invalid order_by clause '{}': duplicate order_by key, already ordered by '{}'",
                raw[i], raw[j]
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod sampling_tests {
    use super::sample_steps;

    #[test]
    fn samples_keep_ends_and_spread_evenly() {
        let steps: Vec<i64> = (0..1000).collect();
        let s = sample_steps(&steps, 5);
        assert_eq!(s.len(), 5);
        assert_eq!((s[0], s[4]), (0, 999));
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(sample_steps(&[1, 2, 3], 10), vec![1, 2, 3]);
        assert_eq!(sample_steps(&[1, 2, 3], 1), vec![1]);
        assert!(sample_steps(&[1, 2, 3], 0).is_empty());
        let s = sample_steps(&[0, 10, 20, 30], 2);
        assert_eq!(s, vec![0, 30]);
    }
}

// --- charts and summaries for the web UI

/// What a metric chart's x axis measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartAxis {
    /// The point's step.
    Step,
    /// The point's timestamp (milliseconds since the epoch).
    Time,
}

impl ChartAxis {
    /// `step` or `time`; anything else is a clear error.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "step" => Ok(Self::Step),
            "time" => Ok(Self::Time),
            other => Err(invalid(format!(
                "Invalid value '{other}' for parameter 'x': expected 'step' or 'time'"
            ))),
        }
    }
}

/// One bucket of a downsampled metric: the points whose x falls in one equal-width slice of
/// the range. `min` and `max` keep spikes visible; `last` is the value of the bucket's last
/// point (by x), drawn as the line. NaN values are counted but never become min, max or last.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartBucket {
    /// x of the bucket's first point.
    pub x_first: f64,
    /// x of the bucket's last point: where the line is drawn.
    pub x: f64,
    pub min: f64,
    pub max: f64,
    pub last: f64,
    /// Points in the bucket (NaN ones included).
    pub count: usize,
}

/// A metric of one run, downsampled for drawing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricChart {
    /// Non-empty buckets, in x order.
    pub buckets: Vec<ChartBucket>,
    /// Points in the requested range before downsampling.
    pub total_points: usize,
    /// Points whose value is NaN (not drawn).
    pub nan_points: usize,
}

/// Largest number of buckets a chart may ask for.
pub const MAX_CHART_POINTS: usize = 20_000;

/// A run count and the latest activity of one experiment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExperimentSummary {
    pub experiment_id: String,
    /// Active runs (an exact count).
    pub run_count: u64,
    /// The latest start or end time of an active run or the experiment's last update,
    /// whichever is later.
    pub last_activity: Option<i64>,
}

impl TrackingService {
    /// A metric of one run downsampled by the store into at most `points` equal-width buckets
    /// over step or time, in the optional x range `[from, to]`; min/max per bucket keep
    /// spikes visible.
    pub async fn metric_chart(
        &self,
        run_id: &str,
        key: &str,
        points: usize,
        axis: ChartAxis,
        from: Option<f64>,
        to: Option<f64>,
    ) -> Result<MetricChart> {
        if run_id.trim().is_empty() {
            return Err(invalid(v::missing_value("run_id")));
        }
        if key.trim().is_empty() {
            return Err(invalid(v::missing_value("key")));
        }
        if points == 0 || points > MAX_CHART_POINTS {
            return Err(invalid(format!(
                "Invalid value {points} for parameter 'points': it must be between 1 and \
                 {MAX_CHART_POINTS}"
            )));
        }
        if let (Some(a), Some(b)) = (from, to) {
            if a > b {
                return Err(invalid(format!(
                    "Invalid range: 'from' ({a}) is greater than 'to' ({b})"
                )));
            }
        }
        // x values are integers (steps, milliseconds): keep the whole ones inside the range.
        let bound = |v: f64| -> i64 {
            if v >= i64::MAX as f64 {
                i64::MAX
            } else if v <= i64::MIN as f64 {
                i64::MIN
            } else {
                v as i64
            }
        };
        let data = self
            .store
            .metric_chart(ChartQuery {
                run_id: run_id.to_owned(),
                key: key.to_owned(),
                x: match axis {
                    ChartAxis::Step => ChartX::Step,
                    ChartAxis::Time => ChartX::Timestamp,
                },
                buckets: points,
                from: from.map(|v| bound(v.ceil())),
                to: to.map(|v| bound(v.floor())),
            })
            .await?;
        Ok(MetricChart {
            buckets: data
                .buckets
                .into_iter()
                .map(|b| ChartBucket {
                    x_first: b.x_first as f64,
                    x: b.x as f64,
                    min: b.min,
                    max: b.max,
                    last: b.last,
                    count: usize::try_from(b.count).unwrap_or(usize::MAX),
                })
                .collect(),
            total_points: usize::try_from(data.total).unwrap_or(usize::MAX),
            nan_points: usize::try_from(data.nan).unwrap_or(usize::MAX),
        })
    }

    /// How many active runs an experiment has and when it last saw activity: one SQL count in
    /// the store, however many runs there are.
    pub async fn experiment_summary(&self, id: &str) -> Result<ExperimentSummary> {
        let exp = self.get_experiment(id).await?;
        let stats = self.store.experiment_run_stats(&exp.experiment_id).await?;
        let last_activity = [
            Some(exp.last_update_time).filter(|t| *t > 0),
            stats.last_start_time,
            stats.last_end_time,
        ]
        .into_iter()
        .flatten()
        .max();
        Ok(ExperimentSummary {
            experiment_id: exp.experiment_id,
            run_count: stats.active_runs,
            last_activity,
        })
    }
}
