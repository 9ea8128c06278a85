//! Request messages: GET query strings and JSON bodies turned into one field map, read with
//! MLflow's type rules and messages (`Missing value for required parameter 'key'.`).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{Method, header};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

const API_DOCS: &str = " See the API docs for more information about request parameters.";

/// The fields of a request message, from the query string (GET) or the JSON body.
#[derive(Debug, Default)]
pub struct Msg {
    fields: Map<String, Value>,
    /// Values came from a query string: everything is a string there.
    from_query: bool,
    /// Size of the JSON body in bytes (0 for GET).
    pub body_len: usize,
}

fn python_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

fn type_error(name: &str, v: &Value) -> ApiError {
    let rendered = serde_json::to_string(v).unwrap_or_default();
    ApiError::invalid(format!(
        "Invalid value {rendered} for parameter '{name}' supplied:  Hint: Value was of type '{}'.{API_DOCS}",
        python_type(v)
    ))
}

fn missing(name: &str) -> ApiError {
    ApiError::invalid(format!(
        "Missing value for required parameter '{name}'.{API_DOCS}"
    ))
}

impl Msg {
    /// Build from a query string (repeated keys become arrays).
    pub fn from_query(query: &str) -> ApiResult<Self> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|e| ApiError::invalid(format!("Malformed query string: {e}")))?;
        let mut fields = Map::new();
        for (k, v) in pairs {
            match fields.get_mut(&k) {
                Some(Value::Array(a)) => a.push(Value::String(v)),
                Some(existing) => {
                    let first = existing.take();
                    *existing = Value::Array(vec![first, Value::String(v)]);
                }
                None => {
                    fields.insert(k, Value::String(v));
                }
            }
        }
        Ok(Self {
            fields,
            from_query: true,
            body_len: 0,
        })
    }

    /// Build from a JSON body.
    pub fn from_json(body: &[u8]) -> ApiResult<Self> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self {
                body_len: body.len(),
                ..Self::default()
            });
        }
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::invalid(format!("Malformed JSON request body: {e}")))?;
        match v {
            Value::Object(fields) => Ok(Self {
                fields,
                from_query: false,
                body_len: body.len(),
            }),
            other => Err(ApiError::invalid(format!(
                "The request body must be a JSON object, got {}",
                python_type(&other)
            ))),
        }
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.fields.get(name).filter(|v| !v.is_null())
    }

    /// A required string (absent, null and "" are all missing, as in MLflow).
    pub fn str(&self, name: &str) -> ApiResult<String> {
        match self.opt_str(name)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(missing(name)),
        }
    }

    /// A required string that may be empty when present (e.g. a tag value).
    pub fn str_allow_empty(&self, name: &str) -> ApiResult<String> {
        self.opt_str(name)?.ok_or_else(|| missing(name))
    }

    pub fn opt_str(&self, name: &str) -> ApiResult<Option<String>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Array(a)) if self.from_query => {
                Ok(a.last().and_then(Value::as_str).map(str::to_owned))
            }
            Some(v) => Err(type_error(name, v)),
        }
    }

    /// A required value that clients send as a string or as a number (model version numbers).
    pub fn str_or_int(&self, name: &str) -> ApiResult<String> {
        match self.get(name) {
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
            _ => self.str(name),
        }
    }

    /// `run_id`, or the legacy `run_uuid` that clients also send.
    pub fn run_id(&self) -> ApiResult<String> {
        match self.opt_str("run_id")?.filter(|s| !s.is_empty()) {
            Some(id) => Ok(id),
            None => self
                .opt_str("run_uuid")?
                .filter(|s| !s.is_empty())
                .ok_or_else(|| missing("run_id")),
        }
    }

    pub fn opt_i64(&self, name: &str) -> ApiResult<Option<i64>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) => Ok(Some(i)),
                None => match n.as_f64() {
                    #[expect(clippy::cast_possible_truncation, reason = "integral check")]
                    Some(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(Some(f as i64)),
                    _ => Err(type_error(name, &Value::Number(n.clone()))),
                },
            },
            Some(Value::String(s)) => s
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| type_error(name, &Value::String(s.clone()))),
            Some(v) => Err(type_error(name, v)),
        }
    }

    pub fn i64(&self, name: &str) -> ApiResult<i64> {
        self.opt_i64(name)?.ok_or_else(|| missing(name))
    }

    pub fn opt_bool(&self, name: &str) -> ApiResult<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                _ => Err(ApiError::invalid(format!(
                    "Invalid boolean value: {s}, must be 'true' or 'false'."
                ))),
            },
            Some(v) => Err(type_error(name, v)),
        }
    }

    /// A metric value: a number, or `"NaN"` / `"Infinity"` / `"-Infinity"`.
    pub fn f64(&self, name: &str) -> ApiResult<f64> {
        match self.get(name) {
            None => Err(missing(name)),
            Some(v) => serde_json::from_value::<sextant_types::WireF64>(v.clone())
                .map(|w| w.0)
                .map_err(|_| type_error(name, v)),
        }
    }

    /// A repeated string field (a single query value counts as a list of one).
    pub fn str_list(&self, name: &str) -> ApiResult<Vec<String>> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    other => Err(type_error(name, other)),
                })
                .collect(),
            Some(v) => Err(type_error(name, v)),
        }
    }

    /// A repeated message field, each element deserialised into `T`.
    pub fn list<T: DeserializeOwned>(&self, name: &str) -> ApiResult<Vec<T>> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    T::deserialize(v).map_err(|e| {
                        ApiError::invalid(format!(
                            "Invalid value for parameter '{name}[{i}]' supplied: {e}.{API_DOCS}"
                        ))
                    })
                })
                .collect(),
            Some(v) => Err(type_error(name, v)),
        }
    }

    /// A nested message field.
    pub fn object<T: DeserializeOwned>(&self, name: &str) -> ApiResult<Option<T>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => T::deserialize(v).map(Some).map_err(|e| {
                ApiError::invalid(format!(
                    "Invalid value for parameter '{name}' supplied: {e}.{API_DOCS}"
                ))
            }),
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for Msg {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if req.method() == Method::GET {
            return Self::from_query(req.uri().query().unwrap_or(""));
        }
        let has_content_type = req.headers().contains_key(header::CONTENT_TYPE);
        let query = req.uri().query().unwrap_or("").to_owned();
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::invalid(format!("Cannot read the request body: {e}")))?;
        if body.is_empty() && !query.is_empty() {
            // Some clients send DELETE parameters in the query string.
            return Self::from_query(&query);
        }
        if !has_content_type && !body.is_empty() {
            return Err(ApiError::invalid(
                "Bad Request. Content-Type header is missing.",
            ));
        }
        Self::from_json(&body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_repeats_become_lists() {
        let m = Msg::from_query("experiment_ids=1&experiment_ids=2&name=a").unwrap();
        assert_eq!(m.str_list("experiment_ids").unwrap(), vec!["1", "2"]);
        assert_eq!(m.str("name").unwrap(), "a");
    }

    #[test]
    fn messages_match_mlflow() {
        let m = Msg::from_json(br#"{"run_id": 31}"#).unwrap();
        assert_eq!(
            m.run_id().unwrap_err().message,
            "Invalid value 31 for parameter 'run_id' supplied:  Hint: Value was of type 'int'. See the API docs for more information about request parameters."
        );
        let m = Msg::from_json(br#"{}"#).unwrap();
        assert_eq!(
            m.str("key").unwrap_err().message,
            "Missing value for required parameter 'key'. See the API docs for more information about request parameters."
        );
    }

    #[test]
    fn numbers_from_strings_and_specials() {
        let m = Msg::from_json(br#"{"t": "12", "v": "NaN", "w": 1.5}"#).unwrap();
        assert_eq!(m.opt_i64("t").unwrap(), Some(12));
        assert!(m.f64("v").unwrap().is_nan());
        assert_eq!(m.f64("w").unwrap(), 1.5);
    }
}
