//! What was approved is what is served: approval records the SHA-256 of every file of the
//! version (served by the review API), and the artifact API refuses every write under those
//! files with 409 naming the approved version, until the version is rejected.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sha2::Digest;
use tower::ServiceExt;

use super::ctx;

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn put(c: &super::Ctx, path: &str, body: &[u8]) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(Method::PUT)
        .uri(format!("/api/2.0/mlflow-artifacts/artifacts/{path}"))
        .body(Body::from(body.to_vec()))
        .expect("request");
    let resp = c.app.clone().oneshot(req).await.expect("response");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn sextant(
    c: &super::Ctx,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (status, bytes) = c
        .raw(method, &format!("/api/sextant/v1/{path}"), body)
        .await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn approved_files_are_recorded_and_locked() {
    let c = ctx().await;
    let root = "0/approved/model";
    let files: [(&str, &[u8]); 3] = [
        ("MLmodel", b"flavors: {}\n"),
        ("model.onnx", b"\x08\x07weights"),
        ("extra/notes.txt", b"hello"),
    ];
    for (p, body) in files {
        assert_eq!(
            put(&c, &format!("{root}/{p}"), body).await.0,
            StatusCode::OK
        );
    }
    c.ok(
        Method::POST,
        "registered-models/create",
        Some(json!({"name": "locked"})),
    )
    .await;
    c.ok(
        Method::POST,
        "model-versions/create",
        Some(json!({"name": "locked", "source": format!("mlflow-artifacts:/{root}")})),
    )
    .await;
    // Before approval, files may change.
    assert_eq!(
        put(&c, &format!("{root}/model.onnx"), b"\x08\x07weights")
            .await
            .0,
        StatusCode::OK
    );
    let (status, review) = sextant(
        &c,
        Method::POST,
        "models/locked/versions/1/review",
        Some(json!({"decision": "approve", "comment": "looks right"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{review}");
    let manifest = &review["review"]["approved_files"];
    assert_eq!(manifest["root"], root);
    let mut want: Vec<(String, String)> = files
        .iter()
        .map(|(p, b)| ((*p).to_owned(), sha256_hex(b)))
        .collect();
    want.sort();
    let got: Vec<(String, String)> = manifest["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap_or_default().to_owned(),
                f["sha256"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(got, want);
    // GET review serves the same manifest (sextant serve reads it there).
    let (_, again) = sextant(&c, Method::GET, "models/locked/versions/1/review", None).await;
    assert_eq!(&again["review"]["approved_files"], manifest);
    // The audit entry carries the digest.
    let (_, audit) = sextant(&c, Method::GET, "models/locked/audit", None).await;
    let approve = audit["entries"]
        .as_array()
        .or_else(|| audit["audit"].as_array())
        .and_then(|a| a.iter().find(|e| e["action"] == "approve"))
        .cloned()
        .unwrap_or_else(|| panic!("no approve entry in {audit}"));
    assert_eq!(approve["details"]["files"]["digest"], manifest["digest"]);

    // Every write under the approved files is refused, naming the version.
    let (status, err) = put(&c, &format!("{root}/model.onnx"), b"tampered").await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["error_code"], "RESOURCE_CONFLICT");
    let msg = err["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("version 1") && msg.contains("'locked'"),
        "{msg}"
    );
    assert_eq!(
        put(&c, &format!("{root}/new.bin"), b"x").await.0,
        StatusCode::CONFLICT
    );
    for path in [
        format!("{root}/extra/notes.txt"),
        root.to_owned(),
        "0/approved".to_owned(),
    ] {
        let (status, _) = c
            .raw(
                Method::DELETE,
                &format!("/api/2.0/mlflow-artifacts/artifacts/{path}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "DELETE {path}");
    }
    let (status, _) = c
        .raw(
            Method::POST,
            &format!("/api/2.0/mlflow-artifacts/mpu/create/{root}"),
            Some(json!({"path": "/tmp/model.onnx", "num_parts": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "multipart create");
    // Next to the approved files, writes go on; the files themselves are intact.
    assert_eq!(
        put(&c, "0/approved/other.txt", b"x").await.0,
        StatusCode::OK
    );
    let (status, body) = c
        .raw(
            Method::GET,
            &format!("/api/2.0/mlflow-artifacts/artifacts/{root}/model.onnx"),
            None,
        )
        .await;
    assert_eq!(
        (status, body.as_slice()),
        (StatusCode::OK, &b"\x08\x07weights"[..])
    );

    // Rejected, the version no longer holds its files.
    let (status, _) = sextant(
        &c,
        Method::POST,
        "models/locked/versions/1/review",
        Some(json!({"decision": "reject", "comment": "withdrawn"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        put(&c, &format!("{root}/model.onnx"), b"v2").await.0,
        StatusCode::OK
    );
}
