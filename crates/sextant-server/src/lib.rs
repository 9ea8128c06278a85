//! Sextant's HTTP server: MLflow's REST API and artifact proxy.
//!
//! [`app`] builds the axum router over an [`AppState`] (the tracking service and the artifact
//! store); [`serve`] runs it on a listener until a shutdown signal, finishing in-flight requests.
//! Handlers are thin: read the request message ([`request::Msg`]), call one service function,
//! wrap the result. Errors become MLflow's JSON error bodies in one place ([`error`]).
//!
//! Every API route is served under `/api/2.0/mlflow/` and, for MLflow's UI conventions, under
//! `/ajax-api/2.0/mlflow/` too.

pub mod error;
pub mod handlers;
pub mod request;

use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post, put};
use sextant_artifacts::ArtifactStore;
use sextant_core::tracking::TrackingService;
use tower_http::trace::TraceLayer;

use handlers::{artifacts, experiments, logged_models, misc, runs};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub tracking: TrackingService,
    pub artifacts: Arc<dyn ArtifactStore>,
}

/// Largest JSON request body accepted (dataset profiles may reach 16 MB).
const MAX_JSON_BODY: usize = 32 * 1024 * 1024;

fn mlflow_api() -> Router<AppState> {
    Router::new()
        .route("/experiments/create", post(experiments::create))
        .route("/experiments/get", get(experiments::get))
        .route("/experiments/get-by-name", get(experiments::get_by_name))
        .route(
            "/experiments/search",
            post(experiments::search).get(experiments::search),
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
        .route("/runs/search", post(runs::search).get(runs::search))
        .route("/runs/log-metric", post(runs::log_metric))
        .route("/runs/log-parameter", post(runs::log_param))
        .route("/runs/set-tag", post(runs::set_tag))
        .route("/runs/delete-tag", post(runs::delete_tag))
        .route("/runs/log-batch", post(runs::log_batch))
        .route("/runs/log-inputs", post(runs::log_inputs))
        .route("/runs/outputs", post(runs::log_outputs))
        .route("/metrics/get-history", get(runs::get_history))
        .route("/artifacts/list", get(artifacts::list_run_artifacts))
        .route("/logged-models", post(logged_models::create))
        .route("/logged-models/search", post(logged_models::search))
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
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
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
}

/// The whole application.
pub fn app(state: AppState) -> Router {
    Router::new()
        .nest("/api/2.0/mlflow", mlflow_api())
        .nest("/ajax-api/2.0/mlflow", mlflow_api())
        .nest("/api/2.0/mlflow-artifacts", artifacts_api())
        .nest("/ajax-api/2.0/mlflow-artifacts", artifacts_api())
        .route("/api/3.0/mlflow/server-info", get(misc::server_info))
        .route("/health", get(misc::health))
        .route("/version", get(misc::version))
        .fallback(misc::not_found)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serve `app` on `listener` until `shutdown` completes; then stop accepting connections and
/// let in-flight requests finish (bounded by `grace`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = tx.send(());
    });
    let mut server = Box::pin(server.into_future());
    tokio::select! {
        r = &mut server => r,
        () = async {
            let _ = rx.await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!("in-flight requests did not finish within the grace period");
            Ok(())
        }
    }
}
