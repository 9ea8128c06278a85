//! The `mlflow-artifacts` proxy: upload, download, list, delete, and multipart upload, so the
//! tracking server is the only thing a client talks to. Every write (upload, delete, multipart
//! create, part and complete) is refused with 409 when it would change the files of an
//! approved model version.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use sextant_artifacts::{ByteStream, CompletedPart, FileInfo};

use super::{JsonResult, empty};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::request::Msg;

fn body_stream(body: Body) -> ByteStream {
    Box::pin(
        body.into_data_stream()
            .map_err(|e| std::io::Error::other(e.to_string())),
    )
}

fn files_json(files: &[FileInfo], prefix: &str) -> Vec<Value> {
    files
        .iter()
        .map(|f| {
            let path = if prefix.is_empty() {
                f.path.clone()
            } else {
                format!("{prefix}/{}", f.path)
            };
            // MLflow leaves `file_size` out for directories and for empty files.
            match (f.is_dir, f.file_size.filter(|&n| n > 0)) {
                (true, _) | (false, None) => json!({ "path": path, "is_dir": f.is_dir }),
                (false, Some(size)) => json!({ "path": path, "is_dir": false, "file_size": size }),
            }
        })
        .collect()
}

fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "txt" | "log" | "md" | "py" | "yaml" | "yml" | "csv" | "tsv" => "text/plain; charset=utf-8",
        "json" => "application/json",
        "html" | "htm" => "text/html; charset=utf-8",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

pub async fn download(State(s): State<AppState>, Path(path): Path<String>) -> ApiResult<Response> {
    let d = s.artifacts.get(&path).await?;
    let mut resp = Body::from_stream(d.body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&path)),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(d.size));
    Ok(resp)
}

pub async fn upload(
    State(s): State<AppState>,
    Path(path): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    s.registry.check_artifact_write(&path).await?;
    s.artifacts.put(&path, body_stream(body)).await?;
    Ok(StatusCode::OK.into_response())
}

pub async fn delete(State(s): State<AppState>, Path(path): Path<String>) -> JsonResult {
    s.registry.check_artifact_write(&path).await?;
    // As in MLflow, deleting what is already gone succeeds (a retried delete is not an error).
    match s.artifacts.delete(&path).await {
        Ok(()) | Err(sextant_artifacts::ArtifactError::NotFound { .. }) => empty(),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    path: Option<String>,
}

pub async fn list(State(s): State<AppState>, Query(q): Query<ListQuery>) -> JsonResult {
    let dir = q.path.unwrap_or_default();
    let files = s.artifacts.list(dir.trim_matches('/')).await?;
    if files.is_empty() {
        return empty();
    }
    Ok(axum::Json(json!({ "files": files_json(&files, "") })))
}

/// The externally visible base URL of this server, for the part URLs handed to clients.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(header::HOST))
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("http");
    format!("{proto}://{host}")
}

fn encode_path(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            seg.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The object a multipart call is about: as in MLflow, the URL names the *directory* and the
/// body's `path` (the client's local file) supplies the file name.
fn mpu_target(dir: &str, m: &Msg) -> ApiResult<String> {
    let local = m.str("path")?;
    let name = local
        .rsplit(['/', '\\'])
        .find(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid(format!("path '{local}' does not name a file")))?;
    let dir = dir.trim_matches('/');
    Ok(if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    })
}

pub async fn mpu_create(
    State(s): State<AppState>,
    Path(path): Path<String>,
    headers: HeaderMap,
    m: Msg,
) -> JsonResult {
    let num_parts = m.opt_i64("num_parts")?.unwrap_or(1);
    if !(1..=10_000).contains(&num_parts) {
        return Err(ApiError::invalid(format!(
            "num_parts must be between 1 and 10000, got {num_parts}"
        )));
    }
    let path = mpu_target(&path, &m)?;
    s.registry.check_artifact_write(&path).await?;
    let upload_id = s.artifacts.create_multipart(&path).await?;
    let base = base_url(&headers);
    let credentials: Vec<Value> = (1..=num_parts)
        .map(|n| {
            json!({
                "url": format!(
                    "{base}/api/2.0/mlflow-artifacts/mpu/upload/{}?upload_id={upload_id}&part_number={n}",
                    encode_path(&path)
                ),
                "part_number": n,
                "headers": {},
            })
        })
        .collect();
    Ok(axum::Json(
        json!({ "upload_id": upload_id, "credentials": credentials }),
    ))
}

#[derive(Debug, Deserialize)]
pub struct PartQuery {
    upload_id: String,
    part_number: u32,
}

pub async fn mpu_upload_part(
    State(s): State<AppState>,
    Path(path): Path<String>,
    Query(q): Query<PartQuery>,
    body: Body,
) -> ApiResult<Response> {
    s.registry.check_artifact_write(&path).await?;
    let etag = s
        .artifacts
        .upload_part(&path, &q.upload_id, q.part_number, body_stream(body))
        .await?;
    let mut resp = StatusCode::OK.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    Ok(resp)
}

#[derive(Debug, Deserialize)]
struct PartIn {
    part_number: u32,
    #[serde(default)]
    etag: Option<String>,
}

pub async fn mpu_complete(
    State(s): State<AppState>,
    Path(path): Path<String>,
    m: Msg,
) -> JsonResult {
    let path = mpu_target(&path, &m)?;
    let upload_id = m.str("upload_id")?;
    let parts: Vec<CompletedPart> = m
        .list::<PartIn>("parts")?
        .into_iter()
        .map(|p| CompletedPart {
            part_number: p.part_number,
            etag: p.etag.unwrap_or_default().trim_matches('"').to_owned(),
        })
        .collect();
    // Checked again on completion: the version may have been approved since the upload began.
    s.registry.check_artifact_write(&path).await?;
    s.artifacts
        .complete_multipart(&path, &upload_id, &parts)
        .await?;
    empty()
}

pub async fn mpu_abort(State(s): State<AppState>, Path(path): Path<String>, m: Msg) -> JsonResult {
    let path = mpu_target(&path, &m)?;
    let upload_id = m.str("upload_id")?;
    s.artifacts.abort_multipart(&path, &upload_id).await?;
    empty()
}

/// The store path behind an `mlflow-artifacts:/...` URI (or a bare relative path).
pub fn store_path_of(uri: &str) -> Option<String> {
    let rest = uri
        .strip_prefix("mlflow-artifacts://")
        .map(|r| r.split_once('/').map_or("", |(_, p)| p))
        .or_else(|| uri.strip_prefix("mlflow-artifacts:"))?;
    Some(rest.trim_matches('/').to_owned())
}

/// `GET /mlflow/artifacts/list?run_id=&path=`: a run's artifacts, paths relative to its root.
pub async fn list_run_artifacts(State(s): State<AppState>, m: Msg) -> JsonResult {
    let run = s.tracking.get_run(&m.run_id()?).await?;
    let rel = m.opt_str("path")?.unwrap_or_default();
    let rel = rel.trim_matches('/');
    let root = store_path_of(&run.info.artifact_uri).ok_or_else(|| {
        ApiError::invalid(format!(
            "The run's artifact URI {} is not served by this server",
            run.info.artifact_uri
        ))
    })?;
    let dir = if rel.is_empty() {
        root
    } else {
        format!("{root}/{rel}")
    };
    let files = s.artifacts.list(&dir).await?;
    let mut obj = serde_json::Map::new();
    obj.insert(
        "root_uri".into(),
        Value::String(run.info.artifact_uri.clone()),
    );
    if !files.is_empty() {
        obj.insert("files".into(), Value::Array(files_json(&files, rel)));
    }
    Ok(axum::Json(Value::Object(obj)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_uris_map_to_store_paths() {
        assert_eq!(
            store_path_of("mlflow-artifacts:/5/abc/artifacts").as_deref(),
            Some("5/abc/artifacts")
        );
        assert_eq!(
            store_path_of("mlflow-artifacts://host:5000/5/x").as_deref(),
            Some("5/x")
        );
        assert_eq!(store_path_of("s3://b/x"), None);
    }

    #[test]
    fn part_urls_escape_segments() {
        assert_eq!(encode_path("a b/c%d"), "a%20b/c%25d");
    }
}
