//! Health, version, server capabilities, and the JSON 404 for unknown endpoints.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ErrorCode};

/// `GET /health`: `OK` when the database answers a trivial query within the health timeout
/// (on a connection of its own, so expensive queries in flight do not delay it); otherwise
/// 503 with a JSON body saying what failed, so a load balancer takes the server out.
pub async fn health(State(s): State<AppState>) -> Response {
    match s.tracking.ping(s.limits.health_timeout).await {
        Ok(()) => "OK".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check: the database did not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "status": "unhealthy",
                    "database": "unavailable",
                    "message": format!(
                        "The database did not answer within {} ms.",
                        s.limits.health_timeout.as_millis()
                    ),
                })),
            )
                .into_response()
        }
    }
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
