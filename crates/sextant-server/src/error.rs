//! The one place where errors become HTTP: MLflow's error codes, statuses and JSON body.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sextant_artifacts::ArtifactError;
use sextant_core::CoreError;
use sextant_store::StoreError;

/// MLflow's error codes that this server returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidParameterValue,
    BadRequest,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
    EndpointNotFound,
    InternalError,
    TemporarilyUnavailable,
    PermissionDenied,
    ResourceConflict,
    /// Too many expensive requests at once (MLflow's code; 429, retried by its clients).
    RequestLimitExceeded,
    /// A request body over its endpoint's limit: `BAD_REQUEST` with status 413.
    PayloadTooLarge,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidParameterValue => "INVALID_PARAMETER_VALUE",
            Self::BadRequest => "BAD_REQUEST",
            Self::ResourceAlreadyExists => "RESOURCE_ALREADY_EXISTS",
            Self::ResourceDoesNotExist => "RESOURCE_DOES_NOT_EXIST",
            Self::EndpointNotFound => "ENDPOINT_NOT_FOUND",
            Self::InternalError => "INTERNAL_ERROR",
            Self::TemporarilyUnavailable => "TEMPORARILY_UNAVAILABLE",
            Self::PermissionDenied => "PERMISSION_DENIED",
            Self::ResourceConflict => "RESOURCE_CONFLICT",
            Self::RequestLimitExceeded => "REQUEST_LIMIT_EXCEEDED",
            Self::PayloadTooLarge => "BAD_REQUEST",
        }
    }

    /// The HTTP status MLflow gives each code (`ERROR_CODE_TO_HTTP_STATUS`).
    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidParameterValue | Self::BadRequest | Self::ResourceAlreadyExists => {
                StatusCode::BAD_REQUEST
            }
            Self::ResourceDoesNotExist | Self::EndpointNotFound => StatusCode::NOT_FOUND,
            Self::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            Self::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::PermissionDenied => StatusCode::FORBIDDEN,
            Self::ResourceConflict => StatusCode::CONFLICT,
            Self::RequestLimitExceeded => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    /// MLflow 3's `error_class` companion field.
    fn class(self) -> &'static str {
        match self {
            Self::ResourceDoesNotExist => "RESOURCE_NOT_FOUND",
            other => other.as_str(),
        }
    }
}

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParameterValue, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ResourceDoesNotExist, message)
    }

    /// A server-side failure: details go to the log, the client gets a generic message.
    fn internal(detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            ErrorCode::InternalError,
            "The server failed to handle the request; see the server log for details.",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error_code": self.code.as_str(),
            "message": self.message,
            "error_class": self.code.class(),
        });
        let mut resp = (self.code.status(), Json(body)).into_response();
        if matches!(
            self.code,
            ErrorCode::TemporarilyUnavailable | ErrorCode::RequestLimitExceeded
        ) {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => Self::not_found(m),
            StoreError::AlreadyExists(m) => Self::new(ErrorCode::ResourceAlreadyExists, m),
            StoreError::InvalidState(m) => Self::invalid(m),
            e @ StoreError::ParamsChanged { .. } => Self::invalid(e.to_string()),
            StoreError::PermissionDenied(m) => Self::new(ErrorCode::PermissionDenied, m),
            // 503, not 400: on an indexed store a statement runs past the timeout because the
            // database is busy, which passes; MLflow's clients retry 503 with backoff, and the
            // timed-out transaction was rolled back, so a retry is safe. Searches too costly
            // by their shape are refused up front (filter limits, 400).
            StoreError::Timeout(m) => {
                tracing::warn!(detail = %m, "database timeout");
                Self::new(
                    ErrorCode::TemporarilyUnavailable,
                    "The database did not answer within the server's statement timeout; the \
                     request was cancelled and nothing was written. Retry later, or narrow the \
                     search (fewer filter clauses, a smaller max_results).",
                )
            }
            StoreError::Conflict(m) => {
                tracing::warn!(conflict = %m, "write conflict not resolved by retries");
                Self::new(
                    ErrorCode::TemporarilyUnavailable,
                    "A concurrent write conflicted with this request; retry it.",
                )
            }
            e @ (StoreError::Open { .. } | StoreError::Database(_) | StoreError::Internal(_)) => {
                Self::internal(&e)
            }
        }
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::InvalidParameter(m) => Self::invalid(m),
            CoreError::NotFound(m) => Self::not_found(m),
            CoreError::AlreadyExists(m) => Self::new(ErrorCode::ResourceAlreadyExists, m),
            CoreError::PermissionDenied(m) => Self::new(ErrorCode::PermissionDenied, m),
            CoreError::Conflict(m) => Self::new(ErrorCode::ResourceConflict, m),
            CoreError::Store(s) => s.into(),
            CoreError::Artifacts(a) => a.into(),
        }
    }
}

impl From<ArtifactError> for ApiError {
    fn from(e: ArtifactError) -> Self {
        match e {
            ArtifactError::NotFound { .. } => Self::not_found(e.to_string()),
            ArtifactError::InvalidPath { .. } | ArtifactError::InvalidUpload { .. } => {
                Self::invalid(e.to_string())
            }
            e @ (ArtifactError::Config { .. }
            | ArtifactError::Backend { .. }
            | ArtifactError::Io(_)) => Self::internal(&e),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
