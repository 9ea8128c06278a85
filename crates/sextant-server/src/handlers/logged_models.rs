//! `/mlflow/logged-models/*` (MLflow 3): what `mlflow.<flavor>.log_model` records.

use axum::extract::{Path, State};
use serde::Deserialize;
use sextant_core::tracking::SearchRequest;
use sextant_store::NewLoggedModel;
use sextant_types::{LoggedModelMetric, LoggedModelStatus, WireF64};

use super::runs::{lenient_i64, tags};
use super::{
    JsonResult, ListResult, empty, list_response, max_results, offset_of, offset_token, wrap,
};
use crate::AppState;
use crate::error::ApiError;
use crate::request::Msg;

pub async fn create(State(s): State<AppState>, m: Msg) -> JsonResult {
    let model = s
        .tracking
        .create_logged_model(NewLoggedModel {
            experiment_id: m.str("experiment_id")?,
            name: m
                .opt_str("name")?
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "model".into()),
            model_type: m.opt_str("model_type")?.unwrap_or_default(),
            source_run_id: m.opt_str("source_run_id")?.filter(|r| !r.is_empty()),
            params: tags(&m, "params")?,
            tags: tags(&m, "tags")?,
        })
        .await?;
    wrap("model", &model)
}

pub async fn get(State(s): State<AppState>, Path(id): Path<String>, m: Msg) -> JsonResult {
    let allow_deleted = m.opt_bool("allow_deleted")?.unwrap_or(false);
    wrap(
        "model",
        &s.tracking.get_logged_model(&id, allow_deleted).await?,
    )
}

pub async fn finalize(State(s): State<AppState>, Path(id): Path<String>, m: Msg) -> JsonResult {
    let status = m.str("status")?;
    let status = LoggedModelStatus::parse(&status).ok_or_else(|| {
        ApiError::invalid(format!("Invalid value '{status}' for parameter 'status'"))
    })?;
    wrap(
        "model",
        &s.tracking.finalize_logged_model(&id, status).await?,
    )
}

pub async fn delete(State(s): State<AppState>, Path(id): Path<String>) -> JsonResult {
    s.tracking.delete_logged_model(&id).await?;
    empty()
}

pub async fn set_tags(State(s): State<AppState>, Path(id): Path<String>, m: Msg) -> JsonResult {
    s.tracking
        .set_logged_model_tags(&id, tags(&m, "tags")?)
        .await?;
    empty()
}

pub async fn delete_tag(
    State(s): State<AppState>,
    Path((id, key)): Path<(String, String)>,
) -> JsonResult {
    s.tracking.delete_logged_model_tag(&id, &key).await?;
    empty()
}

pub async fn log_params(State(s): State<AppState>, Path(id): Path<String>, m: Msg) -> JsonResult {
    s.tracking
        .log_logged_model_params(&id, tags(&m, "params")?)
        .await?;
    empty()
}

#[derive(Debug, Deserialize)]
struct OrderByIn {
    field_name: String,
    #[serde(default = "yes")]
    ascending: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
struct ModelMetricIn {
    key: String,
    value: WireF64,
    #[serde(default, deserialize_with = "lenient_i64")]
    timestamp: i64,
    #[serde(default, deserialize_with = "lenient_i64")]
    step: i64,
    #[serde(default)]
    run_id: Option<String>,
    #[serde(default)]
    dataset_name: Option<String>,
    #[serde(default)]
    dataset_digest: Option<String>,
}

/// Metrics logged against a model (used by `mlflow.log_metrics(model_id=...)` paths).
pub async fn log_metrics(State(s): State<AppState>, Path(id): Path<String>, m: Msg) -> JsonResult {
    let metrics = m
        .list::<ModelMetricIn>("metrics")?
        .into_iter()
        .map(|x| LoggedModelMetric {
            key: x.key,
            value: x.value,
            timestamp: x.timestamp,
            step: x.step,
            run_id: x.run_id,
            dataset_name: x.dataset_name,
            dataset_digest: x.dataset_digest,
            model_id: None,
        })
        .collect();
    s.tracking.log_logged_model_metrics(&id, metrics).await?;
    empty()
}

pub async fn search(State(s): State<AppState>, m: Msg) -> ListResult {
    let order_by = m
        .list::<OrderByIn>("order_by")?
        .into_iter()
        .map(|o| {
            format!(
                "{} {}",
                o.field_name,
                if o.ascending { "ASC" } else { "DESC" }
            )
        })
        .collect();
    let req = SearchRequest {
        filter: m.opt_str("filter")?.unwrap_or_default(),
        order_by,
        max_results: max_results(&m)?,
        offset: offset_of(m.opt_str("page_token")?.as_deref())?,
    };
    let page = s
        .tracking
        .search_logged_models(m.str_list("experiment_ids")?, req)
        .await?;
    list_response("models", &page.items, offset_token(page.next_offset))
}
