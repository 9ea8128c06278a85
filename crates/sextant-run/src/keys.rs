//! MLflow's rules for metric, param and tag names, checked before anything is sent: one bad
//! name would otherwise make the server refuse a whole batch.

/// MLflow's longest metric, param or tag name.
pub const MAX_KEY: usize = 250;
/// MLflow's longest param value.
pub const MAX_PARAM_VALUE: usize = 6000;
/// MLflow's longest tag value (longer tag values are cut, with a marker).
pub const MAX_TAG_VALUE: usize = 8000;

/// Why `key` is not a name MLflow accepts, if it is not: letters, digits, `_ - . /` and spaces;
/// not empty; at most 250 characters; a normalised path (no leading or trailing `/`, no `//`,
/// no `.` or `..` segment).
pub fn check(key: &str) -> Result<(), &'static str> {
    if key.is_empty() {
        return Err("it is empty");
    }
    if key.chars().count() > MAX_KEY {
        return Err("it is longer than 250 characters");
    }
    if !key
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ' | '/'))
    {
        return Err("only letters, digits, '_', '-', '.', ' ' and '/' are allowed");
    }
    if key.starts_with('/')
        || key.ends_with('/')
        || key
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err("it must be a relative path without empty, '.' or '..' parts");
    }
    Ok(())
}

/// `s` made into a valid name part: disallowed characters become `_` (for stage names, file
/// paths and variable names that go into tag and metric names).
pub fn sanitize(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match out.as_str() {
        "" | "." | ".." => "_".into(),
        _ => out,
    }
}

/// A relative file path made into a valid name: each part sanitized, `/` kept.
pub fn sanitize_path(p: &str) -> String {
    p.split(['/', '\\'])
        .filter(|s| !s.is_empty())
        .map(sanitize)
        .collect::<Vec<_>>()
        .join("/")
}

/// A tag value cut to MLflow's limit, marked as cut.
pub fn tag_value(v: &str) -> String {
    if v.chars().count() <= MAX_TAG_VALUE {
        return v.to_owned();
    }
    let mut s: String = v.chars().take(MAX_TAG_VALUE - 20).collect();
    s.push_str(" …(truncated)");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlflow_key_rules() {
        for ok in ["loss", "val/loss", "a.b-c_d e", "système"] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "/a",
            "a/",
            "a//b",
            "a/./b",
            "../a",
            "a:b",
            "a+b",
            &"x".repeat(251),
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sanitized_names_are_valid() {
        for s in ["python train.py", "a/b", "..", "", "ok-name", "x:y+z"] {
            assert_eq!(check(&sanitize(s)), Ok(()), "{s}");
        }
    }

    #[test]
    fn long_tag_values_are_cut() {
        let v = "é".repeat(9000);
        let t = tag_value(&v);
        assert!(t.chars().count() <= MAX_TAG_VALUE);
        assert!(t.ends_with("(truncated)"));
        assert_eq!(tag_value("short"), "short");
    }
}
