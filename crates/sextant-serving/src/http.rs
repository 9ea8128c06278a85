//! The HTTP API: MLflow's scoring protocol, KServe V2 (Open Inference Protocol), health,
//! Prometheus metrics and a demo page per model.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::batch::BatchOptions;
use crate::error::ServingError;
use crate::metrics::Metrics;
use crate::mlmodel::Spec;
use crate::model::ServedModel;
use crate::reqlog::{Record, RequestLog};
use crate::scoring;
use crate::slot::Slot;
use crate::tensor::Tensor;

/// Bodies up to this size are decoded on the request's own task; larger ones on the blocking
/// pool (a thread hand-off costs more than decoding a small body).
const INLINE_BODY_BYTES: usize = 64 * 1024;
/// Engine calls on up to this many input values run on the request's task; larger ones on the
/// blocking pool.
const INLINE_VALUES: usize = 4096;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub slots: Arc<BTreeMap<String, Arc<Slot>>>,
    pub metrics: Arc<Metrics>,
    /// Micro-batching, when on (`--batch-window-ms`).
    pub batch: Option<BatchOptions>,
    /// The request log, when on (`--request-log`).
    pub request_log: Option<Arc<RequestLog>>,
}

impl AppState {
    pub fn new(slots: Vec<Arc<Slot>>) -> Self {
        Self {
            slots: Arc::new(
                slots
                    .into_iter()
                    .map(|s| (s.model.name.clone(), s))
                    .collect(),
            ),
            metrics: Arc::default(),
            batch: None,
            request_log: None,
        }
    }
}

/// The router of `sextant serve`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/ping", get(ping))
        .route("/health", get(health))
        .route("/version", get(version))
        .route("/metrics", get(metrics))
        .route("/invocations", post(invocations))
        .route("/models/{name}/invocations", post(model_invocations))
        .route("/models/{name}", get(demo))
        .route("/v2/health/ready", get(v2_ready))
        .route("/v2/health/live", get(|| async { StatusCode::OK }))
        .route("/v2/models/{name}", get(v2_metadata))
        .route("/v2/models/{name}/ready", get(v2_model_ready))
        .route("/v2/models/{name}/infer", post(v2_infer))
        // Outermost: a panicking handler becomes a logged 500 with a JSON error body.
        .layer(sextant_http::catch_panic())
        .with_state(state)
}

fn error(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        axum::Json(json!({ "error_code": code, "message": message })),
    )
        .into_response()
}

fn serving_error(e: &ServingError) -> Response {
    match e {
        ServingError::BadInput(m) => error(StatusCode::BAD_REQUEST, "BAD_REQUEST", m.clone()),
        ServingError::UnknownModel(_) => error(
            StatusCode::NOT_FOUND,
            "RESOURCE_DOES_NOT_EXIST",
            e.to_string(),
        ),
        ServingError::NotReady(..) => {
            error(StatusCode::SERVICE_UNAVAILABLE, "NOT_READY", e.to_string())
        }
        other => {
            tracing::error!(error = %other, "prediction failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_ERROR",
                "the prediction failed; see the server log".into(),
            )
        }
    }
}

fn model_of(s: &AppState, name: &str) -> Result<Arc<ServedModel>, ServingError> {
    let slot = s
        .slots
        .get(name)
        .ok_or_else(|| ServingError::UnknownModel(name.to_owned()))?;
    slot.current().ok_or_else(|| {
        ServingError::NotReady(
            name.to_owned(),
            slot.last_error().unwrap_or_else(|| "still loading".into()),
        )
    })
}

fn all_ready(s: &AppState) -> bool {
    s.slots.values().all(|sl| sl.current().is_some())
}

async fn ping(State(s): State<AppState>) -> Response {
    if all_ready(&s) {
        (StatusCode::OK, "\n").into_response()
    } else {
        StatusCode::SERVICE_UNAVAILABLE.into_response()
    }
}

async fn health(State(s): State<AppState>) -> Response {
    let models: Vec<Value> = s.slots.values().map(|sl| sl.health()).collect();
    let ready = all_ready(&s);
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        axum::Json(json!({ "status": if ready { "ok" } else { "not ready" }, "models": models })),
    )
        .into_response()
}

async fn version() -> &'static str {
    concat!("sextant ", env!("CARGO_PKG_VERSION"))
}

async fn metrics(State(s): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}

fn parse_body(body: &Bytes) -> Result<Value, ServingError> {
    serde_json::from_slice(body)
        .map_err(|e| ServingError::BadInput(format!("the request body is not JSON: {e}")))
}

/// Run `f` on the blocking pool.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, ServingError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ServingError> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(ServingError::Inference(format!(
            "the prediction task failed: {e}"
        )))
    })
}

/// The protocol a prediction request came in: how its body becomes the graph's inputs and
/// the outputs an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Mlflow,
    V2,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Self::Mlflow => "mlflow",
            Self::V2 => "v2",
        }
    }

    fn decode(self, m: &ServedModel, body: &Bytes) -> Result<Vec<Tensor>, ServingError> {
        let body = parse_body(body)?;
        match self {
            Self::Mlflow => m.inputs_mlflow(&body),
            Self::V2 => scoring::parse_v2(&body, m.engine.inputs()),
        }
    }

    fn encode(self, m: &ServedModel, out: &[Tensor]) -> Value {
        match self {
            Self::Mlflow => scoring::mlflow_answer(m.outputs(), out),
            Self::V2 => scoring::v2_answer(&m.name, &m.version, m.outputs(), out),
        }
    }
}

/// Answer one prediction request, timing it for the metrics.
async fn predict(s: &AppState, name: &str, body: Bytes, protocol: Protocol) -> Response {
    let started = Instant::now();
    let m = match model_of(s, name) {
        Ok(m) => m,
        Err(e) => return serving_error(&e),
    };
    let res = answer(s, &m, body, protocol, started).await;
    s.metrics
        .record(&m.name, &m.version, started.elapsed(), res.is_ok());
    match res {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => serving_error(&e),
    }
}

/// Decode, run (batched when batching is on), encode, and hand a sampled record to the
/// request log. Small requests stay on their task; big ones go to the blocking pool.
async fn answer(
    s: &AppState,
    m: &Arc<ServedModel>,
    body: Bytes,
    protocol: Protocol,
    started: Instant,
) -> Result<Value, ServingError> {
    let time = SystemTime::now();
    // With batching on, the request counts as on its way to the batcher from now on.
    let ticket = s.batch.map(|opts| (opts, m.batch_ticket(opts, &s.metrics)));
    let inputs = if body.len() <= INLINE_BODY_BYTES {
        protocol.decode(m, &body)?
    } else {
        let m2 = Arc::clone(m);
        blocking(move || protocol.decode(&m2, &body)).await?
    };
    let log = s.request_log.as_ref().filter(|l| l.sampled());
    let logged = log.map(|_| inputs.clone());
    let out = match ticket {
        Some((opts, t)) => m.run_batched(opts, &s.metrics, inputs, t).await?,
        None if inputs.iter().map(|t| t.data.len()).sum::<usize>() <= INLINE_VALUES => {
            m.engine.run(inputs)?
        }
        None => {
            let m2 = Arc::clone(m);
            blocking(move || m2.engine.run(inputs)).await?
        }
    };
    let value = protocol.encode(m, &out);
    if let (Some(log), Some(inputs)) = (log, logged) {
        log.submit(Record {
            time,
            model: Arc::clone(m),
            protocol: protocol.name(),
            latency: started.elapsed(),
            inputs,
            outputs: out,
        });
    }
    Ok(value)
}

async fn invocations(State(s): State<AppState>, body: Bytes) -> Response {
    let name = match s.slots.keys().collect::<Vec<_>>().as_slice() {
        [one] => (*one).clone(),
        names => {
            return error(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                format!(
                    "{} models are served here ({}): POST to /models/NAME/invocations",
                    names.len(),
                    names
                        .iter()
                        .map(|n| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    };
    predict(&s, &name, body, Protocol::Mlflow).await
}

async fn model_invocations(
    State(s): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    predict(&s, &name, body, Protocol::Mlflow).await
}

async fn v2_infer(State(s): State<AppState>, Path(name): Path<String>, body: Bytes) -> Response {
    predict(&s, &name, body, Protocol::V2).await
}

async fn v2_ready(State(s): State<AppState>) -> StatusCode {
    if all_ready(&s) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

async fn v2_model_ready(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    match model_of(&s, &name) {
        Ok(_) => axum::Json(json!({ "name": name, "ready": true })).into_response(),
        Err(e) => serving_error(&e),
    }
}

async fn v2_metadata(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    let m = match model_of(&s, &name) {
        Ok(m) => m,
        Err(e) => return serving_error(&e),
    };
    let io = |specs: &[crate::tensor::IoSpec]| -> Vec<Value> {
        specs
            .iter()
            .map(|i| {
                let shape: Vec<i64> = i.shape.iter().map(|d| d.map_or(-1, |v| v as i64)).collect();
                json!({ "name": i.name, "datatype": i.ty.v2(), "shape": shape })
            })
            .collect()
    };
    axum::Json(json!({
        "name": m.name,
        "versions": [m.version],
        "platform": format!("onnx_{}", m.engine.name()),
        "inputs": io(m.engine.inputs()),
        "outputs": io(m.outputs()),
    }))
    .into_response()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A form built from the signature: one field per column (or a JSON box for tensors), the
/// example filled in, and the answer shown below.
async fn demo(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    let m = match model_of(&s, &name) {
        Ok(m) => m,
        Err(e) => return serving_error(&e),
    };
    let example = m.example.clone().unwrap_or(Value::Null);
    let first_row: BTreeMap<String, Value> = match &example["dataframe_split"] {
        Value::Object(o) => o["columns"]
            .as_array()
            .into_iter()
            .flatten()
            .zip(o["data"][0].as_array().into_iter().flatten())
            .filter_map(|(c, v)| c.as_str().map(|c| (c.to_owned(), v.clone())))
            .collect(),
        _ => BTreeMap::new(),
    };
    let cols: Vec<(String, String)> = m
        .signature
        .as_ref()
        .and_then(|s| s.input_columns())
        .map(|c| {
            c.into_iter()
                .filter_map(|s| match s {
                    Spec::Column {
                        name: Some(n), ty, ..
                    } => Some((n.clone(), ty.clone())),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let mut fields = String::new();
    if cols.is_empty() {
        let text = serde_json::to_string_pretty(&example).unwrap_or_default();
        fields.push_str(&format!(
            "<label>Request (MLflow scoring JSON)<br><textarea id=\"raw\" rows=\"10\" cols=\"70\">{}</textarea></label>",
            esc(&text)
        ));
    } else {
        for (c, ty) in &cols {
            let v = first_row.get(c).map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            let kind = if ty == "string" {
                "text"
            } else {
                "number\" step=\"any"
            };
            fields.push_str(&format!(
                "<p><label>{} <small>({})</small><br><input name=\"{}\" data-type=\"{}\" type=\"{}\" value=\"{}\"></label></p>",
                esc(c),
                esc(ty),
                esc(c),
                esc(ty),
                kind,
                esc(&v.unwrap_or_default())
            ));
        }
    }
    let page = format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>{name} v{version}</title>
<style>body{{font-family:sans-serif;max-width:50em;margin:2em auto}}pre{{background:#f4f4f4;padding:1em}}</style></head>
<body><h1>{name} <small>version {version} ({engine})</small></h1>
<form id="f">{fields}<button type="submit">Predict</button></form><h2>Answer</h2><pre id="out"></pre>
<script>
document.getElementById('f').addEventListener('submit', async (ev) => {{
  ev.preventDefault();
  let body;
  const raw = document.getElementById('raw');
  if (raw) {{ body = raw.value; }} else {{
    const row = {{}};
    for (const i of document.querySelectorAll('#f input')) {{
      row[i.name] = i.dataset.type === 'string' ? i.value : Number(i.value);
    }}
    body = JSON.stringify({{dataframe_records: [row]}});
  }}
  const r = await fetch('/models/{path}/invocations', {{method: 'POST', headers: {{'Content-Type': 'application/json'}}, body}});
  document.getElementById('out').textContent = r.status + '\n' + JSON.stringify(await r.json(), null, 2);
}});
</script></body></html>"#,
        name = esc(&m.name),
        version = esc(&m.version),
        engine = m.engine.name(),
        path = esc(&name).replace('\'', "%27"),
    );
    Html(page).into_response()
}
