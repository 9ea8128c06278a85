//! `/mlflow/runs/*` and `/mlflow/metrics/*`.

use axum::extract::State;
use serde::{Deserialize, Deserializer};
use sextant_core::tracking::{CreateRun, SearchRequest};
use sextant_store::HistoryCursor;
use sextant_types::{DatasetInput, Metric, ModelInput, ModelOutput, RunStatus, Tag, WireF64};

use super::{
    JsonResult, ListResult, decode_token, empty, encode_token, list_response, max_results,
    offset_of, offset_token, wrap,
};
use crate::AppState;
use crate::error::ApiError;
use crate::request::Msg;

/// int64 as protobuf's JSON allows it: a number or a numeric string.
pub fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        I(i64),
        F(f64),
        S(String),
    }
    match N::deserialize(d)? {
        N::I(i) => Ok(i),
        #[expect(
            clippy::cast_possible_truncation,
            reason = "protobuf int64 from a float"
        )]
        N::F(f) => Ok(f as i64),
        N::S(s) => s.trim().parse().map_err(serde::de::Error::custom),
    }
}

fn lenient_opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    lenient_i64(d).map(Some)
}

/// A metric as clients send it (step defaults to 0, as in protobuf).
#[derive(Debug, Deserialize)]
pub struct MetricIn {
    pub key: String,
    pub value: WireF64,
    #[serde(default, deserialize_with = "lenient_opt_i64")]
    pub timestamp: Option<i64>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub step: i64,
    #[serde(default)]
    pub dataset_name: Option<String>,
    #[serde(default)]
    pub dataset_digest: Option<String>,
    #[serde(default)]
    pub model_id: Option<String>,
}

impl MetricIn {
    pub fn into_metric(self) -> Metric {
        Metric {
            key: self.key,
            value: self.value,
            timestamp: self.timestamp.unwrap_or_else(sextant_types::now_millis),
            step: self.step,
            dataset_name: self.dataset_name.filter(|s| !s.is_empty()),
            dataset_digest: self.dataset_digest.filter(|s| !s.is_empty()),
            model_id: self.model_id.filter(|s| !s.is_empty()),
            run_id: None,
        }
    }
}

/// A key/value pair whose value may be absent (protobuf's empty string).
#[derive(Debug, Deserialize)]
pub struct TagIn {
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
}

impl From<TagIn> for Tag {
    fn from(t: TagIn) -> Self {
        Tag::new(t.key, t.value.unwrap_or_default())
    }
}

pub fn tags(m: &Msg, field: &str) -> Result<Vec<Tag>, ApiError> {
    Ok(m.list::<TagIn>(field)?.into_iter().map(Tag::from).collect())
}

pub async fn create(State(s): State<AppState>, m: Msg) -> JsonResult {
    let run = s
        .tracking
        .create_run(CreateRun {
            experiment_id: m.opt_str("experiment_id")?,
            user_id: m.opt_str("user_id")?.unwrap_or_default(),
            run_name: m.opt_str("run_name")?,
            start_time: m.opt_i64("start_time")?,
            tags: tags(&m, "tags")?,
        })
        .await?;
    wrap("run", &run)
}

pub async fn get(State(s): State<AppState>, m: Msg) -> JsonResult {
    wrap("run", &s.tracking.get_run(&m.run_id()?).await?)
}

pub async fn update(State(s): State<AppState>, m: Msg) -> JsonResult {
    let run_id = m.run_id()?;
    let status = match m.opt_str("status")? {
        None => None,
        Some(st) => Some(RunStatus::parse(&st).ok_or_else(|| {
            ApiError::invalid(format!("Invalid value '{st}' for parameter 'status'"))
        })?),
    };
    let info = s
        .tracking
        .update_run(
            &run_id,
            status,
            m.opt_i64("end_time")?,
            m.opt_str("run_name")?,
        )
        .await?;
    wrap("run_info", &info)
}

pub async fn delete(State(s): State<AppState>, m: Msg) -> JsonResult {
    s.tracking.delete_run(&m.run_id()?).await?;
    empty()
}

pub async fn restore(State(s): State<AppState>, m: Msg) -> JsonResult {
    s.tracking.restore_run(&m.run_id()?).await?;
    empty()
}

pub async fn log_metric(State(s): State<AppState>, m: Msg) -> JsonResult {
    let run_id = m.run_id()?;
    let metric = Metric {
        key: m.str("key")?,
        value: WireF64(m.f64("value")?),
        timestamp: m.i64("timestamp")?,
        step: m.opt_i64("step")?.unwrap_or(0),
        dataset_name: m.opt_str("dataset_name")?.filter(|s| !s.is_empty()),
        dataset_digest: m.opt_str("dataset_digest")?.filter(|s| !s.is_empty()),
        model_id: m.opt_str("model_id")?.filter(|s| !s.is_empty()),
        run_id: None,
    };
    s.tracking.log_metric(&run_id, metric).await?;
    empty()
}

pub async fn log_param(State(s): State<AppState>, m: Msg) -> JsonResult {
    let run_id = m.run_id()?;
    let param = Tag::new(m.str("key")?, m.str_allow_empty("value")?);
    s.tracking.log_param(&run_id, param).await?;
    empty()
}

pub async fn set_tag(State(s): State<AppState>, m: Msg) -> JsonResult {
    let run_id = m.run_id()?;
    let tag = Tag::new(m.str("key")?, m.str_allow_empty("value")?);
    s.tracking.set_tag(&run_id, tag).await?;
    empty()
}

pub async fn delete_tag(State(s): State<AppState>, m: Msg) -> JsonResult {
    let run_id = m.run_id()?;
    s.tracking.delete_tag(&run_id, &m.str("key")?).await?;
    empty()
}

/// A log-batch body in the shape clients send it, for the fast path of [`log_batch`].
#[derive(Debug, Deserialize)]
struct BatchIn {
    #[serde(default)]
    run_id: Option<String>,
    #[serde(default)]
    run_uuid: Option<String>,
    #[serde(default)]
    metrics: Vec<MetricIn>,
    #[serde(default)]
    params: Vec<TagIn>,
    #[serde(default)]
    tags: Vec<TagIn>,
}

/// `runs/log-batch`, the hot path of ingestion. A well-formed body is decoded straight into
/// typed values (no intermediate JSON tree); anything else goes through [`Msg`], so every
/// malformed request gets exactly MLflow's error message.
pub async fn log_batch(
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> JsonResult {
    if body.len() > sextant_core::validation::MAX_BATCH_LOG_REQUEST_SIZE {
        return Err(ApiError::invalid(format!(
            "Batched logging API requests must be at most {} bytes, got a request of size {}.",
            sextant_core::validation::MAX_BATCH_LOG_REQUEST_SIZE,
            body.len()
        )));
    }
    if !body.is_empty() && !headers.contains_key(axum::http::header::CONTENT_TYPE) {
        return Err(ApiError::invalid(
            "Bad Request. Content-Type header is missing.",
        ));
    }
    let fast = serde_json::from_slice::<BatchIn>(&body).ok().and_then(|b| {
        let run_id = b
            .run_id
            .clone()
            .filter(|r| !r.is_empty())
            .or_else(|| b.run_uuid.clone().filter(|r| !r.is_empty()))?;
        Some((run_id, b))
    });
    let (run_id, metrics, params, tags_) = match fast {
        Some((run_id, b)) => (
            run_id,
            b.metrics.into_iter().map(MetricIn::into_metric).collect(),
            b.params.into_iter().map(Tag::from).collect(),
            b.tags.into_iter().map(Tag::from).collect(),
        ),
        None => {
            let m = Msg::from_json(&body)?;
            let metrics = m
                .list::<MetricIn>("metrics")?
                .into_iter()
                .map(MetricIn::into_metric)
                .collect();
            (m.run_id()?, metrics, tags(&m, "params")?, tags(&m, "tags")?)
        }
    };
    s.tracking
        .log_batch(&run_id, metrics, params, tags_)
        .await?;
    empty()
}

#[derive(Debug, Deserialize)]
struct ModelInputIn {
    model_id: String,
}

pub async fn log_inputs(State(s): State<AppState>, m: Msg) -> JsonResult {
    let run_id = m.run_id()?;
    let datasets: Vec<DatasetInput> = m.list("datasets")?;
    let models = m
        .list::<ModelInputIn>("models")?
        .into_iter()
        .map(|x| ModelInput {
            model_id: x.model_id,
        })
        .collect();
    s.tracking.log_inputs(&run_id, datasets, models).await?;
    empty()
}

#[derive(Debug, Deserialize)]
struct ModelOutputIn {
    model_id: String,
    #[serde(default, deserialize_with = "lenient_i64")]
    step: i64,
}

pub async fn log_outputs(State(s): State<AppState>, m: Msg) -> JsonResult {
    let run_id = m.run_id()?;
    let models = m
        .list::<ModelOutputIn>("models")?
        .into_iter()
        .map(|x| ModelOutput {
            model_id: x.model_id,
            step: x.step,
        })
        .collect();
    s.tracking.log_outputs(&run_id, models).await?;
    empty()
}

pub async fn search(State(s): State<AppState>, m: Msg) -> ListResult {
    let req = SearchRequest {
        filter: m.opt_str("filter")?.unwrap_or_default(),
        order_by: m.str_list("order_by")?,
        max_results: max_results(&m)?,
        offset: offset_of(m.opt_str("page_token")?.as_deref())?,
    };
    let view = super::experiments::view_type(&m, "run_view_type")?;
    let page = s
        .tracking
        .search_runs(m.str_list("experiment_ids")?, req, view)
        .await?;
    list_response("runs", &page.items, offset_token(page.next_offset))
}

/// Pages larger than this are cut, as MLflow's server does.
const MAX_HISTORY_PAGE: u64 = 25_000;

pub async fn get_history(State(s): State<AppState>, m: Msg) -> ListResult {
    let run_id = m.run_id()?;
    let key = m.str("metric_key")?;
    let after = match m.opt_str("page_token")?.filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => Some(decode_token::<HistoryCursor>(&t)?),
    };
    let max = match m.opt_i64("max_results")? {
        Some(n) if n <= 0 => {
            return Err(ApiError::invalid(format!(
                "Invalid value {n} for parameter 'max_results' supplied. It must be a positive integer."
            )));
        }
        Some(n) => n.unsigned_abs().min(MAX_HISTORY_PAGE),
        None => u64::MAX,
    };
    let page = s.tracking.metric_history(&run_id, &key, max, after).await?;
    list_response(
        "metrics",
        &page.metrics,
        page.next.map(|c| encode_token(&c)),
    )
}

/// `GET /ajax-api/2.0/mlflow/metrics/get-history-bulk?run_id=..&run_id=..&metric_key=..`
pub async fn get_history_bulk(State(s): State<AppState>, m: Msg) -> ListResult {
    let run_ids = m.str_list("run_id")?;
    let key = m.str("metric_key")?;
    let max = match m.opt_i64("max_results")? {
        Some(n) if n <= 0 => {
            return Err(ApiError::invalid(format!(
                "Invalid value {n} for parameter 'max_results' supplied. It must be a positive integer."
            )));
        }
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX).min(25_000),
        None => 25_000,
    };
    let metrics = s.tracking.metric_history_bulk(&run_ids, &key, max).await?;
    list_response("metrics", &metrics, None)
}

/// `GET /api/2.0/mlflow/metrics/get-history-bulk-interval?run_ids=..&metric_key=..`
/// `[&start_step=&end_step=&max_results=]`: a chart's view of one metric over several runs.
pub async fn get_history_bulk_interval(State(s): State<AppState>, m: Msg) -> ListResult {
    let run_ids = m.str_list("run_ids")?;
    let key = m.str("metric_key")?;
    let max = match m.opt_i64("max_results")? {
        Some(n) if !(1..=1000).contains(&n) => {
            return Err(ApiError::invalid(format!(
                "max_results must be between 1 and 1000. Found max_results={n}."
            )));
        }
        Some(n) => usize::try_from(n).unwrap_or(1000),
        None => 320,
    };
    let metrics = s
        .tracking
        .metric_history_sampled(
            &run_ids,
            &key,
            m.opt_i64("start_step")?,
            m.opt_i64("end_step")?,
            max,
        )
        .await?;
    list_response("metrics", &metrics, None)
}
