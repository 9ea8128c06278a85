//! Request messages: GET query strings and JSON bodies turned into one field map, read with
//! MLflow's type rules and messages (`Missing value for required parameter 'key'.`).
//!
//! Every message is checked at this boundary for text no store can keep (a NUL character,
//! refused with the parameter named, on every store alike), and a JSON body is parsed under a
//! budget of [`MAX_JSON_VALUES`] values: a JSON tree costs far more memory than its text (a
//! 31 MB body of small objects took over 1 GB), so the budget bounds what a body can cost.

use std::cell::Cell;
use std::fmt;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{Method, StatusCode, header};
use serde::de::{DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult, ErrorCode};

/// The most JSON values (objects, arrays, strings, numbers, booleans, nulls) one request body
/// may hold. A full log-batch (1,000 metrics, 100 params, 100 tags) holds about 10,000.
pub const MAX_JSON_VALUES: usize = 500_000;

/// The most JSON objects one request body may hold: each costs a map node (~600 bytes).
pub const MAX_JSON_OBJECTS: usize = 50_000;

/// The body-size limit in force for a route, for the error message (set by the router).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// What a body may still cost while it is parsed.
struct Budget {
    values: Cell<usize>,
    objects: Cell<usize>,
    exceeded: Cell<bool>,
}

impl Budget {
    fn new() -> Self {
        Self {
            values: Cell::new(0),
            objects: Cell::new(0),
            exceeded: Cell::new(false),
        }
    }

    fn take<E: serde::de::Error>(&self, object: bool) -> Result<(), E> {
        self.values.set(self.values.get() + 1);
        if object {
            self.objects.set(self.objects.get() + 1);
        }
        if self.values.get() > MAX_JSON_VALUES || self.objects.get() > MAX_JSON_OBJECTS {
            self.exceeded.set(true);
            return Err(E::custom("the request body holds too many JSON values"));
        }
        Ok(())
    }
}

/// Builds a `serde_json::Value` while counting against a [`Budget`].
#[derive(Clone, Copy)]
struct Bounded<'a>(&'a Budget);

impl<'de> DeserializeSeed<'de> for Bounded<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Bounded<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        self.0.take(false)?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        self.0.take(false)?;
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        self.0.take(false)?;
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        self.0.take(false)?;
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        self.0.take(false)?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Value, E> {
        self.0.take(false)?;
        Ok(Value::String(v))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        self.0.take(false)?;
        Ok(Value::Null)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.0.take(false)?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(self)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.0.take(true)?;
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(self)?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

/// Parse a JSON body under the value budget.
fn parse_bounded(body: &[u8]) -> ApiResult<Value> {
    let budget = Budget::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = Bounded(&budget)
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    match parsed {
        Ok(v) => Ok(v),
        Err(_) if budget.exceeded.get() => Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "The request body holds more than {MAX_JSON_VALUES} JSON values or \
                 {MAX_JSON_OBJECTS} objects (the limit); split it into several requests."
            ),
        )),
        Err(e) => Err(ApiError::invalid(format!(
            "Malformed JSON request body: {e}"
        ))),
    }
}

/// The first string (or object key) holding a NUL character, as `(parameter path, byte)`.
fn find_nul(v: &Value, path: &mut String) -> Option<(String, usize)> {
    match v {
        Value::String(s) => s.find('\0').map(|at| (path.clone(), at)),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = find_nul(item, path);
            path.truncate(len);
            found
        }),
        Value::Object(fields) => find_nul_in(fields, path),
        _ => None,
    }
}

fn find_nul_in(fields: &Map<String, Value>, path: &mut String) -> Option<(String, usize)> {
    fields.iter().find_map(|(k, item)| {
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(&k.replace('\0', "\\u0000"));
        let found = match k.find('\0') {
            Some(at) => Some((path.clone(), at)),
            None => find_nul(item, path),
        };
        path.truncate(len);
        found
    })
}

/// Refuse a message with a NUL character anywhere, naming the parameter.
fn no_nul(fields: &Map<String, Value>) -> ApiResult<()> {
    match find_nul_in(fields, &mut String::new()) {
        None => Ok(()),
        Some((path, at)) => Err(ApiError::invalid(sextant_core::validation::nul_message(
            &path, at,
        ))),
    }
}

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
        no_nul(&fields)?;
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
        match parse_bounded(body)? {
            Value::Object(fields) => {
                no_nul(&fields)?;
                Ok(Self {
                    fields,
                    from_query: false,
                    body_len: body.len(),
                })
            }
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
        let limit = req.extensions().get::<BodyLimit>().copied();
        let body = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large(limit)
            } else {
                ApiError::invalid(format!("Cannot read the request body: {e}"))
            }
        })?;
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

/// The error for a body over its route's limit.
pub fn too_large(limit: Option<BodyLimit>) -> ApiError {
    let what = match limit {
        Some(BodyLimit(n)) => format!("the limit of {n} bytes ({})", human_bytes(n)),
        None => "this endpoint's limit".to_owned(),
    };
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!(
            "The request body is larger than {what}. Split the request into several (e.g. \
             smaller log-batch calls), or ask the operator to raise --max-request-body."
        ),
    )
}

fn human_bytes(n: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if n % MIB == 0 {
        format!("{} MiB", n / MIB)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_characters_are_refused_with_the_parameter_named() {
        let e = Msg::from_json(br#"{"metrics": [{"key": "a"}, {"key": "b\u0000c"}]}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParameterValue);
        assert!(e.message.contains("'metrics[1].key'"), "{}", e.message);
        assert!(e.message.contains("byte 1"), "{}", e.message);
        let e = Msg::from_query("name=a%00b").unwrap_err();
        assert!(e.message.contains("'name'"), "{}", e.message);
        assert!(Msg::from_json(br#"{"name": "a\\u0000"}"#).is_ok());
    }

    #[test]
    fn a_body_over_the_value_budget_is_refused() {
        let mut body = b"{\"xs\": [".to_vec();
        for i in 0..=MAX_JSON_OBJECTS {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(b"{}");
        }
        body.extend_from_slice(b"]}");
        let e = Msg::from_json(&body).unwrap_err();
        assert_eq!(e.code, ErrorCode::PayloadTooLarge);
        let ok = Msg::from_json(br#"{"a": [1, 2.5, "x", null, true, {"b": []}]}"#).unwrap();
        assert_eq!(ok.fields["a"][1], serde_json::json!(2.5));
        assert!(Msg::from_json(b"{} x").is_err());
    }

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
