//! Sextant's HTTP server: MLflow's REST API and artifact proxy.
//!
//! [`app`] builds the axum router over an [`AppState`] (the tracking service and the artifact
//! store); [`serve`] runs it on a listener until a shutdown signal, finishing in-flight requests.
//! Handlers are thin: read the request message ([`request::Msg`]), call one service function,
//! wrap the result. Errors become MLflow's JSON error bodies in one place ([`error`]).
//!
//! Every API route is served under `/api/2.0/mlflow/` and, for MLflow's UI conventions, under
//! `/ajax-api/2.0/mlflow/` too.

pub mod auth;
pub mod error;
pub mod guard;
pub mod handlers;
pub mod limits;
pub mod request;
mod ui;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderMap;
use axum::routing::{delete, get, patch, post, put};
use sextant_artifacts::ArtifactStore;
use sextant_core::registry::RegistryService;
use sextant_core::tracking::TrackingService;
use sextant_types::registry::Actor;
use tower_http::trace::TraceLayer;

use handlers::{artifacts, experiments, logged_models, misc, registry, review, runs};

/// The request header that names the caller (until authentication lands).
pub const USER_HEADER: &str = "x-sextant-user";

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub tracking: TrackingService,
    pub registry: RegistryService,
    pub artifacts: Arc<dyn ArtifactStore>,
    /// Who a request is from when it does not say (`sextant server --user`, `SEXTANT_USER`).
    pub default_user: Option<String>,
    /// Authentication and authorization (`sextant server --auth`); `None` when auth is off.
    pub auth: Option<Arc<auth::AuthState>>,
    /// Browser safety and protected mode ([`guard`]): allowed hosts and origins, whether auth
    /// is on. Tests use [`guard::GuardConfig::loopback`].
    pub guard: Arc<guard::GuardConfig>,
    /// Request limits ([`limits::Limits`]): body sizes, concurrent searches, health timeout.
    pub limits: Arc<limits::Limits>,
}

impl AppState {
    /// The caller of a request: the `X-Sextant-User` header, else the server's configured
    /// user, else `anonymous`. The source is recorded with every review decision, so an
    /// authentication layer can later supply verified identities next to these.
    ///
    /// With auth on, the caller is the verified user only: the auth layer removes
    /// `X-Sextant-User` and any client copy of its internal headers, then sets those headers
    /// from the credentials it checked (source `auth:basic`, `auth:token` or `auth:session`).
    pub fn actor(&self, headers: &HeaderMap) -> Actor {
        if self.auth.is_some() {
            let get = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
            return match (
                get(auth::VERIFIED_USER_HEADER),
                get(auth::VERIFIED_METHOD_HEADER),
            ) {
                (Some(user), Some(source)) => Actor::new(user, source),
                _ => Actor::new("anonymous", "none"),
            };
        }
        if let Some(name) = headers
            .get(USER_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            return Actor::new(name, "header");
        }
        match &self.default_user {
            Some(u) => Actor::new(u.clone(), "config"),
            None => Actor::new("anonymous", "none"),
        }
    }
}

/// A body-size limit for a router or route, and its value for the 413 message.
fn body_limit<S: Clone + Send + Sync + 'static>(r: Router<S>, limit: usize) -> Router<S> {
    r.layer(axum::middleware::from_fn(limits::json_payload_too_large))
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::Extension(request::BodyLimit(limit)))
}

/// A route that holds a permit of the expensive-request gate while it runs.
fn gated(
    m: axum::routing::MethodRouter<AppState>,
    gate: &limits::Gate,
) -> axum::routing::MethodRouter<AppState> {
    m.layer(axum::middleware::from_fn_with_state(
        gate.clone(),
        limits::gate,
    ))
}

fn mlflow_api(l: &limits::Limits, gate: &limits::Gate) -> Router<AppState> {
    let api = Router::new()
        .route("/experiments/create", post(experiments::create))
        .route("/experiments/get", get(experiments::get))
        .route("/experiments/get-by-name", get(experiments::get_by_name))
        .route(
            "/experiments/search",
            gated(post(experiments::search).get(experiments::search), gate),
        )
        .route("/experiments/update", post(experiments::update))
        .route("/experiments/delete", post(experiments::delete))
        .route("/experiments/restore", post(experiments::restore))
        .route(
            "/experiments/set-experiment-tag",
            post(experiments::set_tag),
        )
        .route(
            "/experiments/delete-experiment-tag",
            post(experiments::delete_tag),
        )
        .route("/runs/create", post(runs::create))
        .route("/runs/get", get(runs::get))
        .route("/runs/update", post(runs::update))
        .route("/runs/delete", post(runs::delete))
        .route("/runs/restore", post(runs::restore))
        .route(
            "/runs/search",
            gated(post(runs::search).get(runs::search), gate),
        )
        .route("/runs/log-metric", post(runs::log_metric))
        .route("/runs/log-parameter", post(runs::log_param))
        .route("/runs/set-tag", post(runs::set_tag))
        .route("/runs/delete-tag", post(runs::delete_tag))
        .route("/runs/log-batch", post(runs::log_batch))
        .route(
            "/runs/log-inputs",
            post(runs::log_inputs)
                .layer::<_, std::convert::Infallible>(DefaultBodyLimit::max(l.max_dataset_body))
                .layer::<_, std::convert::Infallible>(axum::Extension(request::BodyLimit(
                    l.max_dataset_body,
                ))),
        )
        .route("/runs/outputs", post(runs::log_outputs))
        .route("/metrics/get-history", gated(get(runs::get_history), gate))
        .route(
            "/metrics/get-history-bulk",
            gated(get(runs::get_history_bulk), gate),
        )
        .route(
            "/metrics/get-history-bulk-interval",
            gated(get(runs::get_history_bulk_interval), gate),
        )
        .route("/artifacts/list", get(artifacts::list_run_artifacts))
        .route("/logged-models", post(logged_models::create))
        .route(
            "/logged-models/search",
            gated(post(logged_models::search), gate),
        )
        .route(
            "/logged-models/{model_id}",
            get(logged_models::get)
                .patch(logged_models::finalize)
                .delete(logged_models::delete),
        )
        .route(
            "/logged-models/{model_id}/tags",
            patch(logged_models::set_tags),
        )
        .route(
            "/logged-models/{model_id}/tags/{key}",
            delete(logged_models::delete_tag),
        )
        .route(
            "/logged-models/{model_id}/params",
            post(logged_models::log_params),
        )
        .route(
            "/logged-models/{model_id}/metrics",
            post(logged_models::log_metrics),
        )
        .route("/registered-models/create", post(registry::create_model))
        .route("/registered-models/get", get(registry::get_model))
        .route("/registered-models/rename", post(registry::rename_model))
        .route("/registered-models/update", patch(registry::update_model))
        .route("/registered-models/delete", delete(registry::delete_model))
        .route(
            "/registered-models/search",
            gated(
                get(registry::search_models).post(registry::search_models),
                gate,
            ),
        )
        .route(
            "/registered-models/get-latest-versions",
            post(registry::latest_versions).get(registry::latest_versions),
        )
        .route("/registered-models/set-tag", post(registry::set_model_tag))
        .route(
            "/registered-models/delete-tag",
            delete(registry::delete_model_tag),
        )
        .route(
            "/registered-models/alias",
            post(registry::set_alias)
                .delete(registry::delete_alias)
                .get(registry::get_by_alias),
        )
        .route("/model-versions/create", post(registry::create_version))
        .route("/model-versions/get", get(registry::get_version))
        .route("/model-versions/update", patch(registry::update_version))
        .route("/model-versions/delete", delete(registry::delete_version))
        .route(
            "/model-versions/search",
            gated(
                get(registry::search_versions).post(registry::search_versions),
                gate,
            ),
        )
        .route(
            "/model-versions/get-download-uri",
            get(registry::download_uri),
        )
        .route(
            "/model-versions/transition-stage",
            post(registry::transition_stage),
        )
        .route("/model-versions/set-tag", post(registry::set_version_tag))
        .route(
            "/model-versions/delete-tag",
            delete(registry::delete_version_tag),
        );
    body_limit(api, l.max_request_body).layer(axum::middleware::from_fn(limits::reject_nul_in_uri))
}

/// Sextant's own API (review, protected aliases, audit), under `/api/sextant/v1`.
fn sextant_api(l: &limits::Limits) -> Router<AppState> {
    let api = Router::new()
        .route("/openapi.yaml", get(review::openapi))
        .route("/models", get(review::list_models))
        .route("/models/{name}", get(review::show_model))
        .route(
            "/models/{name}/versions/{version}/review",
            get(review::get_review).post(review::decide),
        )
        .route(
            "/models/{name}/versions/{version}/checks",
            post(review::record_check),
        )
        .route(
            "/models/{name}/versions/{version}/report",
            put(review::set_report),
        )
        .route(
            "/models/{name}/aliases/{alias}",
            put(review::promote).delete(review::remove_alias),
        )
        .route(
            "/models/{name}/protected-aliases/{alias}",
            put(review::protect).delete(review::unprotect),
        )
        .route("/models/{name}/audit", get(review::audit));
    body_limit(api, l.max_request_body).layer(axum::middleware::from_fn(limits::reject_nul_in_uri))
}

fn artifacts_api() -> Router<AppState> {
    Router::new()
        .route("/artifacts", get(artifacts::list))
        .route(
            "/artifacts/{*path}",
            get(artifacts::download)
                .put(artifacts::upload)
                .delete(artifacts::delete),
        )
        .route("/mpu/create/{*path}", post(artifacts::mpu_create))
        .route("/mpu/upload/{*path}", put(artifacts::mpu_upload_part))
        .route("/mpu/complete/{*path}", post(artifacts::mpu_complete))
        .route("/mpu/abort/{*path}", post(artifacts::mpu_abort))
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn(limits::reject_nul_in_uri))
}

/// The whole application.
pub fn app(state: AppState) -> Router {
    let guard_config = Arc::clone(&state.guard);
    let limits = Arc::clone(&state.limits);
    let gate = limits::Gate::new(&limits);
    Router::new()
        .nest("/api/2.0/mlflow", mlflow_api(&limits, &gate))
        .nest("/ajax-api/2.0/mlflow", mlflow_api(&limits, &gate))
        .nest("/api/2.0/mlflow-artifacts", artifacts_api())
        .nest("/ajax-api/2.0/mlflow-artifacts", artifacts_api())
        .nest("/api/sextant/v1", sextant_api(&limits))
        .route("/api/3.0/mlflow/server-info", get(misc::server_info))
        .route("/health", get(misc::health))
        .route("/version", get(misc::version))
        .merge(ui::router())
        .merge(auth::api::routes())
        .fallback(ui::fallback)
        .layer(TraceLayer::new_for_http())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::layer,
        ))
        .layer(axum::middleware::from_fn_with_state(
            guard_config,
            guard::guard,
        ))
        // Outermost: a panicking handler becomes a logged 500 with MLflow's JSON body.
        .layer(sextant_http::catch_panic())
        .with_state(state)
}

pub use sextant_http::ConnOptions;

/// Serve `app` on `listener` until `shutdown` completes; then stop accepting connections and
/// let in-flight requests finish (bounded by `grace`). Default connection limits.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let conn = ConnOptions {
        grace,
        ..ConnOptions::default()
    };
    serve_with(listener, app, shutdown, conn).await
}

/// [`serve`] with explicit connection limits: a header-read (and keep-alive idle) timeout and
/// a connection limit that closes idle connections first ([`sextant_http`]). Each request
/// carries the peer address as `ConnectInfo<SocketAddr>` (the guard's protected mode reads it).
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    conn: ConnOptions,
) -> std::io::Result<()> {
    sextant_http::serve(listener, app, shutdown, conn).await
}
