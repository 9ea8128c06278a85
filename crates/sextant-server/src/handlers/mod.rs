//! Thin handlers: read the request message, call one service function, wrap the result.

pub mod artifacts;
pub mod charts;
pub mod experiments;
pub mod logged_models;
pub mod misc;
pub mod registry;
pub mod review;
pub mod runs;

use axum::Json;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};

/// A JSON response body.
pub type JsonResult = ApiResult<Json<Value>>;

/// A list response, serialised without an intermediate JSON tree ([`list_response`]).
pub type ListResult = ApiResult<Response>;

/// `{}`: MLflow's empty response.
pub fn empty() -> JsonResult {
    Ok(Json(json!({})))
}

/// Serialise a value into a response object under `key`.
pub fn wrap<T: Serialize>(key: &str, value: &T) -> JsonResult {
    let v = serde_json::to_value(value)
        .map_err(|e| ApiError::invalid(format!("cannot encode the response: {e}")))?;
    Ok(Json(json!({ key: v })))
}

/// A list response: `{key: [...], next_page_token}` with empty parts omitted, as protobuf does.
/// Written straight to bytes (no intermediate JSON tree): lists can hold 25,000 metric points.
pub fn list_response<T: Serialize>(
    key: &str,
    items: &[T],
    next_token: Option<String>,
) -> ListResult {
    let mut body = Vec::with_capacity(64 + items.len() * 64);
    body.push(b'{');
    let mut first = true;
    let encode_err =
        |e: serde_json::Error| ApiError::invalid(format!("cannot encode the response: {e}"));
    if !items.is_empty() {
        serde_json::to_writer(&mut body, key).map_err(encode_err)?;
        body.push(b':');
        serde_json::to_writer(&mut body, items).map_err(encode_err)?;
        first = false;
    }
    if let Some(t) = next_token {
        if !first {
            body.push(b',');
        }
        body.extend_from_slice(b"\"next_page_token\":");
        serde_json::to_writer(&mut body, &t).map_err(encode_err)?;
    }
    body.push(b'}');
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

/// Encode an opaque page token.
pub fn encode_token<T: Serialize>(t: &T) -> String {
    STANDARD.encode(serde_json::to_vec(t).unwrap_or_default())
}

/// Decode a page token; a bad one is the client's mistake (400), never a 5xx.
pub fn decode_token<T: DeserializeOwned>(token: &str) -> ApiResult<T> {
    let bytes = STANDARD
        .decode(token.trim())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(token.trim()))
        .map_err(|_| ApiError::invalid("Invalid page token, could not base64-decode"))?;
    serde_json::from_slice(&bytes).map_err(|_| {
        ApiError::invalid(
            "Invalid page token, decoded value=".to_owned() + &String::from_utf8_lossy(&bytes),
        )
    })
}

/// The offset of an MLflow `{"offset": N}` page token (0 without one).
pub fn offset_of(token: Option<&str>) -> ApiResult<u64> {
    match token.filter(|t| !t.is_empty()) {
        None => Ok(0),
        Some(t) => decode_token::<sextant_types::api::OffsetToken>(t).map(|o| o.offset),
    }
}

pub fn offset_token(offset: Option<u64>) -> Option<String> {
    offset.map(|offset| encode_token(&sextant_types::api::OffsetToken { offset }))
}

/// `max_results` must be a positive number where given.
pub fn max_results(m: &crate::request::Msg) -> ApiResult<Option<u64>> {
    match m.opt_i64("max_results")? {
        None => Ok(None),
        Some(n) if n < 0 => Err(ApiError::invalid(format!(
            "Invalid value {n} for parameter 'max_results' supplied. It must be a positive integer"
        ))),
        Some(n) => Ok(Some(n.unsigned_abs())),
    }
}
