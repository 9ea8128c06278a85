//! A typed, blocking HTTP client for a tracking server that speaks MLflow's REST API — a
//! `sextant server` or an `mlflow server` — plus Sextant's own API under `/api/sextant/v1`.
//!
//! The client commands (`sextant run`, `sextant compare`, `sextant models`, ...) and tests use it
//! instead of hand-written requests. It owns three things and nothing else:
//!
//! - **the wire shapes**: requests are built from `sextant_types` and answers decoded into them;
//! - **MLflow's limits**: [`Client::log_batch`] splits any number of metrics, params and tags into
//!   requests the server accepts; searches and metric histories follow `next_page_token` to the end;
//! - **errors a person can act on**: an unreachable server, a refusal with MLflow's `error_code`
//!   and message, an answer that is not what the API promises ([`ClientError`]).
//!
//! - **credentials**: the variables the mlflow client reads — `MLFLOW_TRACKING_USERNAME` and
//!   `MLFLOW_TRACKING_PASSWORD` (HTTP Basic), `MLFLOW_TRACKING_TOKEN` (Bearer) — are sent with
//!   every request ([`Credentials`]); a 401 or 403 becomes an error saying which to set.
//!
//! It is blocking on purpose: its callers are command-line tools that do one thing at a time, and
//! a blocking agent keeps them free of an async runtime.
//!
//! ```no_run
//! use sextant_client::{Client, NewRun};
//! let client = Client::from_env(None)?; // MLFLOW_TRACKING_URI
//! let exp = client.get_or_create_experiment("nightly")?;
//! let run = client.create_run(&NewRun { experiment_id: exp, ..NewRun::default() })?;
//! client.log_batch(&run.info.run_id, &[], &[sextant_client::Tag::new("lr", "0.1")], &[])?;
//! # Ok::<(), sextant_client::ClientError>(())
//! ```

mod auth;
mod error;
mod registry;
mod tokens;

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub use auth::{
    Credentials, Expiry, MLFLOW_TRACKING_PASSWORD, MLFLOW_TRACKING_TOKEN, MLFLOW_TRACKING_USERNAME,
    parse_credentials_file,
};
pub use error::ClientError;
pub use registry::{AliasSummary, ModelDetails, ModelSummary, VersionWithReview};
pub use sextant_types::{
    Experiment, LifecycleStage, Metric, Param, Run, RunInfo, RunStatus, Tag, ViewType, WireF64,
};
pub use tokens::{CurrentUser, NewToken, TokenInfo};

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// The variable MLflow's client reads the server address from; so do we.
pub const MLFLOW_TRACKING_URI: &str = "MLFLOW_TRACKING_URI";

/// MLflow's limits on one `runs/log-batch` request.
pub const MAX_BATCH_METRICS: usize = 1000;
pub const MAX_BATCH_PARAMS: usize = 100;
pub const MAX_BATCH_TAGS: usize = 100;
pub const MAX_BATCH_ENTITIES: usize = 1000;

/// Page sizes used when following pages to the end.
const RUNS_PAGE: usize = 1000;
const EXPERIMENTS_PAGE: usize = 1000;
const HISTORY_PAGE: usize = 25_000;

/// A connection to one tracking server.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    user: Option<String>,
    credentials: Option<Credentials>,
    agent: ureq::Agent,
    retries: u32,
}

/// What `runs/create` needs; everything but the experiment is optional.
#[derive(Debug, Clone, Default)]
pub struct NewRun {
    pub experiment_id: String,
    pub run_name: Option<String>,
    /// Milliseconds since the epoch; the server's clock when `None`.
    pub start_time: Option<i64>,
    pub tags: Vec<Tag>,
    /// `user_id` of the run (MLflow fills it from `mlflow.user` when absent).
    pub user_id: Option<String>,
}

/// A `runs/search` query. `max_results: None` reads every matching run.
#[derive(Debug, Clone, Default)]
pub struct RunQuery {
    pub experiment_ids: Vec<String>,
    pub filter: String,
    pub order_by: Vec<String>,
    pub view: ViewType,
    pub max_results: Option<usize>,
}

/// One entry of an artifact listing; `path` is relative to the run's artifact root.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FileInfo {
    pub path: String,
    #[serde(default)]
    pub is_dir: bool,
    #[serde(default)]
    pub file_size: Option<u64>,
}

/// One path segment or query value, percent-encoded (names may hold `/`, spaces, ...).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A relative artifact path, each segment encoded, `/` kept.
fn encode_path(p: &str) -> String {
    p.split('/')
        .filter(|s| !s.is_empty())
        .map(encode_segment)
        .collect::<Vec<_>>()
        .join("/")
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[derive(Deserialize)]
struct RunEnvelope {
    run: Run,
}

#[derive(Deserialize)]
struct ExperimentEnvelope {
    experiment: Experiment,
}

#[derive(Deserialize)]
struct RunsPage {
    #[serde(default)]
    runs: Vec<Run>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct ExperimentsPage {
    #[serde(default)]
    experiments: Vec<Experiment>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct HistoryPage {
    #[serde(default)]
    metrics: Vec<Metric>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct FilesPage {
    #[serde(default)]
    files: Vec<FileInfo>,
}

/// A request body: none, JSON, or raw bytes.
enum Body<'a> {
    None,
    Json(&'a Value),
    Bytes(&'a [u8]),
}

impl Client {
    /// A client for the server at `base` (`http://host:port`, with or without a trailing `/`),
    /// sending the credentials of the environment ([`Credentials::from_env`]) as the mlflow
    /// client does; [`Client::with_credentials`] replaces them.
    pub fn new(base: &str) -> Result<Self> {
        let trimmed = base.trim().trim_end_matches('/');
        if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) {
            return Err(ClientError::InvalidUri {
                uri: base.to_owned(),
                reason: "the tracking URI must be an http:// or https:// URL".into(),
            });
        }
        Ok(Self {
            base: trimmed.to_owned(),
            user: None,
            credentials: Credentials::from_env(),
            agent: ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(10))
                .timeout(Duration::from_secs(300))
                .user_agent(concat!("sextant-client/", env!("CARGO_PKG_VERSION")))
                .build(),
            retries: 3,
        })
    }

    /// The server named by `flag` if given, else by `MLFLOW_TRACKING_URI`.
    pub fn from_env(flag: Option<String>) -> Result<Self> {
        let uri = flag
            .or_else(|| std::env::var(MLFLOW_TRACKING_URI).ok())
            .filter(|u| !u.trim().is_empty())
            .ok_or(ClientError::NoTrackingUri)?;
        Self::new(&uri)
    }

    /// Send `X-Sextant-User: user` with every request (who made registry and review changes).
    pub fn with_user(mut self, user: Option<String>) -> Self {
        self.user = user.filter(|u| !u.trim().is_empty());
        self
    }

    /// Send these credentials (or none) instead of the environment's.
    pub fn with_credentials(mut self, credentials: Option<Credentials>) -> Self {
        self.credentials = credentials;
        self
    }

    /// The credentials sent with every request, if any.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// How many times a request is retried after a connection failure or a 502/503/504 answer
    /// (with backoff: 0.2 s, 0.4 s, 0.8 s, ...). Default 3.
    pub fn with_retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The server's address, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    // ------------------------------------------------------------------ transport

    fn send(
        &self,
        method: &str,
        url: &str,
        query: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<ureq::Response> {
        let mut attempt = 0;
        loop {
            let mut req = self.agent.request(method, url);
            for (k, v) in query {
                req = req.query(k, v);
            }
            req = self.identify(req);
            let resp = match body {
                Body::None => req.call(),
                Body::Json(v) => req.send_json(v),
                Body::Bytes(b) => req
                    .set("Content-Type", "application/octet-stream")
                    .send_bytes(b),
            };
            let retryable = match &resp {
                Err(ureq::Error::Status(code, _)) => matches!(code, 502..=504),
                Err(ureq::Error::Transport(t)) => matches!(
                    t.kind(),
                    ureq::ErrorKind::ConnectionFailed | ureq::ErrorKind::Io
                ),
                Ok(_) => false,
            };
            if retryable && attempt < self.retries {
                attempt += 1;
                let wait = Duration::from_millis(200 << (attempt - 1).min(6));
                tracing::debug!(%url, attempt, ?wait, "retrying");
                std::thread::sleep(wait);
                continue;
            }
            return resp.map_err(|e| self.map_error(method, url, e));
        }
    }

    /// Who is asking: the credentials, and the `X-Sextant-User` name (which a server with auth
    /// on ignores).
    fn identify(&self, mut req: ureq::Request) -> ureq::Request {
        if let Some(c) = &self.credentials {
            req = req.set("Authorization", &c.header_value());
        }
        if let Some(u) = &self.user {
            req = req.set("X-Sextant-User", u);
        }
        req
    }

    fn map_error(&self, method: &str, url: &str, e: ureq::Error) -> ClientError {
        match e {
            ureq::Error::Status(status, r) => {
                let text = r.into_string().unwrap_or_default();
                let parsed = serde_json::from_str::<Value>(&text).ok();
                let field = |k: &str| {
                    parsed
                        .as_ref()
                        .and_then(|v| v[k].as_str())
                        .map(str::to_owned)
                };
                let error_code = field("error_code").unwrap_or_default();
                let message = field("message").unwrap_or_else(|| {
                    let t = text.trim();
                    if t.is_empty() {
                        format!("HTTP {status}")
                    } else {
                        t.chars().take(500).collect()
                    }
                });
                let sent = self.credentials.as_ref().map(Credentials::source);
                match status {
                    401 => ClientError::Unauthenticated {
                        base: self.base.clone(),
                        message,
                        sent,
                    },
                    403 => ClientError::PermissionDenied {
                        method: method.to_owned(),
                        url: url.to_owned(),
                        error_code,
                        message,
                        sent: self.credentials.as_ref().map(Credentials::who),
                    },
                    _ => ClientError::Api {
                        method: method.to_owned(),
                        url: url.to_owned(),
                        status,
                        error_code,
                        message,
                    },
                }
            }
            ureq::Error::Transport(t) => ClientError::Unreachable {
                base: self.base.clone(),
                reason: t.to_string(),
            },
        }
    }

    fn decode<T: DeserializeOwned>(
        &self,
        method: &str,
        url: &str,
        resp: ureq::Response,
    ) -> Result<T> {
        let mut buf = Vec::new();
        resp.into_reader()
            .read_to_end(&mut buf)
            .map_err(|e| ClientError::Unreachable {
                base: self.base.clone(),
                reason: format!("reading the answer to {method} {url}: {e}"),
            })?;
        if buf.is_empty() {
            buf.extend_from_slice(b"{}");
        }
        serde_json::from_slice(&buf).map_err(|e| ClientError::Decode {
            what: format!("{method} {url}"),
            reason: e.to_string(),
        })
    }

    fn mlflow_url(&self, endpoint: &str) -> String {
        format!("{}/api/2.0/mlflow/{endpoint}", self.base)
    }

    fn get<T: DeserializeOwned>(&self, endpoint: &str, query: &[(&str, &str)]) -> Result<T> {
        let url = self.mlflow_url(endpoint);
        let resp = self.send("GET", &url, query, Body::None)?;
        self.decode("GET", &url, resp)
    }

    fn post<T: DeserializeOwned>(&self, endpoint: &str, body: &Value) -> Result<T> {
        let url = self.mlflow_url(endpoint);
        let resp = self.send("POST", &url, &[], Body::Json(body))?;
        self.decode("POST", &url, resp)
    }

    // ------------------------------------------------------------------ experiments

    /// The experiment called `name`, or `None` if there is none (deleted ones included, as
    /// MLflow's `get-by-name` does).
    pub fn get_experiment_by_name(&self, name: &str) -> Result<Option<Experiment>> {
        match self
            .get::<ExperimentEnvelope>("experiments/get-by-name", &[("experiment_name", name)])
        {
            Ok(e) => Ok(Some(e.experiment)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Create an experiment; its id.
    pub fn create_experiment(&self, name: &str, tags: &[Tag]) -> Result<String> {
        #[derive(Deserialize)]
        struct Created {
            experiment_id: String,
        }
        let body = json!({ "name": name, "tags": tags });
        Ok(self
            .post::<Created>("experiments/create", &body)?
            .experiment_id)
    }

    /// The id of the experiment called `name`, created if missing. Safe under a race: when
    /// another process creates it first, its id is read back.
    pub fn get_or_create_experiment(&self, name: &str) -> Result<String> {
        if let Some(e) = self.get_experiment_by_name(name)? {
            return Self::active(e);
        }
        match self.create_experiment(name, &[]) {
            Ok(id) => Ok(id),
            Err(e) if e.is_already_exists() => match self.get_experiment_by_name(name)? {
                Some(e) => Self::active(e),
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    fn active(e: Experiment) -> Result<String> {
        if e.lifecycle_stage == LifecycleStage::Deleted {
            return Err(ClientError::DeletedExperiment { name: e.name });
        }
        Ok(e.experiment_id)
    }

    /// Every experiment matching `filter` in `view`, following pages to the end.
    pub fn search_experiments(
        &self,
        filter: Option<&str>,
        view: ViewType,
    ) -> Result<Vec<Experiment>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({ "max_results": EXPERIMENTS_PAGE, "view_type": view });
            if let Some(f) = filter {
                body["filter"] = json!(f);
            }
            if let Some(t) = &token {
                body["page_token"] = json!(t);
            }
            let page: ExperimentsPage = self.post("experiments/search", &body)?;
            out.extend(page.experiments);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    // ------------------------------------------------------------------ runs

    /// Create a run (status `RUNNING`).
    pub fn create_run(&self, new: &NewRun) -> Result<Run> {
        let mut body = json!({
            "experiment_id": new.experiment_id,
            "start_time": new.start_time.unwrap_or_else(now_ms),
            "tags": new.tags,
        });
        if let Some(n) = &new.run_name {
            body["run_name"] = json!(n);
        }
        if let Some(u) = &new.user_id {
            body["user_id"] = json!(u);
        }
        Ok(self.post::<RunEnvelope>("runs/create", &body)?.run)
    }

    /// One run with its latest metrics, params and tags.
    pub fn get_run(&self, run_id: &str) -> Result<Run> {
        Ok(self
            .get::<RunEnvelope>("runs/get", &[("run_id", run_id)])?
            .run)
    }

    /// Change a run's status, end time or name (whatever is `Some`).
    pub fn update_run(
        &self,
        run_id: &str,
        status: Option<RunStatus>,
        end_time: Option<i64>,
        run_name: Option<&str>,
    ) -> Result<()> {
        let mut body = json!({ "run_id": run_id, "run_uuid": run_id });
        if let Some(s) = status {
            body["status"] = json!(s.as_str());
        }
        if let Some(t) = end_time {
            body["end_time"] = json!(t);
        }
        if let Some(n) = run_name {
            body["run_name"] = json!(n);
        }
        self.post::<Value>("runs/update", &body).map(drop)
    }

    /// Log any number of metrics, params and tags, split into requests within MLflow's limits
    /// (each request is one transaction on the server; they are sent in order).
    pub fn log_batch(
        &self,
        run_id: &str,
        metrics: &[Metric],
        params: &[Param],
        tags: &[Tag],
    ) -> Result<()> {
        for (m, p, t) in batches(metrics, params, tags) {
            let body = json!({ "run_id": run_id, "metrics": m, "params": p, "tags": t });
            self.post::<Value>("runs/log-batch", &body)?;
        }
        Ok(())
    }

    /// Mark a run deleted (it can be restored; searches skip it by default).
    pub fn delete_run(&self, run_id: &str) -> Result<()> {
        let body = json!({ "run_id": run_id });
        self.post::<Value>("runs/delete", &body).map(drop)
    }

    /// Mark an experiment deleted (it can be restored, and its name stays taken).
    pub fn delete_experiment(&self, experiment_id: &str) -> Result<()> {
        let body = json!({ "experiment_id": experiment_id });
        self.post::<Value>("experiments/delete", &body).map(drop)
    }

    /// Set one tag on a run.
    pub fn set_tag(&self, run_id: &str, key: &str, value: &str) -> Result<()> {
        let body = json!({ "run_id": run_id, "run_uuid": run_id, "key": key, "value": value });
        self.post::<Value>("runs/set-tag", &body).map(drop)
    }

    /// Runs matching `q`, following pages until `max_results` runs (or all of them).
    pub fn search_runs(&self, q: &RunQuery) -> Result<Vec<Run>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let want = q
                .max_results
                .map_or(RUNS_PAGE, |m| (m - out.len()).min(RUNS_PAGE));
            if want == 0 {
                return Ok(out);
            }
            let mut body = json!({
                "experiment_ids": q.experiment_ids,
                "filter": q.filter,
                "run_view_type": q.view,
                "max_results": want,
                "order_by": q.order_by,
            });
            if let Some(t) = &token {
                body["page_token"] = json!(t);
            }
            let page: RunsPage = self.post("runs/search", &body)?;
            out.extend(page.runs);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// Every point of one metric of a run, in MLflow's order.
    pub fn get_metric_history(&self, run_id: &str, key: &str) -> Result<Vec<Metric>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let page_size = HISTORY_PAGE.to_string();
        loop {
            let mut query = vec![
                ("run_id", run_id),
                ("run_uuid", run_id),
                ("metric_key", key),
                ("max_results", page_size.as_str()),
            ];
            if let Some(t) = &token {
                query.push(("page_token", t.as_str()));
            }
            let page: HistoryPage = self.get("metrics/get-history", &query)?;
            out.extend(page.metrics);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    // ------------------------------------------------------------------ artifacts

    /// The proxy path of `rel` inside the run's artifact root (`mlflow-artifacts:/...`).
    fn artifact_path(run: &Run, rel: &str) -> Result<String> {
        Self::artifact_path_at(&run.info.artifact_uri, rel)
    }

    /// The proxy path of `rel` below the artifact URI `uri` (`mlflow-artifacts:/...`).
    fn artifact_path_at(uri: &str, rel: &str) -> Result<String> {
        let root = uri
            .strip_prefix("mlflow-artifacts://")
            .and_then(|r| r.find('/').map(|i| &r[i..]))
            .or_else(|| uri.strip_prefix("mlflow-artifacts:"))
            .ok_or_else(|| ClientError::UnsupportedArtifactUri {
                uri: uri.to_owned(),
            })?;
        let root = encode_path(root);
        let rel = encode_path(rel);
        Ok(if rel.is_empty() {
            root
        } else {
            format!("{root}/{rel}")
        })
    }

    fn artifacts_url(&self, path: &str) -> String {
        format!("{}/api/2.0/mlflow-artifacts/artifacts/{path}", self.base)
    }

    /// Store `bytes` as the artifact `rel_path` of `run`.
    pub fn upload_artifact_bytes(&self, run: &Run, rel_path: &str, bytes: &[u8]) -> Result<()> {
        let url = self.artifacts_url(&Self::artifact_path(run, rel_path)?);
        self.send("PUT", &url, &[], Body::Bytes(bytes)).map(drop)
    }

    /// Store the local file `local` as the artifact `rel_path` of `run`, streamed from disk.
    pub fn upload_artifact_file(&self, run: &Run, rel_path: &str, local: &Path) -> Result<()> {
        let url = self.artifacts_url(&Self::artifact_path(run, rel_path)?);
        let io = |source| ClientError::Io {
            path: local.to_owned(),
            source,
        };
        let len = std::fs::metadata(local).map_err(io)?.len();
        let mut attempt = 0;
        loop {
            let file = std::fs::File::open(local).map_err(io)?;
            let mut req = self
                .agent
                .put(&url)
                .set("Content-Type", "application/octet-stream")
                .set("Content-Length", &len.to_string());
            req = self.identify(req);
            match req.send(file) {
                Ok(_) => return Ok(()),
                Err(ureq::Error::Transport(_)) if attempt < self.retries => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(200 << (attempt - 1)));
                }
                Err(e) => return Err(self.map_error("PUT", &url, e)),
            }
        }
    }

    /// Upload every file under `local_dir` below the artifact folder `rel_dir` (`""` for the
    /// root), keeping the relative layout. Returns how many files were sent.
    pub fn upload_artifact_dir(&self, run: &Run, rel_dir: &str, local_dir: &Path) -> Result<usize> {
        let mut sent = 0;
        let mut stack = vec![(local_dir.to_owned(), rel_dir.trim_matches('/').to_owned())];
        while let Some((dir, rel)) = stack.pop() {
            let io = |source| ClientError::Io {
                path: dir.clone(),
                source,
            };
            let mut entries = std::fs::read_dir(&dir)
                .map_err(io)?
                .collect::<std::io::Result<Vec<_>>>()
                .map_err(io)?;
            entries.sort_by_key(std::fs::DirEntry::file_name);
            for entry in entries {
                let name = entry.file_name().to_string_lossy().into_owned();
                let child = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                let path = entry.path();
                let meta = std::fs::metadata(&path).map_err(|source| ClientError::Io {
                    path: path.clone(),
                    source,
                })?;
                if meta.is_dir() {
                    stack.push((path, child));
                } else if meta.is_file() {
                    self.upload_artifact_file(run, &child, &path)?;
                    sent += 1;
                }
            }
        }
        Ok(sent)
    }

    /// The entries directly inside the artifact folder `rel_path` of `run` (the root if `None`),
    /// with paths relative to the run's artifact root, as MLflow lists them.
    pub fn list_artifacts(&self, run: &Run, rel_path: Option<&str>) -> Result<Vec<FileInfo>> {
        self.list_artifacts_at(&run.info.artifact_uri, rel_path.unwrap_or(""))
    }

    /// The bytes of the artifact `rel_path` of `run`.
    pub fn download_artifact(&self, run: &Run, rel_path: &str) -> Result<Vec<u8>> {
        self.download_artifact_at(&run.info.artifact_uri, rel_path)
    }

    // ------------------------------------------------------------------ Sextant's own API

    /// A call to Sextant's API, `/api/sextant/v1/<path>` (`path` already encoded).
    pub fn sextant(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        self.sextant_call(method, path, &[], body.as_ref())
    }

    /// A call to Sextant's API decoded into `T` (`path` already encoded).
    pub(crate) fn sextant_call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<T> {
        let url = format!(
            "{}/api/sextant/v1/{}",
            self.base,
            path.trim_start_matches('/')
        );
        let resp = match body {
            Some(b) => self.send(method, &url, query, Body::Json(b)),
            None => self.send(method, &url, query, Body::None),
        }?;
        self.decode(method, &url, resp)
    }

    /// A GET of MLflow's API (`/api/2.0/mlflow/<endpoint>`) decoded into `T`.
    pub(crate) fn mlflow_get<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        query: &[(&str, &str)],
    ) -> Result<T> {
        self.get(endpoint, query)
    }

    // ------------------------------------------------------------------ model registry files

    /// Where the files of version `version` of the registered model `name` are
    /// (`model-versions/get-download-uri`): an artifact URI such as `mlflow-artifacts:/...`.
    pub fn model_version_download_uri(&self, name: &str, version: &str) -> Result<String> {
        #[derive(Deserialize)]
        struct Answer {
            artifact_uri: String,
        }
        let a: Answer = self.get(
            "model-versions/get-download-uri",
            &[("name", name), ("version", version)],
        )?;
        Ok(a.artifact_uri)
    }

    /// The entries directly inside the folder `rel` (`""` for the top) below the artifact URI
    /// `uri`, with paths relative to `uri`.
    pub fn list_artifacts_at(&self, uri: &str, rel: &str) -> Result<Vec<FileInfo>> {
        let rel = rel.trim_matches('/');
        let full = Self::artifact_path_at(uri, rel)?;
        let url = format!("{}/api/2.0/mlflow-artifacts/artifacts", self.base);
        let resp = self.send("GET", &url, &[("path", &full)], Body::None)?;
        let page: FilesPage = self.decode("GET", &url, resp)?;
        Ok(page
            .files
            .into_iter()
            .map(|mut f| {
                if !rel.is_empty() && !f.path.starts_with(&format!("{rel}/")) {
                    f.path = format!("{rel}/{}", f.path);
                }
                f
            })
            .collect())
    }

    /// The bytes of the file `rel` below the artifact URI `uri`.
    pub fn download_artifact_at(&self, uri: &str, rel: &str) -> Result<Vec<u8>> {
        let url = self.artifacts_url(&Self::artifact_path_at(uri, rel)?);
        let resp = self.send("GET", &url, &[], Body::None)?;
        let mut buf = Vec::new();
        resp.into_reader()
            .read_to_end(&mut buf)
            .map_err(|e| ClientError::Unreachable {
                base: self.base.clone(),
                reason: format!("reading {url}: {e}"),
            })?;
        Ok(buf)
    }
}

type Batch<'a> = (&'a [Metric], &'a [Param], &'a [Tag]);

/// Split metrics, params and tags into `log-batch` requests within MLflow's limits: params and
/// tags first (so a run's identity lands before its data), then metrics filling the rest.
fn batches<'a>(metrics: &'a [Metric], params: &'a [Param], tags: &'a [Tag]) -> Vec<Batch<'a>> {
    let (mut m, mut p, mut t) = (metrics, params, tags);
    let mut out = Vec::new();
    while !(m.is_empty() && p.is_empty() && t.is_empty()) {
        let np = p.len().min(MAX_BATCH_PARAMS);
        let nt = t.len().min(MAX_BATCH_TAGS);
        let nm = m
            .len()
            .min(MAX_BATCH_METRICS)
            .min(MAX_BATCH_ENTITIES - np - nt);
        out.push((&m[..nm], &p[..np], &t[..nt]));
        m = &m[nm..];
        p = &p[np..];
        t = &t[nt..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(i: i64) -> Metric {
        Metric {
            key: "m".into(),
            value: WireF64(i as f64),
            timestamp: 0,
            step: i,
            dataset_name: None,
            dataset_digest: None,
            model_id: None,
            run_id: None,
        }
    }

    #[test]
    fn batches_respect_mlflow_limits_and_keep_everything_in_order() {
        let metrics: Vec<_> = (0..2_345).map(metric).collect();
        let params: Vec<_> = (0..250).map(|i| Tag::new(format!("p{i}"), "v")).collect();
        let tags: Vec<_> = (0..120).map(|i| Tag::new(format!("t{i}"), "v")).collect();
        let b = batches(&metrics, &params, &tags);
        for (m, p, t) in &b {
            assert!(
                m.len() <= MAX_BATCH_METRICS
                    && p.len() <= MAX_BATCH_PARAMS
                    && t.len() <= MAX_BATCH_TAGS
            );
            assert!(m.len() + p.len() + t.len() <= MAX_BATCH_ENTITIES);
            assert!(!(m.is_empty() && p.is_empty() && t.is_empty()));
        }
        let all_m: Vec<i64> = b
            .iter()
            .flat_map(|(m, _, _)| m.iter().map(|x| x.step))
            .collect();
        assert_eq!(all_m, (0..2_345).collect::<Vec<_>>());
        assert_eq!(b.iter().map(|(_, p, _)| p.len()).sum::<usize>(), 250);
        assert_eq!(b.iter().map(|(_, _, t)| t.len()).sum::<usize>(), 120);
        assert!(batches(&[], &[], &[]).is_empty());
    }

    #[test]
    fn tracking_uri_must_be_http() {
        assert!(matches!(
            Client::new("file:///tmp/x"),
            Err(ClientError::InvalidUri { .. })
        ));
        assert_eq!(
            Client::new("http://h:5000/").unwrap().base_url(),
            "http://h:5000"
        );
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(encode_segment("a b/c"), "a%20b%2Fc");
        assert_eq!(encode_path("/x y/z/"), "x%20y/z");
    }

    fn run_with_uri(uri: &str) -> Run {
        Run {
            info: RunInfo {
                run_uuid: "r".into(),
                experiment_id: "1".into(),
                run_name: "n".into(),
                user_id: "u".into(),
                status: RunStatus::Running,
                start_time: None,
                end_time: None,
                artifact_uri: uri.into(),
                lifecycle_stage: LifecycleStage::Active,
                run_id: "r".into(),
            },
            data: Default::default(),
            inputs: Default::default(),
            outputs: Default::default(),
        }
    }

    #[test]
    fn artifact_paths_come_from_the_run_root() {
        let run = run_with_uri("mlflow-artifacts:/1/r/artifacts");
        assert_eq!(
            Client::artifact_path(&run, "logs/out.txt").unwrap(),
            "1/r/artifacts/logs/out.txt"
        );
        let run = run_with_uri("mlflow-artifacts://host:5000/1/r/artifacts");
        assert_eq!(Client::artifact_path(&run, "").unwrap(), "1/r/artifacts");
        let run = run_with_uri("s3://bucket/1/r/artifacts");
        assert!(matches!(
            Client::artifact_path(&run, "x"),
            Err(ClientError::UnsupportedArtifactUri { .. })
        ));
    }
}
