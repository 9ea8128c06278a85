//! Params files (`params.yaml` and friends: YAML, JSON, TOML) read as DVC reads them: the
//! whole file, or dotted keys (`train.lr`) looked up through mappings and list indices.

use std::path::Path;

use serde_yaml::{Mapping, Value};

use crate::error::{Error, IoContext, Result};

/// Load a params or vars file as a YAML value (JSON and TOML converted).
pub fn load_file(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).ctx("read", path)?;
    parse(&text, path)
}

/// Parse the text of a params file named `path` (its extension picks the format).
pub fn parse(text: &str, path: &Path) -> Result<Value> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let err = |message: String| Error::Syntax {
        path: path.to_path_buf(),
        message,
    };
    let v = match ext.as_str() {
        "json" => {
            let j: serde_json::Value =
                serde_json::from_str(text).map_err(|e| err(format!("not valid JSON: {e}")))?;
            serde_yaml::to_value(j).map_err(|e| err(e.to_string()))?
        }
        "toml" => {
            let t: toml::Value =
                toml::from_str(text).map_err(|e| err(format!("not valid TOML: {e}")))?;
            serde_yaml::to_value(t).map_err(|e| err(e.to_string()))?
        }
        "py" => {
            return Err(err(
                "Python params files are not supported; use YAML, JSON or TOML".into(),
            ));
        }
        _ => {
            let v: Value =
                serde_yaml::from_str(text).map_err(|e| err(format!("not valid YAML: {e}")))?;
            // An empty file is an empty mapping, as ruamel's `load(text) or {}`.
            if v.is_null() {
                Value::Mapping(Mapping::new())
            } else {
                v
            }
        }
    };
    Ok(v)
}

/// The value at a dotted key (`train.lr`, `layers.0`), as `dpath.get(..., separator=".")`.
pub fn lookup<'a>(root: &'a Value, key: &str) -> Option<&'a Value> {
    let mut cur = root;
    for part in key.split('.') {
        cur = match cur {
            Value::Mapping(m) => m.get(part).or_else(|| {
                m.iter()
                    .find(|(k, _)| crate::value::key_string(k) == part)
                    .map(|(_, v)| v)
            })?,
            Value::Sequence(s) => s.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// The values a params dependency records: every key of `keys` that exists (in the order
/// given), or the whole file's top level when `keys` is `None`.
pub fn values(file: &Value, keys: Option<&[String]>) -> Mapping {
    let mut out = Mapping::new();
    match keys {
        None => {
            if let Value::Mapping(m) = file {
                out = m.clone();
            }
        }
        Some(keys) => {
            for k in keys {
                if let Some(v) = lookup(file, k) {
                    out.insert(Value::String(k.clone()), v.clone());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_lookup_through_maps_and_lists() {
        let v = parse(
            "train:\n  lr: 0.1\n  layers: [4, 8]\nname: x\n",
            Path::new("params.yaml"),
        )
        .unwrap();
        assert_eq!(lookup(&v, "train.lr").and_then(Value::as_f64), Some(0.1));
        assert_eq!(
            lookup(&v, "train.layers.1").and_then(Value::as_u64),
            Some(8)
        );
        assert!(lookup(&v, "train.nope").is_none());
        let got = values(
            &v,
            Some(
                &[
                    "name".to_string(),
                    "missing".to_string(),
                    "train".to_string(),
                ][..],
            ),
        );
        assert_eq!(got.len(), 2);
        assert_eq!(values(&v, None).len(), 2);
        let j = parse(r#"{"a": {"b": 2}}"#, Path::new("p.json")).unwrap();
        assert_eq!(lookup(&j, "a.b").and_then(Value::as_u64), Some(2));
        let t = parse("[a]\nb = 3\n", Path::new("p.toml")).unwrap();
        assert_eq!(lookup(&t, "a.b").and_then(Value::as_u64), Some(3));
        assert!(parse("", Path::new("e.yaml")).unwrap().is_mapping());
    }
}
