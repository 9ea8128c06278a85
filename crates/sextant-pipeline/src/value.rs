//! Values as DVC's Python sees them: `str()` of interpolated values, `==` between params, the
//! JSON DVC hashes for the run cache (`json.dumps(sort_keys=True)`), and YAML written the way
//! ruamel.yaml writes `dvc.lock` (block style, sequences flush with their key).

use serde_yaml::{Mapping, Value};
use sextant_data::manifest::push_py_json_str;

/// `repr(float)` in Python 3 (the shortest digits that read back, fixed notation for
/// exponents -4..16, else `1e-05` / `1.5e+16`).
pub fn py_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // Rust's `{:e}` prints the shortest digits that round-trip, like Python's repr.
    let sci = format!("{:e}", x.abs());
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let sign = if x < 0.0 { "-" } else { "" };
    let decpt = exp + 1;
    let n = digits.len() as i32;
    if !(-4 < decpt && decpt <= 16) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}e{esign}{:02}", exp.abs());
    }
    if decpt <= 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-decpt) as usize))
    } else if decpt >= n {
        format!("{sign}{digits}{}.0", "0".repeat((decpt - n) as usize))
    } else {
        let (a, b) = digits.split_at(decpt as usize);
        format!("{sign}{a}.{b}")
    }
}

fn number_repr(n: &serde_yaml::Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        py_float_repr(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// Python's `str()` of a scalar as DVC interpolates it (`true`/`false` for booleans, `None`
/// for null). Mappings and sequences are handled by the caller.
pub fn scalar_to_str(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(b) => if *b { "true" } else { "false" }.into(),
        Value::Number(n) => number_repr(n),
        Value::String(s) => s.clone(),
        Value::Tagged(t) => scalar_to_str(&t.value),
        Value::Sequence(s) => {
            let items: Vec<String> = s.iter().map(py_repr).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Mapping(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: {}", py_repr(k), py_repr(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// Python's `repr()` of a value (for lists and dicts printed with `str()`).
fn py_repr(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        other => scalar_to_str(other),
    }
}

/// The value as a number Python would compare (booleans are 0 and 1).
fn as_num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

/// Python's `==` between two values loaded from YAML/JSON (`1 == 1.0`, `True == 1`, dicts
/// compared without regard to key order).
pub fn py_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Tagged(t), o) | (o, Value::Tagged(t)) => py_eq(&t.value, o),
        (Value::Null, Value::Null) => true,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Sequence(x), Value::Sequence(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q))
        }
        (Value::Mapping(x), Value::Mapping(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    y.iter()
                        .find(|(k2, _)| py_eq(k, k2))
                        .is_some_and(|(_, v2)| py_eq(v, v2))
                })
        }
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(p), Some(q)) => p == q,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(p), Some(q)) => p == q,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        _ => match (as_num(a), as_num(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
    }
}

/// `json.dumps(value, sort_keys=True)` as Python writes it (`", "` and `": "` separators,
/// non-ASCII escaped), for the run cache's sha256 keys.
pub fn py_json(v: &Value) -> String {
    let mut out = String::new();
    write_py_json(&mut out, v);
    out
}

fn write_py_json(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if n.as_i64().is_some() || n.as_u64().is_some() {
                out.push_str(&number_repr(n));
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.is_nan() {
                    out.push_str("NaN");
                } else if f.is_infinite() {
                    out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" });
                } else {
                    out.push_str(&py_float_repr(f));
                }
            }
        }
        Value::String(s) => push_py_json_str(out, s),
        Value::Sequence(s) => {
            out.push('[');
            for (i, item) in s.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_py_json(out, item);
            }
            out.push(']');
        }
        Value::Mapping(m) => {
            let mut items: Vec<(String, &Value)> =
                m.iter().map(|(k, v)| (key_string(k), v)).collect();
            items.sort_by(|a, b| a.0.cmp(&b.0));
            out.push('{');
            for (i, (k, v)) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                push_py_json_str(out, k);
                out.push_str(": ");
                write_py_json(out, v);
            }
            out.push('}');
        }
        Value::Tagged(t) => write_py_json(out, &t.value),
    }
}

/// A mapping key as a string (JSON keys are strings; `true` keys become `"true"`).
pub fn key_string(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "true" } else { "false" }.into(),
        Value::Null => "null".into(),
        other => scalar_to_str(other),
    }
}

/// Remove every mapping key named in `exclude`, at any depth (DVC's `dict_filter`).
pub fn filter_keys(v: &Value, exclude: &[&str]) -> Value {
    match v {
        Value::Mapping(m) => Value::Mapping(
            m.iter()
                .filter(|(k, _)| !k.as_str().is_some_and(|k| exclude.contains(&k)))
                .map(|(k, v)| (k.clone(), filter_keys(v, exclude)))
                .collect(),
        ),
        Value::Sequence(s) => Value::Sequence(s.iter().map(|x| filter_keys(x, exclude)).collect()),
        other => other.clone(),
    }
}

/// A scalar as ruamel.yaml writes it in a block document.
fn yaml_scalar(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => if *b { "true" } else { "false" }.into(),
        Value::Number(n) => {
            if n.as_i64().is_some() || n.as_u64().is_some() {
                number_repr(n)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.is_nan() {
                    ".nan".into()
                } else if f.is_infinite() {
                    if f > 0.0 { ".inf" } else { "-.inf" }.into()
                } else {
                    py_float_repr(f)
                }
            }
        }
        Value::String(s) => sextant_data::pointer::yaml_str(s),
        Value::Sequence(s) if s.is_empty() => "[]".into(),
        Value::Mapping(m) if m.is_empty() => "{}".into(),
        Value::Tagged(t) => yaml_scalar(&t.value),
        // Non-empty containers are written in block style by the callers.
        Value::Sequence(_) | Value::Mapping(_) => String::new(),
    }
}

fn is_block(v: &Value) -> bool {
    match v {
        Value::Sequence(s) => !s.is_empty(),
        Value::Mapping(m) => !m.is_empty(),
        _ => false,
    }
}

/// A YAML document for `map`, written as DVC (ruamel.yaml, `default_flow_style=False`) writes
/// `dvc.lock` and run-cache entries.
pub fn to_yaml(map: &Mapping) -> String {
    let mut out = String::new();
    emit_map(&mut out, map, 0, false);
    out
}

fn emit_map(out: &mut String, m: &Mapping, indent: usize, mut inline: bool) {
    for (k, v) in m {
        if !inline {
            out.push_str(&" ".repeat(indent));
        }
        inline = false;
        out.push_str(&yaml_scalar(&Value::String(key_string(k))));
        out.push(':');
        match v {
            Value::Mapping(inner) if is_block(v) => {
                out.push('\n');
                emit_map(out, inner, indent + 2, false);
            }
            Value::Sequence(inner) if is_block(v) => {
                out.push('\n');
                emit_seq(out, inner, indent, false);
            }
            Value::Null => out.push('\n'),
            Value::String(text) => {
                let col = line_len(out);
                write_folded(out, text, col, indent + 2);
                out.push('\n');
            }
            other => {
                out.push(' ');
                out.push_str(&yaml_scalar(other));
                out.push('\n');
            }
        }
    }
}

/// ruamel.yaml's line width.
const BEST_WIDTH: usize = 80;

/// Characters on the last line of `out`.
fn line_len(out: &str) -> usize {
    out.rsplit('\n').next().map_or(0, |l| l.chars().count())
}

fn newline_indent(out: &mut String, column: &mut usize, indent: usize) {
    out.push('\n');
    out.push_str(&" ".repeat(indent));
    *column = indent;
}

/// A mapping value, folded at spaces past column 80 exactly as ruamel.yaml's emitter folds
/// plain and single-quoted scalars (`write_plain`, `write_single_quoted`); `col` is the column
/// just after `key:`, `indent` that of continuation lines.
fn write_folded(out: &mut String, text: &str, col: usize, indent: usize) {
    let styled = sextant_data::pointer::yaml_str(text);
    let ch: Vec<char> = text.chars().collect();
    let push = |out: &mut String, part: &[char]| out.extend(part.iter());
    if styled == text {
        out.push(' ');
        let mut column = col + 1;
        let (mut spaces, mut start, mut end) = (false, 0usize, 0usize);
        while end <= ch.len() {
            let c = ch.get(end).copied();
            if spaces {
                if c != Some(' ') {
                    if start + 1 == end && column >= BEST_WIDTH {
                        newline_indent(out, &mut column, indent);
                    } else {
                        push(out, &ch[start..end]);
                        column += end - start;
                    }
                    start = end;
                }
            } else if c.is_none() || c == Some(' ') {
                let len = end - start;
                if len + column > BEST_WIDTH && column > indent {
                    newline_indent(out, &mut column, indent);
                }
                push(out, &ch[start..end]);
                column += len;
                start = end;
            }
            if let Some(c) = c {
                spaces = c == ' ';
            }
            end += 1;
        }
    } else if styled.starts_with('\'') {
        out.push_str(" '");
        let mut column = col + 2;
        let (mut spaces, mut start, mut end) = (false, 0usize, 0usize);
        while end <= ch.len() {
            let c = ch.get(end).copied();
            if spaces {
                if c != Some(' ') {
                    if start + 1 == end && column > BEST_WIDTH && start != 0 && end != ch.len() {
                        newline_indent(out, &mut column, indent);
                    } else {
                        push(out, &ch[start..end]);
                        column += end - start;
                    }
                    start = end;
                }
            } else if (c.is_none() || c == Some(' ') || c == Some('\'')) && start < end {
                push(out, &ch[start..end]);
                column += end - start;
                start = end;
            }
            if c == Some('\'') {
                out.push_str("''");
                column += 2;
                start = end + 1;
            }
            if let Some(c) = c {
                spaces = c == ' ';
            }
            end += 1;
        }
        out.push('\'');
    } else {
        out.push(' ');
        out.push_str(&styled);
    }
}

fn emit_seq(out: &mut String, s: &[Value], indent: usize, mut inline: bool) {
    for item in s {
        if !inline {
            out.push_str(&" ".repeat(indent));
        }
        inline = false;
        match item {
            Value::Mapping(inner) if is_block(item) => {
                out.push_str("- ");
                emit_map(out, inner, indent + 2, true);
            }
            Value::Sequence(inner) if is_block(item) => {
                out.push_str("- ");
                emit_seq(out, inner, indent + 2, true);
            }
            Value::Null => out.push_str("-\n"),
            other => {
                out.push_str("- ");
                out.push_str(&yaml_scalar(other));
                out.push('\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_python() {
        // repr() in CPython 3.11 for each.
        let cases = [
            (0.1, "0.1"),
            (1.0, "1.0"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123.456, "123.456"),
            (-2.5e-7, "-2.5e-07"),
            (1.5e300, "1.5e+300"),
            (100.0, "100.0"),
            (0.30000000000000004, "0.30000000000000004"),
        ];
        for (x, want) in cases {
            assert_eq!(py_float_repr(x), want, "{x}");
        }
    }

    #[test]
    fn python_equality_and_json() {
        let v: Value = serde_yaml::from_str("{b: [1, 2.5, true], a: é, c: null}").unwrap();
        assert_eq!(
            py_json(&v),
            r#"{"a": "\u00e9", "b": [1, 2.5, true], "c": null}"#
        );
        let one: Value = serde_yaml::from_str("1").unwrap();
        let one_f: Value = serde_yaml::from_str("1.0").unwrap();
        assert!(py_eq(&one, &one_f));
        assert!(py_eq(&one, &Value::Bool(true)));
        let m1: Value = serde_yaml::from_str("{a: 1, b: 2}").unwrap();
        let m2: Value = serde_yaml::from_str("{b: 2, a: 1}").unwrap();
        assert!(py_eq(&m1, &m2));
        assert!(!py_eq(&m1, &one));
    }

    #[test]
    fn long_values_fold_like_ruamel() {
        // What DVC 3.67 (ruamel.yaml 0.19) wrote.
        let mut m = Mapping::new();
        let mut inner = Mapping::new();
        inner.insert(
            "cmd".into(),
            "echo prepare tanker >> ../ran.log && mkdir -p prep && cat raw/tanker.csv > prep/tanker.txt".into(),
        );
        let mut stages = Mapping::new();
        stages.insert("prepare@tanker".into(), Value::Mapping(inner));
        m.insert("stages".into(), Value::Mapping(stages));
        assert_eq!(
            to_yaml(&m),
            "stages:\n  prepare@tanker:\n    cmd: echo prepare tanker >> ../ran.log && mkdir -p prep && cat \n      raw/tanker.csv > prep/tanker.txt\n"
        );
        let long = "x ".repeat(60) + "'q' : end";
        let mut q = Mapping::new();
        q.insert("k".into(), Value::String(long.clone()));
        let text = to_yaml(&q);
        assert!(text.lines().count() > 1, "{text}");
        let back: Mapping = serde_yaml::from_str(&text).unwrap();
        assert_eq!(back.get("k").and_then(Value::as_str), Some(long.as_str()));
    }

    #[test]
    fn yaml_like_ruamel() {
        let v: Value = serde_yaml::from_str(
            "schema: '2.0'\nstages:\n  s:\n    cmd: [a, b]\n    deps:\n    - path: x\n      md5: '1'\n    params:\n      params.yaml:\n        lr: 0.001\n        n:\n",
        )
        .unwrap();
        let text = to_yaml(v.as_mapping().unwrap());
        assert_eq!(
            text,
            "schema: '2.0'\nstages:\n  s:\n    cmd:\n    - a\n    - b\n    deps:\n    - path: x\n      md5: '1'\n    params:\n      params.yaml:\n        lr: 0.001\n        n:\n"
        );
        let back: Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(back, v);
    }
}
