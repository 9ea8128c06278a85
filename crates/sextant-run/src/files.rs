//! Params and metrics read from the files a command is given or writes: YAML, JSON, TOML, CSV
//! and JSON lines, parsed into one tree and flattened with dotted keys.
//!
//! Everything here is pure (text in, values out) so it can be property-tested and fuzzed.

use std::path::Path;

use sextant_client::{Metric, WireF64};

use crate::keys;

/// A file format, told from the file name's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    JsonLines,
    Yaml,
    Toml,
    Csv,
}

impl Format {
    /// The format of `path` from its extension (case-insensitive), if it is one we read.
    pub fn of(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "json" => Self::Json,
            "jsonl" | "ndjson" => Self::JsonLines,
            "yaml" | "yml" => Self::Yaml,
            "toml" => Self::Toml,
            "csv" => Self::Csv,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Json => "JSON",
            Self::JsonLines => "JSON lines",
            Self::Yaml => "YAML",
            Self::Toml => "TOML",
            Self::Csv => "CSV",
        }
    }
}

/// A parsed document, whatever the format: maps keep their order, numbers keep their text.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    /// A number: its value and the text it is shown as (`1e-3` stays `0.001`, `3` stays `3`).
    Number(f64, String),
    Str(String),
    List(Vec<Node>),
    Map(Vec<(String, Node)>),
}

/// A float as Python's `str()` shows it where that is unambiguous (`1.0`, `0.25`), so a value
/// logged from YAML reads the same as one logged by `mlflow.log_param`.
fn float_text(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e16 {
        format!("{v:.1}")
    } else {
        v.to_string()
    }
}

impl From<serde_json::Value> for Node {
    fn from(v: serde_json::Value) -> Self {
        use serde_json::Value as J;
        match v {
            J::Null => Self::Null,
            J::Bool(b) => Self::Bool(b),
            J::Number(n) => Self::Number(n.as_f64().unwrap_or(f64::NAN), n.to_string()),
            J::String(s) => Self::Str(s),
            J::Array(a) => Self::List(a.into_iter().map(Self::from).collect()),
            J::Object(o) => Self::Map(o.into_iter().map(|(k, v)| (k, Self::from(v))).collect()),
        }
    }
}

fn yaml_key(k: &serde_yaml::Value) -> String {
    use serde_yaml::Value as Y;
    match k {
        Y::Null => "null".into(),
        Y::Bool(b) => b.to_string(),
        Y::Number(n) => n.to_string(),
        Y::String(s) => s.clone(),
        Y::Tagged(t) => yaml_key(&t.value),
        other => serde_json::to_string(&Node::from(other.clone()).to_json()).unwrap_or_default(),
    }
}

impl From<serde_yaml::Value> for Node {
    fn from(v: serde_yaml::Value) -> Self {
        use serde_yaml::Value as Y;
        match v {
            Y::Null => Self::Null,
            Y::Bool(b) => Self::Bool(b),
            Y::Number(n) => {
                let f = n.as_f64().unwrap_or(f64::NAN);
                let text = if n.is_f64() {
                    float_text(f)
                } else {
                    n.to_string()
                };
                Self::Number(f, text)
            }
            Y::String(s) => Self::Str(s),
            Y::Sequence(a) => Self::List(a.into_iter().map(Self::from).collect()),
            Y::Mapping(m) => Self::Map(
                m.into_iter()
                    .map(|(k, v)| (yaml_key(&k), Self::from(v)))
                    .collect(),
            ),
            Y::Tagged(t) => Self::from(t.value),
        }
    }
}

impl From<toml::Value> for Node {
    fn from(v: toml::Value) -> Self {
        use toml::Value as T;
        match v {
            T::String(s) => Self::Str(s),
            #[expect(
                clippy::cast_precision_loss,
                reason = "a number used as a metric is a double anyway"
            )]
            T::Integer(i) => Self::Number(i as f64, i.to_string()),
            T::Float(f) => Self::Number(f, float_text(f)),
            T::Boolean(b) => Self::Bool(b),
            T::Datetime(d) => Self::Str(d.to_string()),
            T::Array(a) => Self::List(a.into_iter().map(Self::from).collect()),
            T::Table(t) => Self::Map(t.into_iter().map(|(k, v)| (k, Self::from(v))).collect()),
        }
    }
}

impl Node {
    /// The node as JSON (lists kept whole in a param are shown as JSON text).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Self::Null => J::Null,
            Self::Bool(b) => J::Bool(*b),
            Self::Number(f, text) => serde_json::from_str::<serde_json::Number>(text)
                .map(J::Number)
                .or_else(|_| serde_json::Number::from_f64(*f).map(J::Number).ok_or(()))
                .unwrap_or_else(|()| J::String(text.clone())),
            Self::Str(s) => J::String(s.clone()),
            Self::List(a) => J::Array(a.iter().map(Self::to_json).collect()),
            Self::Map(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
        }
    }

    /// A scalar as a param value; lists and maps as compact JSON.
    fn param_text(&self) -> String {
        match self {
            Self::Null => "null".into(),
            Self::Bool(b) => b.to_string(),
            Self::Number(_, text) => text.clone(),
            Self::Str(s) => s.clone(),
            Self::List(_) | Self::Map(_) => self.to_json().to_string(),
        }
    }

    /// The number this node holds, if it is one (YAML's `.nan`/`.inf` included; strings and
    /// booleans are not numbers).
    fn number(&self) -> Option<f64> {
        match self {
            Self::Number(f, _) => Some(*f),
            _ => None,
        }
    }
}

/// Parse a whole document (not JSON lines or CSV, which are tables, not trees).
pub fn parse_tree(text: &str, format: Format) -> Result<Node, String> {
    match format {
        Format::Json => serde_json::from_str::<serde_json::Value>(text)
            .map(Node::from)
            .map_err(|e| e.to_string()),
        Format::Yaml => {
            if text.trim().is_empty() {
                return Ok(Node::Map(Vec::new()));
            }
            serde_yaml::from_str::<serde_yaml::Value>(text)
                .map(Node::from)
                .map_err(|e| e.to_string())
        }
        Format::Toml => toml::from_str::<toml::Table>(text)
            .map(|t| Node::from(toml::Value::Table(t)))
            .map_err(|e| e.to_string().trim().to_owned()),
        Format::JsonLines | Format::Csv => {
            Err(format!("{} is a table, not a document", format.name()))
        }
    }
}

/// Flatten a params document: nested maps become dotted keys (`model.lr`), scalars their text,
/// lists are kept whole as JSON text (`[64,32]`). An empty map yields nothing.
pub fn flatten_params(node: &Node) -> Vec<(String, String)> {
    fn walk(prefix: &str, node: &Node, out: &mut Vec<(String, String)>) {
        match node {
            Node::Map(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            other => out.push((prefix.to_owned(), other.param_text())),
        }
    }
    let mut out = Vec::new();
    // A document that is a bare scalar or list has no keys to log.
    if let Node::Map(_) = node {
        walk("", node, &mut out);
    }
    out
}

/// Parse a params file's text.
pub fn parse_params(text: &str, format: Format) -> Result<Vec<(String, String)>, String> {
    let tree = parse_tree(text, format)?;
    if !matches!(tree, Node::Map(_)) {
        return Err("a params file must be a mapping of names to values at the top level".into());
    }
    Ok(flatten_params(&tree))
}

/// Metrics read from a file, and what was skipped (for a warning naming it).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Points {
    pub metrics: Vec<Metric>,
    pub skipped: Vec<String>,
}

fn point(key: String, value: f64, step: i64, timestamp: i64) -> Metric {
    Metric {
        key,
        value: WireF64(value),
        timestamp,
        step,
        dataset_name: None,
        dataset_digest: None,
        model_id: None,
        run_id: None,
    }
}

/// An integer step or timestamp from a node (a whole float like `3.0` counts).
fn integer(node: &Node) -> Option<i64> {
    let f = node.number()?;
    #[expect(
        clippy::cast_possible_truncation,
        reason = "checked to be a whole number in range first"
    )]
    (f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
}

/// One record (`{"step": 3, "loss": 0.2, "val": {"acc": 0.9}}`): nested numbers become dotted
/// metric keys; `step` and `timestamp` (ms) are taken out; anything not a number is skipped.
pub fn record_points(
    node: &Node,
    default_step: i64,
    now_ms: i64,
    out: &mut Points,
    where_: &str,
) -> Result<(), String> {
    let Node::Map(fields) = node else {
        return Err(format!(
            "{where_}: expected an object like {{\"step\": 1, \"loss\": 0.5}}"
        ));
    };
    let mut step = default_step;
    let mut ts = now_ms;
    for (k, v) in fields {
        match k.as_str() {
            "step" => {
                step = integer(v).ok_or_else(|| format!("{where_}: step must be an integer"))?;
            }
            "timestamp" => {
                ts = integer(v)
                    .ok_or_else(|| format!("{where_}: timestamp must be integer milliseconds"))?;
            }
            _ => {}
        }
    }
    fn walk(prefix: &str, node: &Node, step: i64, ts: i64, out: &mut Points) {
        match node {
            Node::Map(m) => {
                for (k, v) in m {
                    if prefix.is_empty() && (k == "step" || k == "timestamp") {
                        continue;
                    }
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, step, ts, out);
                }
            }
            Node::Number(f, _) => match keys::check(prefix) {
                Ok(()) => out.metrics.push(point(prefix.to_owned(), *f, step, ts)),
                Err(reason) => out.skipped.push(format!("'{prefix}' ({reason})")),
            },
            _ => out.skipped.push(format!("'{prefix}' (not a number)")),
        }
    }
    walk("", node, step, ts, out);
    Ok(())
}

/// A metrics document (JSON or YAML): a mapping is one record (step 0 unless it says), a list
/// is one record per element (step = its index unless it says).
pub fn parse_metrics_tree(node: &Node, now_ms: i64) -> Result<Points, String> {
    let mut out = Points::default();
    match node {
        Node::Map(_) => record_points(node, 0, now_ms, &mut out, "the document")?,
        Node::List(items) => {
            for (i, item) in items.iter().enumerate() {
                let step = i64::try_from(i).unwrap_or(i64::MAX);
                record_points(item, step, now_ms, &mut out, &format!("element {i}"))?;
            }
        }
        _ => return Err("expected a mapping of metric names to numbers, or a list of them".into()),
    }
    Ok(out)
}

/// A JSON-lines document: one record per non-empty line, step = the record's index unless it
/// says. A last line without its newline that is not valid JSON is skipped (it was being
/// written).
pub fn parse_json_lines(text: &str, now_ms: i64) -> Result<Points, String> {
    let mut out = Points::default();
    let mut index = 0i64;
    let lines: Vec<&str> = text.split('\n').collect();
    let last = lines.len().saturating_sub(1);
    for (n, line) in lines.iter().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let node = match serde_json::from_str::<serde_json::Value>(line) {
            Ok(v) => Node::from(v),
            Err(_) if n == last && !text.ends_with('\n') => break,
            Err(e) => return Err(format!("line {}: {e}", n + 1)),
        };
        record_points(&node, index, now_ms, &mut out, &format!("line {}", n + 1))?;
        index += 1;
    }
    Ok(out)
}

/// A CSV table with a header. Long form when the header has `key` and `value` columns (one
/// point per row, optional `step` and `timestamp`); otherwise wide form: every column but `step`
/// and `timestamp` is a metric, one point per row (step = the row's index unless a `step`
/// column says). Empty cells are skipped; cells that are not numbers are skipped and reported.
pub fn parse_csv(text: &str, now_ms: i64) -> Result<Points, String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| e.to_string())?
        .iter()
        .map(str::to_owned)
        .collect();
    let col = |name: &str| header.iter().position(|h| h == name);
    let (step_col, ts_col) = (col("step"), col("timestamp"));
    let long = col("key").zip(col("value"));
    let mut out = Points::default();
    for (row, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| e.to_string())?;
        let line = row + 2;
        let int_cell = |c: Option<usize>, what: &str| -> Result<Option<i64>, String> {
            match c.and_then(|c| rec.get(c)).filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(s) => integer(&Node::Number(
                    s.parse::<f64>().unwrap_or(f64::NAN),
                    s.into(),
                ))
                .map(Some)
                .ok_or_else(|| format!("line {line}: {what} '{s}' is not an integer")),
            }
        };
        let step =
            int_cell(step_col, "step")?.unwrap_or_else(|| i64::try_from(row).unwrap_or(i64::MAX));
        let ts = int_cell(ts_col, "timestamp")?.unwrap_or(now_ms);
        let mut push = |key: &str, cell: &str| {
            if cell.is_empty() {
                return;
            }
            match (cell.parse::<f64>(), keys::check(key)) {
                (Ok(v), Ok(())) => out.metrics.push(point(key.to_owned(), v, step, ts)),
                (Err(_), _) => out
                    .skipped
                    .push(format!("'{key}' on line {line} ('{cell}' is not a number)")),
                (_, Err(reason)) => out.skipped.push(format!("'{key}' ({reason})")),
            }
        };
        if let Some((k, v)) = long {
            let key = rec.get(k).unwrap_or("");
            if key.is_empty() {
                continue;
            }
            push(key, rec.get(v).unwrap_or(""));
        } else {
            for (i, name) in header.iter().enumerate() {
                if Some(i) == step_col || Some(i) == ts_col {
                    continue;
                }
                push(name, rec.get(i).unwrap_or(""));
            }
        }
    }
    Ok(out)
}

/// Parse a metrics file's text in `format`.
pub fn parse_metrics(text: &str, format: Format, now_ms: i64) -> Result<Points, String> {
    match format {
        Format::Csv => parse_csv(text, now_ms),
        Format::JsonLines => parse_json_lines(text, now_ms),
        Format::Json | Format::Yaml | Format::Toml => {
            parse_metrics_tree(&parse_tree(text, format)?, now_ms)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
    }

    #[test]
    fn params_flatten_the_same_from_every_format() {
        let yaml = "model:\n  lr: 0.01\n  layers: [64, 32]\n  name: resnet\nepochs: 10\nuse_gpu: true\nseed: ~\n";
        let json = r#"{"model": {"lr": 0.01, "layers": [64, 32], "name": "resnet"}, "epochs": 10, "use_gpu": true, "seed": null}"#;
        let toml = "epochs = 10\nuse_gpu = true\n[model]\nlr = 0.01\nlayers = [64, 32]\nname = \"resnet\"\n";
        let want = kv(&[
            ("model.lr", "0.01"),
            ("model.layers", "[64,32]"),
            ("model.name", "resnet"),
            ("epochs", "10"),
            ("use_gpu", "true"),
            ("seed", "null"),
        ]);
        let mut y = parse_params(yaml, Format::Yaml).unwrap();
        let mut j = parse_params(json, Format::Json).unwrap();
        y.sort();
        j.sort();
        let mut w = want.clone();
        w.sort();
        assert_eq!(y, w);
        assert_eq!(j, w);
        let mut t = parse_params(toml, Format::Toml).unwrap();
        t.sort();
        let mut w_toml = w.clone();
        w_toml.retain(|(k, _)| k != "seed"); // TOML has no null
        assert_eq!(t, w_toml);
    }

    #[test]
    fn whole_floats_read_as_python_shows_them() {
        assert_eq!(
            parse_params("a: 1.0\nb: 2\nc: 1.0e-3\n", Format::Yaml).unwrap(),
            kv(&[("a", "1.0"), ("b", "2"), ("c", "0.001")])
        );
    }

    #[test]
    fn bad_params_files_say_where() {
        assert!(parse_params("a: [1, 2", Format::Yaml).is_err());
        assert!(
            parse_params("[1, 2]", Format::Json)
                .unwrap_err()
                .contains("mapping")
        );
        assert!(parse_params("a = ", Format::Toml).is_err());
        assert_eq!(parse_params("", Format::Yaml).unwrap(), vec![]);
    }

    #[test]
    fn metrics_documents_and_records() {
        let p = parse_metrics(
            "accuracy: 0.9\nval:\n  loss: 0.25\nnote: hello\n",
            Format::Yaml,
            7,
        )
        .unwrap();
        let got: Vec<_> = p
            .metrics
            .iter()
            .map(|m| (m.key.as_str(), m.value.0, m.step, m.timestamp))
            .collect();
        assert_eq!(got, vec![("accuracy", 0.9, 0, 7), ("val.loss", 0.25, 0, 7)]);
        assert_eq!(p.skipped, vec!["'note' (not a number)".to_owned()]);

        let p = parse_metrics(
            r#"[{"loss": 1.5}, {"loss": 0.5, "step": 10, "timestamp": 99}]"#,
            Format::Json,
            7,
        )
        .unwrap();
        let got: Vec<_> = p
            .metrics
            .iter()
            .map(|m| (m.value.0, m.step, m.timestamp))
            .collect();
        assert_eq!(got, vec![(1.5, 0, 7), (0.5, 10, 99)]);
        assert!(parse_metrics(r#"{"loss": 1, "step": 1.5}"#, Format::Json, 0).is_err());
    }

    #[test]
    fn json_lines_tolerate_a_half_written_last_line() {
        let p = parse_json_lines(
            "{\"step\": 1, \"loss\": 0.5}\n\n{\"loss\": 0.4}\n{\"loss\": 0.",
            0,
        )
        .unwrap();
        let got: Vec<_> = p.metrics.iter().map(|m| (m.value.0, m.step)).collect();
        assert_eq!(got, vec![(0.5, 1), (0.4, 1)]);
        assert!(
            parse_json_lines("{\"loss\": 0.\n{\"loss\": 1}\n", 0)
                .unwrap_err()
                .contains("line 1")
        );
    }

    #[test]
    fn csv_wide_and_long() {
        let p = parse_csv("step,loss,acc,name\n1,0.5,0.8,a\n2,0.25,,b\n", 0).unwrap();
        let got: Vec<_> = p
            .metrics
            .iter()
            .map(|m| (m.key.as_str(), m.value.0, m.step))
            .collect();
        assert_eq!(
            got,
            vec![("loss", 0.5, 1), ("acc", 0.8, 1), ("loss", 0.25, 2)]
        );
        assert_eq!(p.skipped.len(), 2);
        let p = parse_csv("key,value,step\nrmse,1.5,3\nmae,0.5,\n", 0).unwrap();
        let got: Vec<_> = p
            .metrics
            .iter()
            .map(|m| (m.key.as_str(), m.value.0, m.step))
            .collect();
        assert_eq!(got, vec![("rmse", 1.5, 3), ("mae", 0.5, 1)]);
        assert!(
            parse_csv("step,loss\nx,1\n", 0)
                .unwrap_err()
                .contains("line 2")
        );
    }

    #[test]
    fn formats_come_from_extensions() {
        assert_eq!(Format::of(Path::new("p.YML")), Some(Format::Yaml));
        assert_eq!(Format::of(Path::new("m.jsonl")), Some(Format::JsonLines));
        assert_eq!(Format::of(Path::new("params")), None);
        assert_eq!(Format::of(Path::new("x.ini")), None);
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        fn leaf() -> impl Strategy<Value = serde_json::Value> {
            prop_oneof![
                any::<bool>().prop_map(serde_json::Value::Bool),
                any::<i32>().prop_map(|i| serde_json::json!(i)),
                "[a-z0-9 ]{0,8}".prop_map(serde_json::Value::String),
            ]
        }

        fn tree() -> impl Strategy<Value = serde_json::Value> {
            leaf().prop_recursive(3, 24, 4, |inner| {
                prop::collection::btree_map("[a-z]{1,4}", inner, 1..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect()))
            })
        }

        proptest! {
            #[test]
            fn parsers_never_panic(s in "\\PC{0,200}") {
                for f in [Format::Json, Format::Yaml, Format::Toml, Format::Csv, Format::JsonLines] {
                    let _ = parse_metrics(&s, f, 0);
                    let _ = parse_params(&s, f);
                }
            }

            #[test]
            fn json_and_yaml_params_agree(m in prop::collection::btree_map("[a-z]{1,4}", tree(), 1..5)) {
                let doc = serde_json::Value::Object(m.clone().into_iter().collect());
                let json = parse_params(&doc.to_string(), Format::Json).unwrap();
                let yaml = parse_params(&serde_yaml::to_string(&doc).unwrap(), Format::Yaml).unwrap();
                prop_assert_eq!(&json, &yaml);
                // Every flattened key leads back to its leaf in the document.
                for (k, v) in &json {
                    let mut node = &doc;
                    for part in k.split('.') {
                        node = &node[part];
                    }
                    let text = match node { serde_json::Value::String(s) => s.clone(), other => other.to_string() };
                    prop_assert_eq!(&text, v);
                }
            }

            #[test]
            fn json_lines_keep_every_complete_line(vals in prop::collection::vec(-1e6f64..1e6, 0..20), cut in 0usize..30) {
                let text: String = vals.iter().enumerate().map(|(i, v)| format!("{{\"step\": {i}, \"x\": {v}}}\n")).collect();
                let all = parse_json_lines(&text, 0).unwrap();
                prop_assert_eq!(all.metrics.len(), vals.len());
                // Cutting the text anywhere keeps every line before the cut.
                let cut = text.len().saturating_sub(cut);
                let part = parse_json_lines(&text[..cut], 0).unwrap();
                let complete = text[..cut].matches('\n').count();
                prop_assert!(part.metrics.len() >= complete && part.metrics.len() <= complete + 1);
                for (a, b) in part.metrics.iter().zip(&all.metrics) {
                    prop_assert_eq!(a.step, b.step);
                }
            }
        }
    }
}
