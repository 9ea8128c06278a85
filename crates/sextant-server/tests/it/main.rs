//! The server in process (no socket): requests through the router, real SQLite in a temp dir,
//! real artifacts on local disk.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sextant_server::app;
use sextant_test::TestStores;
use tower::ServiceExt;

mod approved_files;
mod auth;
mod guard;

struct Ctx {
    app: Router,
    _stores: TestStores,
}

async fn ctx() -> Ctx {
    let stores = TestStores::open().await;
    Ctx {
        app: app(stores.state()),
        _stores: stores,
    }
}

impl Ctx {
    async fn raw(&self, method: Method, uri: &str, body: Option<Value>) -> (StatusCode, Vec<u8>) {
        let mut req = Request::builder().method(method).uri(uri);
        let body = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let resp = self
            .app
            .clone()
            .oneshot(req.body(body).expect("request"))
            .await
            .expect("response");
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        (status, bytes)
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let (status, bytes) = self
            .raw(method, &format!("/api/2.0/mlflow/{path}"), body)
            .await;
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "non-JSON response to {path}: {e}: {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        (status, v)
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method, path, body).await;
        assert_eq!(status, StatusCode::OK, "{path}: {v}");
        v
    }

    async fn new_run(&self, exp: &str) -> String {
        let v = self
            .ok(
                Method::POST,
                "runs/create",
                Some(json!({"experiment_id": exp, "start_time": 1})),
            )
            .await;
        v["run"]["info"]["run_id"]
            .as_str()
            .expect("run id")
            .to_owned()
    }
}

#[tokio::test]
async fn default_experiment_and_errors() {
    let c = ctx().await;
    let v = c
        .ok(Method::GET, "experiments/get?experiment_id=0", None)
        .await;
    assert_eq!(v["experiment"]["name"], "Default");
    assert_eq!(v["experiment"]["artifact_location"], "mlflow-artifacts:/0");

    let (s, v) = c
        .call(Method::GET, "experiments/get?experiment_id=999", None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["error_code"], "RESOURCE_DOES_NOT_EXIST");
    assert_eq!(v["message"], "No Experiment with id=999 exists");

    let (s, v) = c.call(Method::GET, "runs/get?run_id=deadbeef", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["message"], "Run with id=deadbeef not found");

    let (s, v) = c
        .call(
            Method::POST,
            "runs/log-parameter",
            Some(json!({"run_id": 31, "key": "k", "value": "v"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error_code"], "INVALID_PARAMETER_VALUE");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid value 31 for parameter 'run_id' supplied:")
    );

    let (s, v) = c.call(Method::GET, "no/such/endpoint", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["error_code"], "ENDPOINT_NOT_FOUND");

    c.ok(
        Method::POST,
        "experiments/create",
        Some(json!({"name": "dup"})),
    )
    .await;
    let (s, v) = c
        .call(
            Method::POST,
            "experiments/create",
            Some(json!({"name": "dup"})),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "already-exists is a 400 in MLflow"
    );
    assert_eq!(v["error_code"], "RESOURCE_ALREADY_EXISTS");
}

#[tokio::test]
async fn runs_batches_and_history_pages() {
    let c = ctx().await;
    let exp = c
        .ok(
            Method::POST,
            "experiments/create",
            Some(json!({"name": "e"})),
        )
        .await["experiment_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let run = c.new_run(&exp).await;
    for chunk in 0..30 {
        let metrics: Vec<Value> = (0..1000)
            .map(|i| json!({"key": "m", "value": f64::from(chunk * 1000 + i), "timestamp": 5, "step": chunk * 1000 + i}))
            .collect();
        c.ok(
            Method::POST,
            "runs/log-batch",
            Some(json!({"run_id": run, "metrics": metrics})),
        )
        .await;
    }
    c.ok(
        Method::POST,
        "runs/log-metric",
        Some(json!({"run_id": run, "key": "n", "value": "NaN", "timestamp": 1, "step": 0})),
    )
    .await;
    let mut token: Option<String> = None;
    let mut steps = Vec::new();
    loop {
        let mut uri = format!("metrics/get-history?run_id={run}&metric_key=m&max_results=25000");
        if let Some(t) = &token {
            uri.push_str(&format!("&page_token={}", urlencode(t)));
        }
        let v = c.ok(Method::GET, &uri, None).await;
        for m in v["metrics"].as_array().expect("metrics") {
            steps.push(m["step"].as_i64().expect("step"));
        }
        match v.get("next_page_token").and_then(Value::as_str) {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    assert_eq!(steps, (0..30_000).collect::<Vec<i64>>());
    let v = c
        .ok(Method::GET, &format!("runs/get?run_id={run}"), None)
        .await;
    let metrics = v["run"]["data"]["metrics"].as_array().expect("metrics");
    let n = metrics.iter().find(|m| m["key"] == "n").expect("n");
    assert_eq!(n["value"], "NaN");

    // A batch that fails on its params stores nothing.
    c.ok(
        Method::POST,
        "runs/log-parameter",
        Some(json!({"run_id": run, "key": "p", "value": "x"})),
    )
    .await;
    let (s, v) = c
        .call(
            Method::POST,
            "runs/log-batch",
            Some(json!({"run_id": run, "metrics": [{"key": "zz", "value": 1, "timestamp": 1, "step": 0}],
                        "params": [{"key": "p", "value": "changed"}], "tags": [{"key": "tt", "value": "1"}]})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("Changing param values is not allowed.")
    );
    let v = c
        .ok(Method::GET, &format!("runs/get?run_id={run}"), None)
        .await;
    let data = &v["run"]["data"];
    assert!(
        !data["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["key"] == "zz")
    );
    assert!(
        !data["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["key"] == "tt")
    );
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn search_with_filter_and_paging() {
    let c = ctx().await;
    for i in 0..7 {
        let run = c.new_run("0").await;
        c.ok(
            Method::POST,
            "runs/log-batch",
            Some(json!({"run_id": run, "metrics": [{"key": "acc", "value": f64::from(i) / 10.0, "timestamp": 1, "step": 0}],
                        "params": [{"key": "i", "value": i.to_string()}]})),
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut token = Value::Null;
    loop {
        let v = c
            .ok(
                Method::POST,
                "runs/search",
                Some(json!({"experiment_ids": ["0"], "filter": "metrics.acc >= 0.2", "order_by": ["metrics.acc DESC"],
                            "max_results": 2, "page_token": token})),
            )
            .await;
        for r in v["runs"].as_array().expect("runs") {
            let p = r["data"]["params"][0]["value"]
                .as_str()
                .expect("param")
                .to_owned();
            seen.push(p);
        }
        token = v.get("next_page_token").cloned().unwrap_or(Value::Null);
        if token.is_null() {
            break;
        }
    }
    assert_eq!(seen, ["6", "5", "4", "3", "2"]);
    let (s, v) = c
        .call(
            Method::POST,
            "runs/search",
            Some(json!({"experiment_ids": ["0"], "filter": "metrics.acc >> 1"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error_code"], "INVALID_PARAMETER_VALUE");
}

#[tokio::test]
async fn artifacts_upload_list_download_delete_and_multipart() {
    let c = ctx().await;
    let (s, _) = c
        .raw_bytes(
            Method::PUT,
            "/api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/d/x.txt",
            b"hello".to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = c
        .raw(
            Method::GET,
            "/api/2.0/mlflow-artifacts/artifacts?path=0/r/artifacts",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let v: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v, json!({"files": [{"path": "d", "is_dir": true}]}));
    let (s, body) = c
        .raw(
            Method::GET,
            "/api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/d/x.txt",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body, b"hello");

    // Multipart: create, upload parts out of order, complete. As in MLflow, the URL names the
    // directory and the body's `path` (the client's local file) the file name.
    let (s, body) = c
        .raw(
            Method::POST,
            "/api/2.0/mlflow-artifacts/mpu/create/0/r/artifacts",
            Some(json!({"path": "/tmp/local/big.bin", "num_parts": 2})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).expect("json");
    let upload_id = v["upload_id"].as_str().expect("upload id").to_owned();
    let creds = v["credentials"].as_array().expect("credentials").clone();
    assert_eq!(creds.len(), 2);
    let mut parts = Vec::new();
    for (cred, data) in creds
        .iter()
        .rev()
        .zip([b"world".to_vec(), b"hello ".to_vec()])
    {
        let url = cred["url"].as_str().expect("url");
        let path = &url[url.find("/api/").expect("api path")..];
        let (s, _) = c.raw_bytes(Method::PUT, path, data).await;
        assert_eq!(s, StatusCode::OK);
        parts.push(json!({"part_number": cred["part_number"], "etag": "x"}));
    }
    let (s, body) = c
        .raw(
            Method::POST,
            "/api/2.0/mlflow-artifacts/mpu/complete/0/r/artifacts",
            Some(json!({"path": "/tmp/local/big.bin", "upload_id": upload_id, "parts": parts})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let (_, body) = c
        .raw(
            Method::GET,
            "/api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/big.bin",
            None,
        )
        .await;
    assert_eq!(body, b"hello world");

    let (s, _) = c
        .raw(
            Method::DELETE,
            "/api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/d",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = c
        .raw(
            Method::GET,
            "/api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/d/x.txt",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = c
        .raw(
            Method::GET,
            "/api/2.0/mlflow-artifacts/artifacts/../etc/passwd",
            None,
        )
        .await;
    assert!(
        s == StatusCode::BAD_REQUEST || s == StatusCode::NOT_FOUND,
        "{s}"
    );
}

impl Ctx {
    async fn raw_bytes(&self, method: Method, uri: &str, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::from(body))
            .expect("request");
        let resp = self.app.clone().oneshot(req).await.expect("response");
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        (status, bytes)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_writers_never_see_locks() {
    let c = Arc::new(ctx().await);
    let mut tasks = Vec::new();
    for w in 0..16 {
        let c = Arc::clone(&c);
        tasks.push(tokio::spawn(async move {
            let run = c.new_run("0").await;
            for b in 0..20 {
                let metrics: Vec<Value> = (0..50)
                    .map(|i| json!({"key": format!("m{w}"), "value": 1.0, "timestamp": 1, "step": b * 50 + i}))
                    .collect();
                let (s, v) = c
                    .call(Method::POST, "runs/log-batch", Some(json!({"run_id": run, "metrics": metrics,
                        "params": [{"key": format!("p{b}"), "value": "v"}]})))
                    .await;
                assert_eq!(s, StatusCode::OK, "writer {w}: {v}");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer task");
    }
}
