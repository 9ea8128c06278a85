//! MLflow's validation rules and messages (`mlflow/utils/validation.py`), so clients and scripts
//! that match on them keep working.

use sextant_types::{Metric, Param, Tag};

use crate::{CoreError, Result};

pub const MAX_PARAMS_TAGS_PER_BATCH: usize = 100;
pub const MAX_METRICS_PER_BATCH: usize = 1000;
pub const MAX_ENTITIES_PER_BATCH: usize = 1000;
pub const MAX_BATCH_LOG_REQUEST_SIZE: usize = 1_000_000;
pub const MAX_PARAM_VAL_LENGTH: usize = 6000;
pub const MAX_TAG_VAL_LENGTH: usize = 8000;
pub const MAX_EXPERIMENT_NAME_LENGTH: usize = 500;
pub const MAX_EXPERIMENT_TAG_KEY_LENGTH: usize = 250;
pub const MAX_EXPERIMENT_TAG_VAL_LENGTH: usize = 20000;
pub const MAX_ENTITY_KEY_LENGTH: usize = 250;
pub const MAX_DATASET_NAME_SIZE: usize = 500;
pub const MAX_DATASET_DIGEST_SIZE: usize = 36;
pub const MAX_DATASET_SCHEMA_SIZE: usize = 1_048_575;
pub const MAX_DATASET_SOURCE_SIZE: usize = 65535;
pub const MAX_DATASET_PROFILE_SIZE: usize = 16_777_215;
pub const MAX_INPUT_TAG_KEY_SIZE: usize = 255;
pub const MAX_INPUT_TAG_VALUE_SIZE: usize = 500;
pub const MAX_RESULTS_SEARCH_RUNS: u64 = 50000;
pub const MAX_EXPERIMENTS_LISTED_PER_PAGE: u64 = 50000;
/// The most `order_by` keys one search may have (each is a join in the query).
pub const MAX_ORDER_BY_KEYS: usize = 20;
/// The most experiment ids one run or logged-model search may name.
pub const MAX_SEARCH_EXPERIMENT_IDS: usize = 1000;
/// The longest run name: the name is also kept as the `mlflow.runName` tag, whose values are
/// limited to this length.
pub const MAX_RUN_NAME_LENGTH: usize = MAX_TAG_VAL_LENGTH;

fn invalid(msg: impl Into<String>) -> CoreError {
    CoreError::InvalidParameter(msg.into())
}

/// `json.dumps(value)` of a string, as Python renders it (ASCII only, `\u` + four hex digits escapes).
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// MLflow's `invalid_value(path, value, message)` with a string value.
pub fn invalid_value(path: &str, value: &str, message: Option<&str>) -> String {
    match message {
        Some(m) => format!(
            "Invalid value {} for parameter '{path}' supplied: {m}",
            json_str(value)
        ),
        None => format!(
            "Invalid value {} for parameter '{path}' supplied.",
            json_str(value)
        ),
    }
}

pub fn missing_value(path: &str) -> String {
    format!("Missing value for required parameter '{path}'.")
}

pub fn exceeds_maximum_length(path: &str, limit: usize) -> String {
    format!("'{path}' exceeds the maximum length of {limit} characters")
}

fn bad_character_message() -> &'static str {
    "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), \
     colon(:) and slashes (/)."
}

/// Text a store can keep: PostgreSQL cannot store a NUL character in a text column, so one is
/// refused on every store alike, naming the parameter (`path`) it arrived in.
pub fn no_nul(path: &str, value: &str) -> Result<()> {
    match value.find('\0') {
        None => Ok(()),
        Some(at) => Err(invalid(nul_message(path, at))),
    }
}

/// The message for a NUL character at byte `at` of parameter `path`.
pub fn nul_message(path: &str, at: usize) -> String {
    format!(
        "Invalid value for parameter '{path}' supplied: it contains a NUL character (\\u0000) at \
         byte {at}, which cannot be stored. Remove it from the value."
    )
}

/// A list parameter of a search holds at most `limit` items.
pub fn list_limit(path: &str, len: usize, limit: usize) -> Result<()> {
    if len > limit {
        return Err(invalid(format!(
            "Invalid value for parameter '{path}' supplied: it has {len} items, more than the \
             limit of {limit}. Split the request into several."
        )));
    }
    Ok(())
}

/// A run name is at most [`MAX_RUN_NAME_LENGTH`] characters.
pub fn validate_run_name(path: &str, name: &str) -> Result<()> {
    if name.chars().count() > MAX_RUN_NAME_LENGTH {
        return Err(invalid(exceeds_maximum_length(path, MAX_RUN_NAME_LENGTH)));
    }
    Ok(())
}

/// `posixpath.normpath`.
fn normpath(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let initial = if p.starts_with("//") && !p.starts_with("///") {
        2
    } else {
        usize::from(p.starts_with('/'))
    };
    let mut parts: Vec<&str> = Vec::new();
    for comp in p.split('/') {
        if comp.is_empty() || comp == "." {
            continue;
        }
        if comp != ".." || (initial == 0 && parts.is_empty()) || parts.last() == Some(&"..") {
            parts.push(comp);
        } else if !parts.is_empty() {
            parts.pop();
        }
    }
    let joined = parts.join("/");
    let out = format!("{}{}", "/".repeat(initial), joined);
    if out.is_empty() { ".".into() } else { out }
}

fn path_not_unique(name: &str) -> bool {
    let norm = normpath(name);
    norm != name || norm == "." || norm.starts_with("..") || norm.starts_with('/')
}

fn valid_name_chars(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '/' | '.' | '-' | ' ' | ':'))
}

/// A metric, param or tag key: MLflow's character set, no path tricks, at most 250 chars.
pub fn validate_key(kind: &str, name: &str, path: &str) -> Result<()> {
    no_nul(path, name)?;
    if !valid_name_chars(name) {
        return Err(invalid(invalid_value(
            path,
            name,
            Some(bad_character_message()),
        )));
    }
    if path_not_unique(name) {
        let msg = format!(
            "Names may be treated as files in certain cases, and must not resolve to other names \
             when treated as such. This name would resolve to '{}'",
            normpath(name)
        );
        return Err(invalid(invalid_value(path, name, Some(&msg))));
    }
    if name.chars().count() > MAX_ENTITY_KEY_LENGTH {
        return Err(invalid(exceeds_maximum_length(kind, MAX_ENTITY_KEY_LENGTH)));
    }
    Ok(())
}

/// Cut a value to `limit` characters (MLflow truncates long param and tag values by default).
pub fn truncate(value: &mut String, limit: usize) {
    if let Some((idx, _)) = value.char_indices().nth(limit) {
        tracing::warn!(limit, "value truncated to the length limit");
        value.truncate(idx);
    }
}

pub fn validate_metric(m: &Metric, path: &str) -> Result<()> {
    validate_key("Metric name", &m.key, &format!("{path}name"))?;
    if m.timestamp < 0 {
        return Err(invalid(format!(
            "Invalid value {} for parameter '{path}timestamp' supplied: metric '{}' (value={}). \
             Timestamp must be a nonnegative long (64-bit integer) ",
            m.timestamp, m.key, m.value.0
        )));
    }
    Ok(())
}

pub fn validate_param(p: &mut Param, path: &str) -> Result<()> {
    validate_key("Param key", &p.key, &format!("{path}key"))?;
    no_nul(&format!("{path}value"), &p.value)?;
    truncate(&mut p.value, MAX_PARAM_VAL_LENGTH);
    Ok(())
}

pub fn validate_tag(t: &mut Tag, path: &str) -> Result<()> {
    let key_path = format!("{path}key");
    validate_key(&key_path, &t.key, &key_path)?;
    no_nul(&format!("{path}value"), &t.value)?;
    truncate(&mut t.value, MAX_TAG_VAL_LENGTH);
    Ok(())
}

fn batch_limit(entity: &str, limit: usize, len: usize) -> Result<()> {
    if len > limit {
        return Err(invalid(format!(
            "A batch logging request can contain at most {limit} {entity}. Got {len} {entity}. \
             Please split up {entity} across multiple requests and try again."
        )));
    }
    Ok(())
}

/// Batch sizes, then every entity, then unique param keys — in MLflow's order.
pub fn validate_batch(metrics: &[Metric], params: &mut [Param], tags: &mut [Tag]) -> Result<()> {
    batch_limit("metrics", MAX_METRICS_PER_BATCH, metrics.len())?;
    batch_limit("params", MAX_PARAMS_TAGS_PER_BATCH, params.len())?;
    batch_limit("tags", MAX_PARAMS_TAGS_PER_BATCH, tags.len())?;
    batch_limit(
        "metrics, params, and tags",
        MAX_ENTITIES_PER_BATCH,
        metrics.len() + params.len() + tags.len(),
    )?;
    for (i, m) in metrics.iter().enumerate() {
        validate_metric(m, &format!("metrics[{i}]."))?;
    }
    for (i, p) in params.iter_mut().enumerate() {
        validate_param(p, &format!("params[{i}]."))?;
    }
    for (i, t) in tags.iter_mut().enumerate() {
        validate_tag(t, &format!("tags[{i}]."))?;
    }
    let mut seen = std::collections::HashMap::new();
    let mut dupes = Vec::new();
    for p in params.iter() {
        match seen.get(&p.key) {
            Some(v) if *v != &p.value => dupes.push(format!("'{}'", p.key)),
            Some(_) => {}
            None => {
                seen.insert(p.key.clone(), &p.value);
            }
        }
    }
    if !dupes.is_empty() {
        return Err(invalid(format!(
            "Duplicate parameter keys have been submitted: [{}]. Please ensure the request \
             contains only one param value per param key.",
            dupes.join(", ")
        )));
    }
    Ok(())
}

pub fn validate_experiment_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(invalid(format!("Invalid experiment name: '{name}'")));
    }
    if name.chars().count() > MAX_EXPERIMENT_NAME_LENGTH {
        return Err(invalid(exceeds_maximum_length(
            "name",
            MAX_EXPERIMENT_NAME_LENGTH,
        )));
    }
    Ok(())
}

pub fn validate_experiment_tag(t: &Tag) -> Result<()> {
    validate_key("key", &t.key, "key")?;
    if t.key.chars().count() > MAX_EXPERIMENT_TAG_KEY_LENGTH {
        return Err(invalid(exceeds_maximum_length(
            "key",
            MAX_EXPERIMENT_TAG_KEY_LENGTH,
        )));
    }
    if t.value.chars().count() > MAX_EXPERIMENT_TAG_VAL_LENGTH {
        return Err(invalid(exceeds_maximum_length(
            "value",
            MAX_EXPERIMENT_TAG_VAL_LENGTH,
        )));
    }
    Ok(())
}

/// Run ids: `^[a-zA-Z0-9][\w\-]{0,255}$`.
pub fn validate_run_id(id: &str) -> Result<()> {
    let mut chars = id.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id.chars().count() <= 256
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(invalid(invalid_value("run_id", id, None)))
    }
}

pub fn check_len(what: &str, value: &str, limit: usize) -> Result<()> {
    if value.chars().count() > limit {
        return Err(invalid(exceeds_maximum_length(what, limit)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normpath_matches_python() {
        assert_eq!(normpath("a/b"), "a/b");
        assert_eq!(normpath("a//b"), "a/b");
        assert_eq!(normpath("a/./b"), "a/b");
        assert_eq!(normpath("a/../b"), "b");
        assert_eq!(normpath("../a"), "../a");
        assert_eq!(normpath("/a"), "/a");
        assert_eq!(normpath("a/"), "a");
        assert_eq!(normpath(""), ".");
    }

    #[test]
    fn keys_follow_mlflow_rules() {
        assert!(validate_key("Param key", "lr", "key").is_ok());
        assert!(validate_key("Param key", "a/b c:d-e.f_g", "key").is_ok());
        assert!(validate_key("Param key", "a/../b", "key").is_err());
        assert!(validate_key("Param key", "/abs", "key").is_err());
        assert!(validate_key("Param key", "bad!", "key").is_err());
        let long = "k".repeat(251);
        let e = validate_key("Param key", &long, "key").unwrap_err();
        assert_eq!(
            e.to_string(),
            "'Param key' exceeds the maximum length of 250 characters"
        );
    }

    #[test]
    fn json_strings_render_like_python() {
        assert_eq!(json_str("a\"b"), r#""a\"b""#);
        assert_eq!(json_str("é"), r#""\u00e9""#);
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        let mut s = "é".repeat(10);
        truncate(&mut s, 3);
        assert_eq!(s, "ééé");
    }

    #[test]
    fn run_ids() {
        assert!(validate_run_id("0123abc").is_ok());
        assert!(validate_run_id("_x").is_err());
        assert!(validate_run_id("").is_err());
    }
}
