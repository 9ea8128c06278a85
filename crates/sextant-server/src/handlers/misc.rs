//! Health, version, server capabilities, and the JSON 404 for unknown endpoints.

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ErrorCode};

pub async fn health() -> &'static str {
    "OK"
}

pub async fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

pub async fn server_info(State(s): State<AppState>) -> Json<Value> {
    Json(json!({
        "store_type": "SqlStore",
        "server": "sextant",
        "version": env!("CARGO_PKG_VERSION"),
        "artifacts": s.artifacts.describe(),
        "workspaces_enabled": false,
        "trace_archival_enabled": false,
        "multipart_uploads_enabled": true,
        "multipart_downloads_enabled": false,
        "presigned_upload_run_id_supported": false,
        "presigned_upload_model_id_supported": false,
        "features_enabled": {},
    }))
}

pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(
        ErrorCode::EndpointNotFound,
        format!("No endpoint {} exists on this server", uri.path()),
    )
}
