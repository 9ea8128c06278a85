//! The web UI's serving and its API: the page at `/`, the fallback (MLflow's JSON 404 kept for
//! API paths), and the chart and summary endpoints over a real SQLite store.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sextant_server::app;
use sextant_test::TestStores;
use tower::ServiceExt;

async fn make() -> (Router, TestStores) {
    let stores = TestStores::open().await;
    (app(stores.state()), stores)
}

async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    accept: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, String, String) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(a) = accept {
        req = req.header(header::ACCEPT, a);
    }
    let body = match body {
        Some(v) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let resp = app
        .clone()
        .oneshot(req.body(body).expect("request"))
        .await
        .expect("response");
    let status = resp.status();
    let ctype = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, ctype, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn the_page_its_files_and_the_fallback() {
    let (app, _dir) = make().await;
    let (s, ct, body) = call(&app, Method::GET, "/", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(ct.starts_with("text/html"), "{ct}");
    assert!(body.contains("/app.js"));
    let (s, ct, _) = call(&app, Method::GET, "/pages/runs.js", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(ct.starts_with("text/javascript"), "{ct}");
    // A browser asking for an unknown page gets the UI; an API client gets MLflow's 404.
    let (s, ct, _) = call(&app, Method::GET, "/some/page", Some("text/html"), None).await;
    assert_eq!((s, ct.starts_with("text/html")), (StatusCode::OK, true));
    for path in [
        "/api/2.0/mlflow/nope",
        "/ajax-api/2.0/mlflow/nope",
        "/api/sextant/v1/nope",
    ] {
        let (s, _, body) = call(&app, Method::GET, path, Some("text/html"), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
        let v: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["error_code"], "ENDPOINT_NOT_FOUND", "{path}");
    }
    let (s, _, _) = call(&app, Method::POST, "/", None, Some(json!({}))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn chart_and_summary_endpoints() {
    let (app, _dir) = make().await;
    let api = |p: &str| format!("/api/2.0/mlflow/{p}");
    let (_, _, body) = call(
        &app,
        Method::POST,
        &api("experiments/create"),
        None,
        Some(json!({"name": "c"})),
    )
    .await;
    let exp: Value = serde_json::from_str(&body).expect("json");
    let exp_id = exp["experiment_id"].as_str().expect("id").to_owned();
    let (_, _, body) = call(
        &app,
        Method::POST,
        &api("runs/create"),
        None,
        Some(json!({"experiment_id": exp_id})),
    )
    .await;
    let run: Value = serde_json::from_str(&body).expect("json");
    let run_id = run["run"]["info"]["run_id"]
        .as_str()
        .expect("run id")
        .to_owned();
    let n = 3000_i64;
    for lo in (0..n).step_by(1000) {
        let metrics: Vec<Value> = (lo..lo + 1000)
            .map(|s| json!({"key": "loss", "value": if s == 1234 { 50.0 } else { 1.0 }, "timestamp": 1000 + s, "step": s}))
            .collect();
        let (s, _, b) = call(
            &app,
            Method::POST,
            &api("runs/log-batch"),
            None,
            Some(json!({"run_id": run_id, "metrics": metrics})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let chart = format!("/api/sextant/v1/runs/{run_id}/chart");
    let (s, _, body) = call(
        &app,
        Method::GET,
        &format!("{chart}?key=loss&points=30"),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["total_points"], n);
    let buckets = v["buckets"].as_array().expect("buckets");
    assert!(!buckets.is_empty() && buckets.len() <= 30);
    let counted: i64 = buckets
        .iter()
        .map(|b| b["count"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(counted, n);
    let top = buckets
        .iter()
        .filter_map(|b| b["max"].as_f64())
        .fold(f64::MIN, f64::max);
    assert_eq!(top, 50.0, "the spike is kept");
    // A range, by time
    let (s, _, body) = call(
        &app,
        Method::GET,
        &format!("{chart}?key=loss&x=time&from=1100&to=1199.5"),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["total_points"], 100);
    // Bad input names the problem
    for (q, needle) in [
        ("key=loss&points=0", "'points'"),
        ("key=loss&x=epoch", "'x'"),
        ("key=loss&from=abc", "'from'"),
        ("key=loss&from=10&to=5", "greater than"),
        ("points=10", "'key'"),
    ] {
        let (s, _, body) = call(&app, Method::GET, &format!("{chart}?{q}"), None, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}: {body}");
        assert!(body.contains(needle), "{q}: {body}");
    }
    let (s, _, _) = call(
        &app,
        Method::GET,
        "/api/sextant/v1/runs/0123abcd/chart?key=loss",
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Summaries
    let (s, _, body) = call(
        &app,
        Method::GET,
        &format!("/api/sextant/v1/experiments/summary?experiment_id={exp_id}&experiment_id=0"),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["summaries"][0]["run_count"], 1);
    assert_eq!(v["summaries"][0]["more"], false);
    assert_eq!(v["summaries"][1]["experiment_id"], "0");
    // Deleted runs are not counted.
    let (s, _, body) = call(
        &app,
        Method::POST,
        &api("runs/delete"),
        None,
        Some(json!({"run_id": run_id})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (_, _, body) = call(
        &app,
        Method::GET,
        &format!("/api/sextant/v1/experiments/summary?experiment_id={exp_id}"),
        None,
        None,
    )
    .await;
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["summaries"][0]["run_count"], 0, "{body}");
    let (s, _, _) = call(
        &app,
        Method::GET,
        "/api/sextant/v1/experiments/summary?experiment_id=999",
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
