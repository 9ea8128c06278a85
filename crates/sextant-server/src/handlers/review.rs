//! Sextant's own registry API, under `/api/sextant/v1`: review decisions, check results,
//! review reports, protected aliases, promotion and the audit log. Documented in
//! `openapi.yaml` (served at `/api/sextant/v1/openapi.yaml`).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sextant_core::tracking::SearchRequest;
use sextant_types::registry::{Decision, ReviewStatus};

use super::artifacts::store_path_of;
use super::{JsonResult, empty, wrap};
use crate::AppState;
use crate::error::ApiError;
use crate::request::Msg;

/// The OpenAPI description of this API.
pub const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");

pub async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/yaml; charset=utf-8"),
        )],
        OPENAPI_YAML,
    )
        .into_response()
}

/// `GET /models`: every registered model with its review counts and aliases.
pub async fn list_models(State(s): State<AppState>) -> JsonResult {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let page = s
            .registry
            .search_models(SearchRequest {
                max_results: Some(1000),
                offset,
                ..SearchRequest::default()
            })
            .await?;
        for m in &page.items {
            let versions = s.registry.list_versions(&m.name).await?;
            let protected = s.registry.protected_aliases(&m.name).await?;
            let count = |st: ReviewStatus| versions.iter().filter(|v| v.review == st).count();
            out.push(json!({
                "name": m.name,
                "description": m.description,
                "creation_timestamp": m.creation_timestamp,
                "last_updated_timestamp": m.last_updated_timestamp,
                "latest_version": versions.last().map(|v| v.version.version.clone()),
                "versions": versions.len(),
                "pending_review": count(ReviewStatus::PendingReview),
                "approved": count(ReviewStatus::Approved),
                "rejected": count(ReviewStatus::Rejected),
                "aliases": m.aliases.iter().map(|a| json!({
                    "alias": a.alias,
                    "version": a.version,
                    "protected": protected.contains(&a.alias),
                })).collect::<Vec<_>>(),
                "protected_aliases": protected,
            }));
        }
        match page.next_offset {
            Some(o) => offset = o,
            None => break,
        }
    }
    Ok(axum::Json(json!({ "models": out })))
}

/// `GET /models/{name}`: the model, its versions with review state, its protected aliases.
pub async fn show_model(State(s): State<AppState>, Path(name): Path<String>) -> JsonResult {
    let model = s.registry.get_model(&name).await?;
    let versions = s.registry.list_versions(&name).await?;
    let protected = s.registry.protected_aliases(&name).await?;
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| {
            let mut o = serde_json::to_value(&v.version).unwrap_or_default();
            o["review_status"] = json!(v.review.as_str());
            o
        })
        .collect();
    Ok(axum::Json(json!({
        "model": model,
        "versions": versions,
        "protected_aliases": protected,
    })))
}

pub async fn get_review(
    State(s): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> JsonResult {
    wrap("review", &s.registry.review(&name, &version).await?)
}

/// `POST /models/{name}/versions/{version}/review`
/// `{"decision": "approve"|"reject", "comment": "...", "override_failed_checks": false}`
pub async fn decide(
    State(s): State<AppState>,
    h: HeaderMap,
    Path((name, version)): Path<(String, String)>,
    m: Msg,
) -> JsonResult {
    let decision = match m.str("decision")?.as_str() {
        "approve" => Decision::Approve,
        "reject" => Decision::Reject,
        other => {
            return Err(ApiError::invalid(format!(
                "Invalid decision '{other}': use \"approve\" or \"reject\"."
            )));
        }
    };
    let review = s
        .registry
        .decide(
            &name,
            &version,
            decision,
            &m.opt_str("comment")?.unwrap_or_default(),
            m.opt_bool("override_failed_checks")?.unwrap_or(false),
            &s.actor(&h),
        )
        .await?;
    wrap("review", &review)
}

/// `POST /models/{name}/versions/{version}/checks` `{"name": "...", "passed": true, "details": ""}`
pub async fn record_check(
    State(s): State<AppState>,
    h: HeaderMap,
    Path((name, version)): Path<(String, String)>,
    m: Msg,
) -> JsonResult {
    let passed = m
        .opt_bool("passed")?
        .ok_or_else(|| ApiError::invalid("Missing value for required parameter 'passed'."))?;
    let review = s
        .registry
        .record_check(
            &name,
            &version,
            &m.str("name")?,
            passed,
            &m.opt_str("details")?.unwrap_or_default(),
            &s.actor(&h),
        )
        .await?;
    wrap("review", &review)
}

/// `PUT /models/{name}/versions/{version}/report` `{"path": "reports/eval.html"}`: link an
/// artifact of the version's run as its review report. The artifact must exist.
pub async fn set_report(
    State(s): State<AppState>,
    h: HeaderMap,
    Path((name, version)): Path<(String, String)>,
    m: Msg,
) -> JsonResult {
    let path = m.str("path")?;
    let rel = path.trim().trim_matches('/').to_owned();
    let root = s.registry.version_run_artifact_uri(&name, &version).await?;
    if let Some(root) = store_path_of(&root) {
        let full = if root.is_empty() {
            rel.clone()
        } else {
            format!("{root}/{rel}")
        };
        if s.artifacts.get(&full).await.is_err() {
            return Err(ApiError::invalid(format!(
                "The run of version {version} of registered model '{name}' has no artifact \
                 '{rel}'. Log the report with mlflow.log_artifact first."
            )));
        }
    }
    let review = s
        .registry
        .set_report(&name, &version, &rel, &s.actor(&h))
        .await?;
    wrap("review", &review)
}

/// `PUT /models/{name}/aliases/{alias}` `{"version": "3"}`: promote a version to an alias
/// (refused for a protected alias unless the version is approved).
pub async fn promote(
    State(s): State<AppState>,
    h: HeaderMap,
    Path((name, alias)): Path<(String, String)>,
    m: Msg,
) -> JsonResult {
    let version = m.str_or_int("version")?;
    s.registry
        .set_alias(&name, &alias, &version, &s.actor(&h))
        .await?;
    wrap(
        "model_version",
        &s.registry.version_by_alias(&name, &alias).await?,
    )
}

pub async fn remove_alias(
    State(s): State<AppState>,
    h: HeaderMap,
    Path((name, alias)): Path<(String, String)>,
) -> JsonResult {
    s.registry.delete_alias(&name, &alias, &s.actor(&h)).await?;
    empty()
}

pub async fn protect(
    State(s): State<AppState>,
    h: HeaderMap,
    Path((name, alias)): Path<(String, String)>,
) -> JsonResult {
    s.registry
        .protect_alias(&name, &alias, true, &s.actor(&h))
        .await?;
    Ok(axum::Json(json!({
        "protected_aliases": s.registry.protected_aliases(&name).await?
    })))
}

pub async fn unprotect(
    State(s): State<AppState>,
    h: HeaderMap,
    Path((name, alias)): Path<(String, String)>,
) -> JsonResult {
    s.registry
        .protect_alias(&name, &alias, false, &s.actor(&h))
        .await?;
    Ok(axum::Json(json!({
        "protected_aliases": s.registry.protected_aliases(&name).await?
    })))
}

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    version: Option<String>,
}

/// `GET /models/{name}/audit[?version=N]`: the audit log, oldest first.
pub async fn audit(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<AuditQuery>,
) -> JsonResult {
    let entries = s
        .registry
        .audit_log(&name, q.version.as_deref().filter(|v| !v.is_empty()))
        .await?;
    Ok(axum::Json(json!({ "entries": entries })))
}
