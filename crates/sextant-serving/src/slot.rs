//! One served model name: the version serving now, swapped atomically when its alias moves.
//!
//! A poller resolves the alias every interval; a new version is downloaded and loaded on a
//! blocking thread while the old one keeps answering, then replaces it in one atomic store.
//! Requests hold an `Arc` to the version they started on, so in-flight ones finish on it. A
//! version that fails (refused by review, an engine, or its input example) leaves the old one
//! serving, and the reason is logged and shown on `/health`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use serde_json::{Value, json};
use sextant_client::Client;

use crate::engine::EngineChoice;
use crate::error::ServingError;
use crate::model::ServedModel;
use crate::registry::{self, ModelRef};

#[derive(Debug, Default, Clone)]
struct Status {
    /// The last problem (a failed load, an unapproved version), if the latest attempt failed.
    error: Option<String>,
    /// The version that last failed, so it is not reloaded every poll.
    failed_version: Option<String>,
    last_checked_ms: i64,
}

/// A model name served under an alias.
pub struct Slot {
    pub model: ModelRef,
    pub engine: EngineChoice,
    current: ArcSwapOption<ServedModel>,
    status: Mutex<Status>,
    work_dir: PathBuf,
}

impl Slot {
    pub fn new(model: ModelRef, engine: EngineChoice, work_dir: PathBuf) -> Self {
        Self {
            model,
            engine,
            current: ArcSwapOption::empty(),
            status: Mutex::default(),
            work_dir,
        }
    }

    /// The version serving now.
    pub fn current(&self) -> Option<Arc<ServedModel>> {
        self.current.load_full()
    }

    /// Serve `m` from now on (atomically).
    pub fn install(&self, m: ServedModel) {
        self.current.store(Some(Arc::new(m)));
    }

    fn set_status(&self, f: impl FnOnce(&mut Status)) {
        if let Ok(mut s) = self.status.lock() {
            f(&mut s);
            s.last_checked_ms = sextant_client::now_ms();
        }
    }

    /// `/health`'s entry for this model.
    pub fn health(&self) -> Value {
        let st = self.status.lock().map(|s| s.clone()).unwrap_or_default();
        let cur = self.current();
        json!({
            "name": self.model.name,
            "alias": self.model.alias,
            "ready": cur.is_some(),
            "version": cur.as_ref().map(|m| m.version.clone()),
            "engine": cur.as_ref().map(|m| m.engine.name()),
            "error": st.error,
            "last_checked_ms": st.last_checked_ms,
        })
    }

    pub fn last_error(&self) -> Option<String> {
        self.status.lock().ok().and_then(|s| s.error.clone())
    }

    /// Resolve the alias and, if it points at a version not serving yet, load that version
    /// (blocking). Returns whether a new version was installed.
    pub fn refresh(&self, client: &Client) -> bool {
        let resolved = match registry::resolve(client, &self.model) {
            Ok(r) => r,
            Err(e) => {
                // Whatever serves keeps serving: a version refused by review is never loaded,
                // and a transient network failure changes nothing.
                let serving = self.current().map(|m| m.version.clone());
                let message = e.to_string();
                let repeated = self.last_error().as_deref() == Some(message.as_str());
                if matches!(e, ServingError::NotApproved { .. }) {
                    if !repeated {
                        tracing::error!(model = %self.model, ?serving, error = %e, "refused by review: not served; the previous version (if any) keeps serving");
                    }
                } else if !repeated {
                    tracing::warn!(model = %self.model, ?serving, error = %e, "cannot resolve; keeping what serves");
                }
                self.set_status(|s| s.error = Some(message));
                return false;
            }
        };
        if self
            .current()
            .is_some_and(|m| m.version == resolved.version)
        {
            self.set_status(|s| s.error = None);
            return false;
        }
        if self
            .status
            .lock()
            .ok()
            .and_then(|s| s.failed_version.clone())
            == Some(resolved.version.clone())
        {
            return false;
        }
        tracing::info!(model = %self.model, version = %resolved.version, "loading");
        match self.load(client, &resolved) {
            Ok(m) => {
                let old = self.current().map(|m| m.version.clone());
                self.install(m);
                tracing::info!(model = %self.model, version = %resolved.version, ?old, "serving");
                self.set_status(|s| {
                    s.error = None;
                    s.failed_version = None;
                });
                true
            }
            Err(e) => {
                tracing::error!(model = %self.model, version = %resolved.version, error = %e, "not served; the previous version (if any) keeps serving");
                self.set_status(|s| {
                    s.error = Some(format!("version {}: {e}", resolved.version));
                    s.failed_version = Some(resolved.version.clone());
                });
                false
            }
        }
    }

    fn load(&self, client: &Client, r: &registry::Resolved) -> Result<ServedModel, ServingError> {
        std::fs::create_dir_all(&self.work_dir).map_err(|source| ServingError::Io {
            path: self.work_dir.clone(),
            source,
        })?;
        let tmp = tempfile::Builder::new()
            .prefix(&format!("{}-v{}-", sanitize(&r.name), r.version))
            .tempdir_in(&self.work_dir)
            .map_err(|source| ServingError::Io {
                path: self.work_dir.clone(),
                source,
            })?;
        // The manifest first: a version approved after its files were downloaded is still
        // checked against what was approved.
        let approved = registry::approved_files(client, r)?;
        registry::download(client, r, tmp.path())?;
        match &approved {
            Some(manifest) => registry::verify(r, manifest, tmp.path())?,
            None if r.review_status == "approved" => tracing::warn!(
                model = %r.name,
                version = %r.version,
                "approved without a files digest (its files are not stored by the tracking server, or it was approved before digests were recorded): not verified"
            ),
            None => {}
        }
        ServedModel::load(&r.name, &r.version, tmp.path(), self.engine)
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Poll every slot's alias every `interval` until `shutdown` resolves.
pub async fn poll_forever(client: Client, slots: Vec<Arc<Slot>>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        for slot in &slots {
            let (c, s) = (client.clone(), Arc::clone(slot));
            if let Err(e) = tokio::task::spawn_blocking(move || s.refresh(&c)).await {
                tracing::error!(error = %e, "alias poll task failed");
            }
        }
    }
}
