//! What one request, and all requests together, may cost: body sizes per route, a gate on
//! concurrent expensive requests (searches, metric histories), and the health check's timeout.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::error::{ApiError, ErrorCode};

/// Default largest JSON request body (MLflow accepts at least 10 MB on log-batch).
pub const DEFAULT_MAX_REQUEST_BODY: usize = 10 * 1024 * 1024;
/// Default largest body of `runs/log-inputs` (a dataset's profile may reach 16 MB, its schema
/// 1 MB, both JSON-escaped inside the body).
pub const DEFAULT_MAX_DATASET_BODY: usize = 40 * 1024 * 1024;
/// Default number of expensive requests served at once.
pub const DEFAULT_MAX_CONCURRENT_SEARCHES: usize = 4;
/// Default time an expensive request waits for its turn before it is refused (429).
pub const DEFAULT_SEARCH_QUEUE_WAIT: Duration = Duration::from_secs(10);
/// Default time `/health` gives the database to answer.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(1);

/// The server's request limits (`sextant server --max-request-body` and friends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest JSON request body of every MLflow and Sextant API route but log-inputs.
    pub max_request_body: usize,
    /// Largest body of `runs/log-inputs`.
    pub max_dataset_body: usize,
    /// Expensive requests (searches, metric histories) served at once; more wait.
    pub max_concurrent_searches: usize,
    /// How long an expensive request waits for its turn before a 429 with `Retry-After`.
    pub search_queue_wait: Duration,
    /// How long `/health` waits for the database before answering 503.
    pub health_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_body: DEFAULT_MAX_REQUEST_BODY,
            max_dataset_body: DEFAULT_MAX_DATASET_BODY,
            max_concurrent_searches: DEFAULT_MAX_CONCURRENT_SEARCHES,
            search_queue_wait: DEFAULT_SEARCH_QUEUE_WAIT,
            health_timeout: DEFAULT_HEALTH_TIMEOUT,
        }
    }
}

/// The gate on expensive requests: a permit each, held until the response body is sent, so
/// at most `max_concurrent_searches` results are in memory at once.
#[derive(Clone)]
pub struct Gate {
    permits: Arc<Semaphore>,
    limit: usize,
    wait: Duration,
}

impl Gate {
    pub fn new(limits: &Limits) -> Self {
        let limit = limits.max_concurrent_searches.max(1);
        Self {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
            wait: limits.search_queue_wait,
        }
    }
}

/// Middleware: wait (at most the queue wait) for a permit, then run the request holding it.
pub async fn gate(State(gate): State<Gate>, req: Request, next: Next) -> Response {
    let acquired = tokio::time::timeout(gate.wait, Arc::clone(&gate.permits).acquire_owned()).await;
    let Ok(Ok(permit)) = acquired else {
        return ApiError::new(
            ErrorCode::RequestLimitExceeded,
            format!(
                "The server is already running {} searches or metric-history reads and this \
                 one waited {} s for its turn; retry shortly.",
                gate.limit,
                gate.wait.as_secs()
            ),
        )
        .into_response();
    };
    let resp = next.run(req).await;
    resp.map(|b| axum::body::Body::new(sextant_http::GuardedBody::new(b, permit)))
}

/// Middleware: refuse a URL whose path or query holds an encoded NUL character (`%00`) before
/// a path segment or query value reaches a store (PostgreSQL cannot keep NUL in text).
pub async fn reject_nul_in_uri(req: Request, next: Next) -> Response {
    let uri = req.uri();
    let has_nul = |s: &str| {
        s.as_bytes()
            .windows(3)
            .any(|w| w.eq_ignore_ascii_case(b"%00"))
    };
    if has_nul(uri.path()) || uri.query().is_some_and(has_nul) {
        return ApiError::invalid(
            "Invalid request URL: it contains a NUL character (%00), which cannot be stored. \
             Remove it from the path or query.",
        )
        .into_response();
    }
    next.run(req).await
}

/// Middleware: a 413 from a body extractor other than the request message (log-batch reads
/// raw bytes) becomes MLflow's JSON error naming the route's limit, never plain text.
pub async fn json_payload_too_large(req: Request, next: Next) -> Response {
    let limit = req.extensions().get::<crate::request::BodyLimit>().copied();
    let resp = next.run(req).await;
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if resp.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        return crate::request::too_large(limit).into_response();
    }
    resp
}
