//! `${}` interpolation as DVC does it (`dvc/parsing/interpolate.py`, `context.py`):
//!
//! - a match is `${` (not preceded by `\`) up to the first `}` on the same line;
//! - the expression is `name(.attr | [index])*`, normalised to dots (`a[0].b` -> `a.0.b`);
//! - a string that is exactly one `${...}` takes the referenced value itself (a number stays a
//!   number, a list stays a list where lists are allowed); otherwise every match is replaced by
//!   the value's `str()` (booleans as `true`/`false`, a mapping in `cmd` as `--key value`
//!   arguments), and `\${` becomes `${`.

use serde_yaml::{Mapping, Value};

use crate::value::{key_string, scalar_to_str};

/// One `${...}` in a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// Byte offset of `$`.
    pub start: usize,
    /// Byte offset just past `}`.
    pub end: usize,
    /// The text between the braces.
    pub inner: String,
}

/// Every `${...}` in `s`, left to right.
pub fn find_matches(s: &str) -> Vec<Match> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == b'$' && b[i + 1] == b'{' && (i == 0 || b[i - 1] != b'\\') {
            // The regex's `.*?` stops at a newline.
            let rest = &s[i + 2..];
            let close = rest.find('}');
            let newline = rest.find('\n');
            if let Some(c) = close
                && newline.is_none_or(|n| n > c)
            {
                out.push(Match {
                    start: i,
                    end: i + 2 + c + 1,
                    inner: rest[..c].to_string(),
                });
                i = i + 2 + c + 1;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// The string holds at least one `${...}`.
pub fn is_interpolated(s: &str) -> bool {
    !find_matches(s).is_empty()
}

/// Parse an expression (`model.lr`, `item[0]`, `a.b[c].d`) into its dotted form, or say what
/// is wrong with it.
pub fn parse_expr(inner: &str) -> Result<String, String> {
    let mut parts: Vec<&str> = Vec::new();
    let b = inner.as_bytes();
    let word_end = |from: usize| {
        let mut j = from;
        while j < b.len() && !matches!(b[j], b'.' | b'[' | b']') {
            j += 1;
        }
        j
    };
    let mut i = word_end(0);
    if i == 0 {
        return Err(format!(
            "${{{inner}}}: expected a name at position 0 of '{inner}'"
        ));
    }
    parts.push(&inner[..i]);
    while i < b.len() {
        match b[i] {
            b'.' => {
                let j = word_end(i + 1);
                if j == i + 1 {
                    return Err(format!(
                        "${{{inner}}}: expected a name after '.' at position {}",
                        i + 1
                    ));
                }
                parts.push(&inner[i + 1..j]);
                i = j;
            }
            b'[' => {
                let j = word_end(i + 1);
                if j == i + 1 || j >= b.len() || b[j] != b']' {
                    return Err(format!(
                        "${{{inner}}}: expected an index and ']' after '[' at position {}",
                        i + 1
                    ));
                }
                parts.push(&inner[i + 1..j]);
                i = j + 1;
            }
            _ => {
                return Err(format!("${{{inner}}}: unexpected ']' at position {i}"));
            }
        }
    }
    Ok(parts.join("."))
}

/// Check every expression of `s` for syntax errors.
pub fn check_syntax(s: &str) -> Result<(), String> {
    for m in find_matches(s) {
        parse_expr(&m.inner)?;
    }
    Ok(())
}

/// Why a value could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpError {
    /// A syntax error in an expression.
    Parse(String),
    /// The referenced name is not defined.
    NotFound { expr: String, detail: String },
    /// The value is a list or mapping where only a scalar may go.
    Type { expr: String, kind: &'static str },
}

impl std::fmt::Display for InterpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InterpError::Parse(m) => f.write_str(m),
            InterpError::NotFound { expr, detail } => {
                write!(f, "could not find '{expr}' (in ${{{expr}}}): {detail}")
            }
            InterpError::Type { expr, kind } => {
                write!(f, "cannot interpolate data of type '{kind}' (${{{expr}}})")
            }
        }
    }
}

/// The variables visible to a stage: `params.yaml`, `vars`, and `item`/`key` in `foreach` and
/// `matrix`.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Top-level names.
    pub data: Mapping,
}

impl Context {
    /// Look up a dotted key (`model.lr`, `item.0`).
    pub fn select(&self, key: &str) -> Result<&Value, InterpError> {
        let normalized = key.replace('[', ".").replace(']', "");
        let mut parts = normalized.split('.');
        let first = parts.next().unwrap_or("").trim();
        let mut cur = self.data.get(first).ok_or_else(|| InterpError::NotFound {
            expr: key.to_string(),
            detail: format!("no variable '{first}'"),
        })?;
        let mut walked = first.to_string();
        for part in parts {
            let part = part.trim();
            let next = match cur {
                Value::Mapping(m) => m.get(part).or_else(|| {
                    m.iter()
                        .find(|(k, _)| key_string(k) == part)
                        .map(|(_, v)| v)
                }),
                Value::Sequence(s) => part.parse::<i64>().ok().and_then(|i| {
                    let idx = if i < 0 { s.len() as i64 + i } else { i };
                    usize::try_from(idx).ok().and_then(|i| s.get(i))
                }),
                _ => {
                    return Err(InterpError::NotFound {
                        expr: key.to_string(),
                        detail: format!("'{walked}' is a primitive value, it has no '{part}'"),
                    });
                }
            };
            cur = next.ok_or_else(|| InterpError::NotFound {
                expr: key.to_string(),
                detail: format!("'{walked}' has no '{part}'"),
            })?;
            walked.push('.');
            walked.push_str(part);
        }
        Ok(cur)
    }

    /// Resolve every string (mapping keys included) inside `v`. `key` is the stage field being
    /// resolved (`cmd`, `deps`, ...; `None` for `foreach`/`matrix` data), which decides
    /// whether lists and mappings may be interpolated.
    pub fn resolve(&self, v: &Value, key: Option<&str>) -> Result<Value, InterpError> {
        Ok(match v {
            Value::String(s) => self.resolve_str(s, key)?,
            Value::Sequence(seq) => Value::Sequence(
                seq.iter()
                    .map(|x| self.resolve(x, key))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Mapping(m) => {
                let mut out = Mapping::new();
                for (k, val) in m {
                    out.insert(self.resolve(k, key)?, self.resolve(val, key)?);
                }
                Value::Mapping(out)
            }
            other => other.clone(),
        })
    }

    /// Resolve one string.
    pub fn resolve_str(&self, s: &str, key: Option<&str>) -> Result<Value, InterpError> {
        let matches = find_matches(s);
        if matches.len() == 1 && matches[0].start == 0 && matches[0].end == s.len() {
            let expr = parse_expr(&matches[0].inner).map_err(InterpError::Parse)?;
            let value = self.select(&expr)?;
            validate(value, key, &expr)?;
            return Ok(value.clone());
        }
        let mut buf = String::with_capacity(s.len());
        let mut index = 0;
        for m in &matches {
            let expr = parse_expr(&m.inner).map_err(InterpError::Parse)?;
            let value = self.select(&expr)?;
            validate(value, key, &expr)?;
            buf.push_str(&s[index..m.start]);
            match value {
                Value::Mapping(map) => buf.push_str(&dict_to_args(map, &expr)?),
                other => buf.push_str(&scalar_to_str(other)),
            }
            index = m.end;
        }
        buf.push_str(&s[index..]);
        Ok(Value::String(buf.replace("\\${", "${")))
    }
}

fn validate(value: &Value, key: Option<&str>, expr: &str) -> Result<(), InterpError> {
    let composite = matches!(value, Value::Sequence(_) | Value::Mapping(_));
    let not_foreach = key.is_some_and(|k| !k.contains("foreach"));
    if composite && not_foreach {
        if matches!(value, Value::Mapping(_)) && key == Some("cmd") {
            return Ok(());
        }
        return Err(InterpError::Type {
            expr: expr.to_string(),
            kind: if matches!(value, Value::Sequence(_)) {
                "list"
            } else {
                "dict"
            },
        });
    }
    Ok(())
}

/// A mapping interpolated into a command: `--key value` per flattened key (`--flag` for true,
/// nothing for false, a list as `--key a b`), as DVC's defaults write it.
fn dict_to_args(m: &Mapping, expr: &str) -> Result<String, InterpError> {
    let mut flat: Vec<(String, Value)> = Vec::new();
    flatten("", m, &mut flat);
    let mut out = String::new();
    for (k, v) in flat {
        match v {
            Value::Bool(true) => out.push_str(&format!("--{k} ")),
            Value::Bool(false) => {}
            Value::String(s) => out.push_str(&format!("--{k} {} ", shell_quote(&s))),
            Value::Sequence(items) => {
                for (n, i) in items.iter().enumerate() {
                    let text = match i {
                        Value::String(s) => shell_quote(s),
                        Value::Sequence(_) | Value::Mapping(_) => {
                            return Err(InterpError::Type {
                                expr: format!("{expr}.{k}"),
                                kind: "nested list",
                            });
                        }
                        other => scalar_to_str(other),
                    };
                    if n == 0 {
                        out.push_str(&format!("--{k} {text} "));
                    } else {
                        out.push_str(&format!("{text} "));
                    }
                }
            }
            other => out.push_str(&format!("--{k} {} ", scalar_to_str(&other))),
        }
    }
    Ok(out.trim_end().to_string())
}

fn flatten(prefix: &str, m: &Mapping, out: &mut Vec<(String, Value)>) {
    for (k, v) in m {
        let k = key_string(k);
        let name = if prefix.is_empty() {
            k
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Mapping(inner) if !inner.is_empty() => flatten(&name, inner, out),
            other => out.push((name, other.clone())),
        }
    }
}

/// `shlex.quote`.
pub fn shell_quote(s: &str) -> String {
    if s.is_empty() {
        return "''".into();
    }
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(yaml: &str) -> Context {
        Context {
            data: serde_yaml::from_str(yaml).unwrap(),
        }
    }

    #[test]
    fn matches_and_escapes() {
        let m = find_matches("a ${x} \\${y} ${z.w}");
        assert_eq!(
            m.iter().map(|m| m.inner.as_str()).collect::<Vec<_>>(),
            ["x", "z.w"]
        );
        assert!(find_matches("${a\n}").is_empty());
        let c = ctx("{x: 1, z: {w: 2}}");
        assert_eq!(
            c.resolve_str("a ${x} \\${y} ${z.w}", Some("cmd")).unwrap(),
            Value::String("a 1 ${y} 2".into())
        );
    }

    #[test]
    fn exact_keeps_types_and_nested_keys_resolve() {
        let c = ctx("{model: {lr: 0.01, layers: [8, 16]}, on: true}");
        assert_eq!(
            c.resolve_str("${model.lr}", Some("cmd")).unwrap(),
            serde_yaml::from_str::<Value>("0.01").unwrap()
        );
        assert_eq!(
            c.resolve_str("${model.layers[1]}", Some("cmd")).unwrap(),
            serde_yaml::from_str::<Value>("16").unwrap()
        );
        assert_eq!(
            c.resolve_str("--on ${on} --lr ${model.lr}", Some("cmd"))
                .unwrap(),
            Value::String("--on true --lr 0.01".into())
        );
        assert!(matches!(
            c.resolve_str("${model.layers}", Some("deps")),
            Err(InterpError::Type { kind: "list", .. })
        ));
        assert!(c.resolve_str("${model.layers}", None).is_ok());
        let e = c.resolve_str("${model.lrx}", Some("cmd")).unwrap_err();
        assert!(e.to_string().contains("model.lrx"), "{e}");
    }

    #[test]
    fn dict_in_cmd_becomes_arguments() {
        let c = ctx("{args: {lr: 0.1, name: a b, verbose: true, quiet: false, ks: [1, 2]}}");
        assert_eq!(
            c.resolve_str("train ${args}", Some("cmd")).unwrap(),
            Value::String("train --lr 0.1 --name 'a b' --verbose --ks 1 2".into())
        );
    }

    #[test]
    fn expression_syntax() {
        assert_eq!(parse_expr("a.b[0].c").unwrap(), "a.b.0.c");
        assert!(parse_expr("").is_err());
        assert!(parse_expr("a.").is_err());
        assert!(parse_expr("a[0").is_err());
        assert!(parse_expr("a]").is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_plain_text_is_kept(s in "\\PC{0,40}") {
            let c = ctx("{a: 1}");
            let _ = find_matches(&s);
            if !s.contains("${") {
                proptest::prop_assert_eq!(
                    c.resolve_str(&s, Some("cmd")).unwrap(),
                    Value::String(s.clone())
                );
            }
        }

        #[test]
        fn names_roundtrip(parts in proptest::collection::vec("[a-z_][a-z0-9_]{0,6}", 1..5)) {
            let expr = parts.join(".");
            proptest::prop_assert_eq!(parse_expr(&expr).unwrap(), expr.clone());
            // A nested mapping built from the parts resolves back to the leaf.
            let mut v = Value::Number(7.into());
            for p in parts.iter().rev() {
                let mut m = Mapping::new();
                m.insert(Value::String(p.clone()), v);
                v = Value::Mapping(m);
            }
            let c = Context { data: v.as_mapping().unwrap().clone() };
            let text = format!("x${{{expr}}}y");
            proptest::prop_assert_eq!(
                c.resolve_str(&text, Some("cmd")).unwrap(),
                Value::String("x7y".into())
            );
        }
    }
}
