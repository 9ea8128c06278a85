//! `/mlflow/experiments/*`.

use axum::extract::State;
use serde_json::json;
use sextant_core::tracking::SearchRequest;
use sextant_types::{Tag, ViewType};

use super::{
    JsonResult, ListResult, empty, list_response, max_results, offset_of, offset_token, wrap,
};
use crate::AppState;
use crate::error::ApiError;
use crate::request::Msg;

pub async fn create(State(s): State<AppState>, m: Msg) -> JsonResult {
    let name = m.str("name")?;
    let location = m.opt_str("artifact_location")?.filter(|l| !l.is_empty());
    let tags: Vec<Tag> = m.list("tags")?;
    let id = s
        .tracking
        .create_experiment(&name, location.as_deref(), tags)
        .await?;
    Ok(axum::Json(json!({ "experiment_id": id })))
}

pub async fn get(State(s): State<AppState>, m: Msg) -> JsonResult {
    let id = m.str("experiment_id")?;
    wrap("experiment", &s.tracking.get_experiment(&id).await?)
}

pub async fn get_by_name(State(s): State<AppState>, m: Msg) -> JsonResult {
    let name = m.str("experiment_name")?;
    wrap(
        "experiment",
        &s.tracking.get_experiment_by_name(&name).await?,
    )
}

pub fn view_type(m: &Msg, field: &str) -> Result<ViewType, ApiError> {
    match m.opt_str(field)? {
        None => Ok(ViewType::ActiveOnly),
        Some(v) => ViewType::parse(&v).ok_or_else(|| {
            ApiError::invalid(format!("Invalid value '{v}' for parameter '{field}'"))
        }),
    }
}

pub async fn search(State(s): State<AppState>, m: Msg) -> ListResult {
    let req = SearchRequest {
        filter: m.opt_str("filter")?.unwrap_or_default(),
        order_by: m.str_list("order_by")?,
        max_results: max_results(&m)?,
        offset: offset_of(m.opt_str("page_token")?.as_deref())?,
    };
    let page = s
        .tracking
        .search_experiments(req, view_type(&m, "view_type")?)
        .await?;
    list_response("experiments", &page.items, offset_token(page.next_offset))
}

pub async fn update(State(s): State<AppState>, m: Msg) -> JsonResult {
    let id = m.str("experiment_id")?;
    if let Some(name) = m.opt_str("new_name")?.filter(|n| !n.is_empty()) {
        s.tracking.rename_experiment(&id, &name).await?;
    }
    empty()
}

pub async fn delete(State(s): State<AppState>, m: Msg) -> JsonResult {
    s.tracking
        .delete_experiment(&m.str("experiment_id")?)
        .await?;
    empty()
}

pub async fn restore(State(s): State<AppState>, m: Msg) -> JsonResult {
    s.tracking
        .restore_experiment(&m.str("experiment_id")?)
        .await?;
    empty()
}

pub async fn set_tag(State(s): State<AppState>, m: Msg) -> JsonResult {
    let id = m.str("experiment_id")?;
    let tag = Tag::new(m.str("key")?, m.str_allow_empty("value")?);
    s.tracking.set_experiment_tag(&id, tag).await?;
    empty()
}

pub async fn delete_tag(State(s): State<AppState>, m: Msg) -> JsonResult {
    let id = m.str("experiment_id")?;
    s.tracking
        .delete_experiment_tag(&id, &m.str("key")?)
        .await?;
    empty()
}
