//! MLflow's model registry: `/mlflow/registered-models/*` and `/mlflow/model-versions/*`.

use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::json;
use sextant_core::registry::CreateVersion;
use sextant_core::tracking::SearchRequest;
use sextant_types::Tag;

use super::{
    JsonResult, ListResult, empty, list_response, max_results, offset_of, offset_token, wrap,
};
use crate::AppState;
use crate::request::Msg;

fn search_request(m: &Msg) -> crate::error::ApiResult<SearchRequest> {
    Ok(SearchRequest {
        filter: m.opt_str("filter")?.unwrap_or_default(),
        order_by: m.str_list("order_by")?,
        max_results: max_results(m)?,
        offset: offset_of(m.opt_str("page_token")?.as_deref())?,
    })
}

// ----------------------------------------------------------------------------- models

pub async fn create_model(State(s): State<AppState>, h: HeaderMap, m: Msg) -> JsonResult {
    let name = m.str("name")?;
    let description = m.opt_str("description")?.unwrap_or_default();
    let tags: Vec<Tag> = m.list("tags")?;
    let model = s
        .registry
        .create_model(&name, &description, tags, &s.actor(&h))
        .await?;
    wrap("registered_model", &model)
}

pub async fn get_model(State(s): State<AppState>, m: Msg) -> JsonResult {
    wrap(
        "registered_model",
        &s.registry.get_model(&m.str("name")?).await?,
    )
}

pub async fn rename_model(State(s): State<AppState>, h: HeaderMap, m: Msg) -> JsonResult {
    let model = s
        .registry
        .rename_model(
            &m.str("name")?,
            &m.opt_str("new_name")?.unwrap_or_default(),
            &s.actor(&h),
        )
        .await?;
    wrap("registered_model", &model)
}

pub async fn update_model(State(s): State<AppState>, m: Msg) -> JsonResult {
    let model = s
        .registry
        .update_model(
            &m.str("name")?,
            &m.opt_str("description")?.unwrap_or_default(),
        )
        .await?;
    wrap("registered_model", &model)
}

pub async fn delete_model(State(s): State<AppState>, h: HeaderMap, m: Msg) -> JsonResult {
    s.registry
        .delete_model(&m.str("name")?, &s.actor(&h))
        .await?;
    empty()
}

pub async fn search_models(State(s): State<AppState>, m: Msg) -> ListResult {
    let page = s.registry.search_models(search_request(&m)?).await?;
    list_response(
        "registered_models",
        &page.items,
        offset_token(page.next_offset),
    )
}

pub async fn latest_versions(State(s): State<AppState>, m: Msg) -> ListResult {
    let versions = s
        .registry
        .latest_versions(&m.str("name")?, &m.str_list("stages")?)
        .await?;
    list_response("model_versions", &versions, None)
}

pub async fn set_model_tag(State(s): State<AppState>, m: Msg) -> JsonResult {
    let tag = Tag::new(m.str("key")?, m.str_allow_empty("value")?);
    s.registry.set_model_tag(&m.str("name")?, tag).await?;
    empty()
}

pub async fn delete_model_tag(State(s): State<AppState>, m: Msg) -> JsonResult {
    s.registry
        .delete_model_tag(&m.str("name")?, &m.str("key")?)
        .await?;
    empty()
}

// ----------------------------------------------------------------------------- aliases

pub async fn set_alias(State(s): State<AppState>, h: HeaderMap, m: Msg) -> JsonResult {
    s.registry
        .set_alias(
            &m.str("name")?,
            &m.str("alias")?,
            &m.str_or_int("version")?,
            &s.actor(&h),
        )
        .await?;
    empty()
}

pub async fn delete_alias(State(s): State<AppState>, h: HeaderMap, m: Msg) -> JsonResult {
    s.registry
        .delete_alias(&m.str("name")?, &m.str("alias")?, &s.actor(&h))
        .await?;
    empty()
}

pub async fn get_by_alias(State(s): State<AppState>, m: Msg) -> JsonResult {
    let mv = s
        .registry
        .version_by_alias(&m.str("name")?, &m.str("alias")?)
        .await?;
    wrap("model_version", &mv)
}

// ----------------------------------------------------------------------------- versions

pub async fn create_version(State(s): State<AppState>, h: HeaderMap, m: Msg) -> JsonResult {
    let req = CreateVersion {
        name: m.str("name")?,
        source: m.opt_str("source")?.unwrap_or_default(),
        run_id: m.opt_str("run_id")?,
        run_link: m.opt_str("run_link")?,
        description: m.opt_str("description")?,
        tags: m.list("tags")?,
        model_id: m.opt_str("model_id")?,
    };
    wrap(
        "model_version",
        &s.registry.create_version(req, &s.actor(&h)).await?,
    )
}

pub async fn get_version(State(s): State<AppState>, m: Msg) -> JsonResult {
    let mv = s
        .registry
        .get_version(&m.str("name")?, &m.str_or_int("version")?)
        .await?;
    wrap("model_version", &mv)
}

pub async fn update_version(State(s): State<AppState>, m: Msg) -> JsonResult {
    let mv = s
        .registry
        .update_version(
            &m.str("name")?,
            &m.str_or_int("version")?,
            &m.opt_str("description")?.unwrap_or_default(),
        )
        .await?;
    wrap("model_version", &mv)
}

pub async fn delete_version(State(s): State<AppState>, h: HeaderMap, m: Msg) -> JsonResult {
    s.registry
        .delete_version(&m.str("name")?, &m.str_or_int("version")?, &s.actor(&h))
        .await?;
    empty()
}

pub async fn search_versions(State(s): State<AppState>, m: Msg) -> ListResult {
    let page = s.registry.search_versions(search_request(&m)?).await?;
    list_response(
        "model_versions",
        &page.items,
        offset_token(page.next_offset),
    )
}

pub async fn transition_stage(State(s): State<AppState>, h: HeaderMap, m: Msg) -> JsonResult {
    let mv = s
        .registry
        .transition_stage(
            &m.str("name")?,
            &m.str_or_int("version")?,
            &m.str("stage")?,
            m.opt_bool("archive_existing_versions")?.unwrap_or(false),
            &s.actor(&h),
        )
        .await?;
    wrap("model_version", &mv)
}

pub async fn set_version_tag(State(s): State<AppState>, m: Msg) -> JsonResult {
    let tag = Tag::new(m.str("key")?, m.str_allow_empty("value")?);
    s.registry
        .set_version_tag(&m.str("name")?, &m.str_or_int("version")?, tag)
        .await?;
    empty()
}

pub async fn delete_version_tag(State(s): State<AppState>, m: Msg) -> JsonResult {
    s.registry
        .delete_version_tag(&m.str("name")?, &m.str_or_int("version")?, &m.str("key")?)
        .await?;
    empty()
}

pub async fn download_uri(State(s): State<AppState>, m: Msg) -> JsonResult {
    let uri = s
        .registry
        .download_uri(&m.str("name")?, &m.str_or_int("version")?)
        .await?;
    Ok(axum::Json(json!({ "artifact_uri": uri })))
}
