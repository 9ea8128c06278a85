//! Sextant's metadata store: experiments, runs, metrics, params, tags, datasets, logged models.
//!
//! [`MetadataStore`] is the one interface the services use. [`SqlStore`] implements it once, in
//! plain SQL, over two backends behind the small [`db::Db`] layer: embedded SQLite (the default,
//! one file, zero setup) and PostgreSQL (for teams). Both run the same numbered migrations on
//! open, and the same conformance suite ([`conformance`]) runs against each.
//!
//! Every write is one transaction: a batch either lands whole or not at all. The store enforces
//! what needs the database to check (existence, uniqueness, params never changing, a run being
//! active); validation of names, lengths and limits belongs to the services above.
//!
//! This crate knows nothing of HTTP.

pub mod auth;
pub mod auth_conformance;
mod charts_sql;
pub mod conformance;
pub mod db;
mod migrations;
pub mod postgres;
pub mod registry;
pub mod registry_conformance;
mod search_sql;
mod sql_store;
pub mod sqlite;

use std::sync::Arc;

use sextant_search::{Condition, ExperimentField, LoggedModelField, OrderBy, RunField};
use sextant_types::{
    DatasetInput, Experiment, LifecycleStage, LoggedModel, LoggedModelMetric, LoggedModelStatus,
    Metric, ModelInput, ModelOutput, Param, Run, RunInfo, RunStatus, Tag, ViewType,
};

pub use auth::AuthStore;
pub use charts_sql::{ChartBucketRow, ChartData, ChartQuery, ChartX};
pub use registry::{
    ALLOW_SELF_REVIEW_TAG, ApprovedFiles, ModelVersionSearch, NewModelVersion,
    RegisteredModelSearch, RegistryStore, VersionSummary,
};
pub use sql_store::SqlStore;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing asked for does not exist. The message is MLflow's wording.
    #[error("{0}")]
    NotFound(String),
    /// A thing with that identity exists already.
    #[error("{0}")]
    AlreadyExists(String),
    /// The request is well-formed but breaks a rule the store enforces.
    #[error("{0}")]
    InvalidState(String),
    /// Params already logged with other values (nothing was written). Displayed as MLflow's
    /// log-batch message; a single log-parameter call words it differently (see
    /// [`StoreError::param_changed_message`]).
    #[error("{}", params_changed_message(.run_id, .changes))]
    ParamsChanged {
        run_id: String,
        changes: Vec<ParamChange>,
    },
    /// The actor may not do this, whatever their permissions (e.g. review a version they
    /// authored: separation of duties).
    #[error("{0}")]
    PermissionDenied(String),
    /// A uniqueness race inside the database (retried where it can be).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database did not answer in time: a statement ran past the statement timeout, every
    /// pooled connection stayed busy, or the request went away and its query was cancelled.
    /// Nothing was written.
    #[error("the database did not answer in time: {0}")]
    Timeout(String),
    /// The database could not be opened or migrated.
    #[error("cannot open the store at {target}: {message}")]
    Open { target: String, message: String },
    /// The database failed.
    #[error("database error: {0}")]
    Database(String),
    /// A broken invariant inside the store.
    #[error("internal store error: {0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// One param that a request tried to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamChange {
    pub key: String,
    pub old_value: String,
    pub new_value: String,
}

/// A string as Python's `repr` writes it (MLflow's messages embed Python reprs).
fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

fn params_changed_message(run_id: &str, changes: &[ParamChange]) -> String {
    let list: Vec<String> = changes
        .iter()
        .map(|c| {
            format!(
                "{{'key': {}, 'old_value': {}, 'new_value': {}}}",
                py_repr(&c.key),
                py_repr(&c.old_value),
                py_repr(&c.new_value)
            )
        })
        .collect();
    format!(
        "Changing param values is not allowed. Params were already logged='[{}]' for run ID='{run_id}'.",
        list.join(", ")
    )
}

impl StoreError {
    /// MLflow's message for a single `log-parameter` call that tries to change a param.
    pub fn param_changed_message(run_id: &str, change: &ParamChange) -> String {
        format!(
            "Changing param values is not allowed. Param with key='{}' was already logged with \
             value='{}' for run ID='{run_id}'. Attempted logging new value '{}'.",
            change.key, change.old_value, change.new_value
        )
    }
}

#[cfg(test)]
mod message_tests {
    use super::*;

    #[test]
    fn batch_message_uses_python_reprs() {
        let e = StoreError::ParamsChanged {
            run_id: "r1".into(),
            changes: vec![ParamChange {
                key: "p".into(),
                old_value: "it's".into(),
                new_value: "changed".into(),
            }],
        };
        assert_eq!(
            e.to_string(),
            "Changing param values is not allowed. Params were already logged=\
             '[{'key': 'p', 'old_value': \"it's\", 'new_value': 'changed'}]' for run ID='r1'."
        );
    }
}

/// A new run, as the services hand it to the store.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub experiment_id: String,
    pub user_id: String,
    pub run_name: String,
    pub start_time: Option<i64>,
    pub tags: Vec<Tag>,
}

/// The changes of an `update run` call.
#[derive(Debug, Clone, Default)]
pub struct RunUpdate {
    pub status: Option<RunStatus>,
    pub end_time: Option<i64>,
    pub run_name: Option<String>,
}

/// A page of results and the offset of the next page, if there is one.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_offset: Option<u64>,
}

/// A run search, already parsed and validated.
#[derive(Debug, Clone)]
pub struct RunSearch {
    pub experiment_ids: Vec<String>,
    pub filter: Vec<Condition<RunField>>,
    pub order_by: Vec<OrderBy<RunField>>,
    pub view: ViewType,
    pub max_results: u64,
    pub offset: u64,
}

/// An experiment search, already parsed and validated.
#[derive(Debug, Clone)]
pub struct ExperimentSearch {
    pub filter: Vec<Condition<ExperimentField>>,
    pub order_by: Vec<OrderBy<ExperimentField>>,
    pub view: ViewType,
    pub max_results: u64,
    pub offset: u64,
}

/// A logged-model search, already parsed and validated.
#[derive(Debug, Clone)]
pub struct LoggedModelSearch {
    pub experiment_ids: Vec<String>,
    pub filter: Vec<Condition<LoggedModelField>>,
    pub order_by: Vec<OrderBy<LoggedModelField>>,
    pub max_results: u64,
    pub offset: u64,
}

/// A new logged model.
#[derive(Debug, Clone)]
pub struct NewLoggedModel {
    pub experiment_id: String,
    pub name: String,
    pub model_type: String,
    pub source_run_id: Option<String>,
    pub params: Vec<Param>,
    pub tags: Vec<Tag>,
}

/// A page of one metric's history, in MLflow's order: timestamp, then step, then value.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    pub metrics: Vec<Metric>,
    /// Where the next page starts, when there is more.
    pub next: Option<HistoryCursor>,
}

/// The active runs of one experiment, counted in SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExperimentRunStats {
    /// Active runs (deleted ones are not counted).
    pub active_runs: u64,
    /// The latest start time of an active run.
    pub last_start_time: Option<i64>,
    /// The latest end time of an active run.
    pub last_end_time: Option<i64>,
}

/// Keyset position in a metric's history: the last point returned.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HistoryCursor {
    pub step: i64,
    pub timestamp: i64,
    pub value: f64,
    pub is_nan: bool,
}

/// The metadata store. All methods are transactional.
#[async_trait::async_trait]
pub trait MetadataStore: Send + Sync + 'static {
    /// Where the store lives (no secrets), for logs.
    fn describe(&self) -> String;

    // --- experiments
    /// Create an experiment; `artifact_location` may refer to `{id}`, replaced by the new id.
    async fn create_experiment(
        &self,
        name: &str,
        artifact_location: &str,
        tags: &[Tag],
    ) -> Result<String>;
    async fn get_experiment(&self, id: &str) -> Result<Experiment>;
    async fn get_experiment_by_name(&self, name: &str) -> Result<Experiment>;
    async fn search_experiments(&self, search: ExperimentSearch) -> Result<Page<Experiment>>;
    async fn rename_experiment(&self, id: &str, new_name: &str) -> Result<()>;
    async fn set_experiment_lifecycle(&self, id: &str, stage: LifecycleStage) -> Result<()>;
    async fn set_experiment_tag(&self, id: &str, tag: &Tag) -> Result<()>;
    async fn delete_experiment_tag(&self, id: &str, key: &str) -> Result<()>;

    // --- runs
    async fn create_run(&self, run: NewRun) -> Result<Run>;
    async fn get_run(&self, run_id: &str) -> Result<Run>;
    async fn update_run(&self, run_id: &str, update: RunUpdate) -> Result<RunInfo>;
    async fn set_run_lifecycle(&self, run_id: &str, stage: LifecycleStage) -> Result<()>;
    /// Log metrics, params and tags in one transaction; nothing is stored if any part fails.
    async fn log_batch(
        &self,
        run_id: &str,
        metrics: Vec<Metric>,
        params: Vec<Param>,
        tags: Vec<Tag>,
    ) -> Result<()>;
    async fn delete_run_tag(&self, run_id: &str, key: &str) -> Result<()>;
    async fn log_inputs(
        &self,
        run_id: &str,
        datasets: Vec<DatasetInput>,
        models: Vec<ModelInput>,
    ) -> Result<()>;
    async fn log_outputs(&self, run_id: &str, models: Vec<ModelOutput>) -> Result<()>;
    async fn get_metric_history(
        &self,
        run_id: &str,
        key: &str,
        max_results: u64,
        after: Option<HistoryCursor>,
    ) -> Result<HistoryPage>;
    async fn search_runs(&self, search: RunSearch) -> Result<Page<Run>>;

    // --- logged models (MLflow 3)
    async fn create_logged_model(&self, model: NewLoggedModel) -> Result<LoggedModel>;
    async fn get_logged_model(&self, model_id: &str, allow_deleted: bool) -> Result<LoggedModel>;
    async fn finalize_logged_model(
        &self,
        model_id: &str,
        status: LoggedModelStatus,
    ) -> Result<LoggedModel>;
    async fn delete_logged_model(&self, model_id: &str) -> Result<()>;
    async fn set_logged_model_tags(&self, model_id: &str, tags: Vec<Tag>) -> Result<()>;
    async fn delete_logged_model_tag(&self, model_id: &str, key: &str) -> Result<()>;
    async fn log_logged_model_params(&self, model_id: &str, params: Vec<Param>) -> Result<()>;
    async fn log_logged_model_metrics(
        &self,
        model_id: &str,
        metrics: Vec<LoggedModelMetric>,
    ) -> Result<()>;
    async fn search_logged_models(&self, search: LoggedModelSearch) -> Result<Page<LoggedModel>>;

    // --- charts and summaries (the web UI)
    /// One metric of one run downsampled into equal-width buckets over step or time, in SQL.
    async fn metric_chart(&self, query: ChartQuery) -> Result<ChartData>;
    /// How many active runs an experiment has and their latest start and end times: one
    /// aggregate query over the experiment's index range, whatever the number of runs.
    /// `NotFound` (MLflow's message) when the experiment does not exist.
    async fn experiment_run_stats(&self, experiment_id: &str) -> Result<ExperimentRunStats>;

    /// Whether the database answers a trivial query within `within` (for `/health`): on a
    /// connection of its own where the backend pools them, so a busy store still answers.
    async fn ping(&self, within: std::time::Duration) -> Result<()> {
        let _ = within;
        Ok(())
    }
}

/// Everything the services need from one store: tracking metadata, the model registry and
/// the authentication store.
pub trait Store: MetadataStore + RegistryStore + AuthStore {}
impl<T: MetadataStore + RegistryStore + AuthStore> Store for T {}

/// Open the store named by a backend URI: `sqlite:///relative/path.db`,
/// `sqlite:////absolute/path.db`, or `postgresql://user:pass@host:port/db`. Runs pending
/// migrations and makes sure the `Default` experiment exists.
pub async fn open(uri: &str, default_artifact_root: &str) -> Result<Arc<dyn Store>> {
    open_with(uri, default_artifact_root, StoreOptions::default()).await
}

/// The default PostgreSQL statement timeout.
pub const DEFAULT_STATEMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How a store is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// PostgreSQL: the longest any one statement may run before the database cancels it
    /// ([`StoreError::Timeout`]); `None` for no limit. SQLite ignores it.
    pub statement_timeout: Option<std::time::Duration>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            statement_timeout: Some(DEFAULT_STATEMENT_TIMEOUT),
        }
    }
}

/// [`open`] with explicit [`StoreOptions`].
pub async fn open_with(
    uri: &str,
    default_artifact_root: &str,
    options: StoreOptions,
) -> Result<Arc<dyn Store>> {
    let uri = uri.to_owned();
    let root = default_artifact_root.to_owned();
    tokio::task::spawn_blocking(move || open_blocking(&uri, &root, &options))
        .await
        .map_err(|e| StoreError::Internal(format!("open task failed: {e}")))?
}

fn open_blocking(
    uri: &str,
    default_artifact_root: &str,
    options: &StoreOptions,
) -> Result<Arc<dyn Store>> {
    if let Some(path) = uri.strip_prefix("sqlite://") {
        // sqlite:///rel.db -> "/rel.db" -> rel.db ; sqlite:////abs.db -> "//abs.db" -> /abs.db
        let path = path.strip_prefix('/').unwrap_or(path);
        if path.is_empty() || path == ":memory:" {
            return Err(StoreError::Open {
                target: uri.to_owned(),
                message: "give a file path, e.g. sqlite:///sextant-data/sextant.db".into(),
            });
        }
        let db = sqlite::SqliteDb::open(std::path::Path::new(path))?;
        Ok(Arc::new(SqlStore::new(db, default_artifact_root)?))
    } else if uri.starts_with("postgresql://")
        || uri.starts_with("postgres://")
        || uri.starts_with("postgresql+psycopg2://")
        || uri.starts_with("postgresql+psycopg://")
    {
        // SQLAlchemy's driver suffixes, as MLflow users write them, name the same server.
        let uri = uri
            .replacen("postgresql+psycopg2://", "postgresql://", 1)
            .replacen("postgresql+psycopg://", "postgresql://", 1);
        let db = postgres::PgDb::open(&uri)?;
        let timeout = db.statement_timeout();
        let store = SqlStore::new(db, default_artifact_root)?;
        // After the migrations: a long migration is never cut short.
        timeout.set(options.statement_timeout);
        Ok(Arc::new(store))
    } else {
        Err(StoreError::Open {
            target: uri.to_owned(),
            message: "unsupported backend store URI; use sqlite:///PATH or postgresql://USER@HOST:PORT/DB".into(),
        })
    }
}
