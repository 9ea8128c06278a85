//! The whole service: resolve and load every model, listen, poll aliases, stop on a signal.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sextant_client::Client;

use crate::batch::BatchOptions;
use crate::engine::EngineChoice;
use crate::error::{Result, ServingError};
use crate::http::{AppState, app};
use crate::metrics::Metrics;
use crate::registry::ModelRef;
use crate::reqlog::{RequestLog, RequestLogOptions};
use crate::slot::{Slot, poll_forever};

/// What to serve and where.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub models: Vec<ModelRef>,
    pub engine: EngineChoice,
    pub addr: String,
    pub poll_interval: Duration,
    /// Where versions are downloaded before they load.
    pub work_dir: PathBuf,
    /// Micro-batching (off when `None`).
    pub batch: Option<BatchOptions>,
    /// The request log (off when `None`).
    pub request_log: Option<RequestLogOptions>,
}

/// Load every model (a model that fails is reported, not served), then serve until
/// `shutdown` resolves; requests in flight finish first.
pub async fn serve(
    client: Client,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let metrics = Arc::new(Metrics::default());
    // A request log that cannot be opened stops the start, before any model is loaded.
    let request_log = opts
        .request_log
        .as_ref()
        .map(|o| RequestLog::open(o, Arc::clone(&metrics)))
        .transpose()?;
    let slots: Vec<Arc<Slot>> = opts
        .models
        .iter()
        .map(|r| Arc::new(Slot::new(r.clone(), opts.engine, opts.work_dir.clone())))
        .collect();
    let loads: Vec<_> = slots
        .iter()
        .map(|s| {
            let (s, c) = (Arc::clone(s), client.clone());
            tokio::task::spawn_blocking(move || s.refresh(&c))
        })
        .collect();
    for l in loads {
        l.await
            .map_err(|e| ServingError::Inference(format!("a model load task failed: {e}")))?;
    }
    for s in &slots {
        match s.current() {
            Some(m) => eprintln!(
                "serving {} version {} ({} engine)",
                s.model,
                m.version,
                m.engine.name()
            ),
            None => eprintln!(
                "NOT serving {}: {}",
                s.model,
                s.last_error().unwrap_or_else(|| "not loaded".into())
            ),
        }
    }
    let listener = tokio::net::TcpListener::bind(&opts.addr)
        .await
        .map_err(|source| ServingError::Bind {
            addr: opts.addr.clone(),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| ServingError::Bind {
        addr: opts.addr.clone(),
        source,
    })?;
    let poller = tokio::spawn(poll_forever(client, slots.clone(), opts.poll_interval));
    eprintln!("sextant serve listening on http://{local}");
    tracing::info!(
        "sextant serve {} listening on http://{local}",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(b) = &opts.batch {
        tracing::info!(
            window_ms = b.window.as_secs_f64() * 1e3,
            max_rows = b.max_rows,
            "micro-batching on"
        );
    }
    let mut state = AppState::new(slots);
    state.metrics = metrics;
    state.batch = opts.batch;
    state.request_log = request_log.clone();
    // Header-read/idle timeouts and a connection limit that sheds idle connections first;
    // every connection gets TCP_NODELAY (answers are written whole).
    let served = sextant_http::serve(
        listener,
        app(state),
        shutdown,
        sextant_http::ConnOptions::default(),
    )
    .await;
    poller.abort();
    if let Some(log) = request_log {
        log.close();
    }
    served.map_err(|source| ServingError::Bind {
        addr: local.to_string(),
        source,
    })?;
    tracing::info!("stopped");
    Ok(())
}
