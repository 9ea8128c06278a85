//! `.dvc` pointer files: YAML naming the tracked outputs and their hashes, written exactly as
//! DVC 3 writes them (ruamel.yaml's block style and quoting), so files written by either tool
//! are byte-identical for the same data.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::hash::Oid;

/// Suffix of pointer files.
pub const SUFFIX: &str = ".dvc";

/// One output of a pointer file (or of a `dvc.lock` stage).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Out {
    /// Object id: md5 of the bytes, or of the directory manifest plus `.dir` (validated as it
    /// is read: a value that is not a hash is refused with the file, never used as a path).
    pub md5: Option<Oid>,
    /// Bytes (for a directory, the sum over its files).
    pub size: Option<u64>,
    /// Number of files, for a directory.
    pub nfiles: Option<u64>,
    /// The file is executable.
    pub isexec: bool,
    /// `md5` for DVC 3 hashes; absent in DVC 2 files.
    pub hash: Option<String>,
    /// Path relative to the pointer file's directory, `/`-separated.
    pub path: String,
    /// Free-text description.
    pub desc: Option<String>,
    /// Free-text type annotation.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `cache: false` keeps the output out of the cache.
    pub cache: Option<bool>,
    /// `persist: true` (pipelines): not removed before a run.
    pub persist: bool,
    /// Remote to push this output to instead of the default.
    pub remote: Option<String>,
    /// `push: false` keeps the output off remotes.
    pub push: Option<bool>,
}

impl Out {
    /// True for a tracked directory.
    pub fn is_dir(&self) -> bool {
        self.md5.as_ref().is_some_and(Oid::is_dir)
    }
    /// The output goes through the cache (the default).
    pub fn uses_cache(&self) -> bool {
        self.cache.unwrap_or(true)
    }
    /// The output may be pushed to remotes (the default).
    pub fn can_push(&self) -> bool {
        self.push.unwrap_or(true)
    }
}

/// A parsed `.dvc` file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PointerFile {
    /// The tracked outputs (one for files written by `add`).
    pub outs: Vec<Out>,
}

impl PointerFile {
    /// Parse the text of the pointer file at `path` (for messages) and validate every output.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(default)]
            outs: Vec<Out>,
        }
        let err = |message: String| Error::Pointer {
            path: path.to_path_buf(),
            message,
        };
        let raw: Raw =
            serde_yaml::from_str(text).map_err(|e| err(format!("not a valid .dvc file: {e}")))?;
        if raw.outs.is_empty() {
            return Err(err("no outs: nothing is tracked by this file".into()));
        }
        for out in &raw.outs {
            validate_out(out).map_err(|m| err(format!("output {:?}: {m}", out.path)))?;
        }
        Ok(Self { outs: raw.outs })
    }

    /// The text DVC 3 writes for this pointer file.
    pub fn to_yaml(&self) -> String {
        let mut s = String::from("outs:\n");
        for out in &self.outs {
            write_out(&mut s, out, "- ", "  ");
        }
        s
    }
}

/// Check one output's fields beyond its hash. The hash was checked as it was read: `md5` is an
/// [`Oid`], the same type `dvc.lock` and run-cache entries (`sextant_pipeline::lock::LockItem`)
/// parse their hashes into, so every file a path can come from is held to one rule.
pub(crate) fn validate_out(out: &Out) -> std::result::Result<(), String> {
    if out.path.is_empty() {
        return Err("empty path".into());
    }
    if out.path.starts_with('/') {
        return Err("absolute paths are not supported; track files inside the repository".into());
    }
    if out.md5.is_some() {
        // The hash itself was checked when the file was read (`Oid`).
        match out.hash.as_deref() {
            Some("md5") => {}
            None => {
                return Err(
                    "written by DVC 2 (no `hash: md5`, legacy md5-dos2unix hashes); \
                            run `dvc cache migrate --dvc-files` once, or add the data again"
                        .into(),
                );
            }
            Some(other) => return Err(format!("hash {other:?} is not supported (only md5)")),
        }
    }
    Ok(())
}

/// Append one output as a YAML sequence item.
pub(crate) fn write_out(s: &mut String, out: &Out, first: &str, rest: &str) {
    let mut lead = first;
    let mut field = |s: &mut String, key: &str, value: &str| {
        s.push_str(lead);
        s.push_str(key);
        s.push_str(": ");
        s.push_str(value);
        s.push('\n');
        lead = rest;
    };
    if let Some(md5) = &out.md5 {
        field(s, "md5", &yaml_str(md5));
    }
    if let Some(size) = out.size {
        field(s, "size", &size.to_string());
    }
    if let Some(n) = out.nfiles {
        field(s, "nfiles", &n.to_string());
    }
    if out.isexec {
        field(s, "isexec", "true");
    }
    if let Some(h) = &out.hash {
        field(s, "hash", &yaml_str(h));
    }
    field(s, "path", &yaml_str(&out.path));
    if let Some(d) = &out.desc {
        field(s, "desc", &yaml_str(d));
    }
    if let Some(t) = &out.kind {
        field(s, "type", &yaml_str(t));
    }
    if out.cache == Some(false) {
        field(s, "cache", "false");
    }
    if out.persist {
        field(s, "persist", "true");
    }
    if let Some(r) = &out.remote {
        field(s, "remote", &yaml_str(r));
    }
    if out.push == Some(false) {
        field(s, "push", "false");
    }
}

/// The pointer file that tracks `target` (`data/x` -> `data/x.dvc`).
pub fn pointer_path_for(target: &Path) -> PathBuf {
    let mut s = target.as_os_str().to_os_string();
    s.push(SUFFIX);
    PathBuf::from(s)
}

/// A string scalar as ruamel.yaml (DVC's writer) emits it: plain when that reads back as the
/// same string under YAML 1.2, single-quoted when plain would be misread, double-quoted with
/// escapes when it holds characters that cannot appear unescaped.
pub fn yaml_str(s: &str) -> String {
    if s.chars().any(needs_escape) {
        return double_quoted(s);
    }
    if plain_ok(s) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

fn needs_escape(c: char) -> bool {
    matches!(c, '\0'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}' | '\u{2028}' | '\u{2029}')
}

fn double_quoted(s: &str) -> String {
    use std::fmt::Write;
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if needs_escape(c) => {
                let n = c as u32;
                // Writing into a String cannot fail.
                let _ = if n <= 0xff {
                    write!(out, "\\x{n:02X}")
                } else {
                    write!(out, "\\u{n:04X}")
                };
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether ruamel.yaml would write `s` as a plain scalar.
fn plain_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(&first) = b.first() else {
        return false;
    };
    if first == b' ' || b[b.len() - 1] == b' ' {
        return false;
    }
    if s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    let next_is_blank = b.get(1).is_none_or(|c| *c == b' ');
    match first {
        b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\''
        | b'"' | b'%' | b'@' | b'`' => return false,
        b'-' | b'?' | b':' if next_is_blank => return false,
        _ => {}
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return false;
    }
    !resolves_to_non_string(s)
}

/// YAML 1.2 implicit types ruamel.yaml resolves a plain scalar to (so it must quote a string
/// that looks like one).
fn resolves_to_non_string(s: &str) -> bool {
    matches!(
        s,
        "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "null"
            | "Null"
            | "NULL"
            | "~"
            | "="
            | "<<"
    ) || is_int(s)
        || is_float(s)
        || is_timestamp(s)
}

fn strip_sign(s: &str) -> &str {
    s.strip_prefix(['-', '+']).unwrap_or(s)
}

fn all_of(s: &str, f: impl Fn(u8) -> bool) -> bool {
    !s.is_empty() && s.bytes().all(f)
}

fn is_int(s: &str) -> bool {
    let first = s.as_bytes()[0];
    if !b"-+0123456789".contains(&first) {
        return false;
    }
    let t = strip_sign(s);
    if let Some(r) = t.strip_prefix("0b") {
        return all_of(r, |c| c == b'0' || c == b'1' || c == b'_');
    }
    if let Some(r) = t.strip_prefix("0x") {
        return all_of(r, |c| c.is_ascii_hexdigit() || c == b'_');
    }
    if let Some(r) = t.strip_prefix("0o") {
        return all_of(r, |c| (b'0'..=b'7').contains(&c) || c == b'_');
    }
    all_of(t, |c| c.is_ascii_digit() || c == b'_')
}

fn is_float(s: &str) -> bool {
    let first = s.as_bytes()[0];
    if !b"-+.0123456789".contains(&first) {
        return false;
    }
    let t = strip_sign(s);
    if matches!(t, ".inf" | ".Inf" | ".INF") {
        return true;
    }
    if matches!(s, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let exp_ok = |e: &str, sign_required: bool| {
        let (signed, digits) = match e.strip_prefix(['-', '+']) {
            Some(d) => (true, d),
            None => (false, e),
        };
        (signed || !sign_required) && all_of(digits, |c| c.is_ascii_digit())
    };
    fn split_exp(x: &str) -> (&str, Option<&str>) {
        match x.find(['e', 'E']) {
            Some(i) => (&x[..i], Some(&x[i + 1..])),
            None => (x, None),
        }
    }
    if let Some(rest) = s.strip_prefix('.') {
        // \.[0-9_]+([eE][-+][0-9]+)?  (no sign before the dot)
        let (m, e) = split_exp(rest);
        return all_of(m, |c| c.is_ascii_digit() || c == b'_') && e.is_none_or(|e| exp_ok(e, true));
    }
    let (m, e) = split_exp(t);
    let Some(&lead) = m.as_bytes().first() else {
        return false;
    };
    if !lead.is_ascii_digit() {
        return false;
    }
    match m.find('.') {
        // [0-9][0-9_]*\.[0-9_]*([eE][-+]?[0-9]+)?
        Some(i) => {
            let (int, frac) = (&m[..i], &m[i + 1..]);
            int.bytes().all(|c| c.is_ascii_digit() || c == b'_')
                && frac.bytes().all(|c| c.is_ascii_digit() || c == b'_')
                && e.is_none_or(|e| exp_ok(e, false))
        }
        // [0-9][0-9_]*[eE][-+]?[0-9]+
        None => {
            m.bytes().all(|c| c.is_ascii_digit() || c == b'_')
                && e.is_some_and(|e| exp_ok(e, false))
        }
    }
}

fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    // The date part: YYYY-M(M)-D(D); ruamel also resolves full datetimes, which all start so.
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let rest = &s[5..];
    let mut parts = rest.splitn(2, '-');
    let month = parts.next().unwrap_or("");
    let Some(tail) = parts.next() else {
        return false;
    };
    if !(1..=2).contains(&month.len()) || !month.bytes().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let day_len = tail.bytes().take_while(u8::is_ascii_digit).count();
    if !(1..=2).contains(&day_len) {
        return false;
    }
    // A bare date, or a date followed by a time (T or spaces): treat the latter as a timestamp
    // when it carries HH:MM:SS.
    let after = &tail[day_len..];
    after.is_empty() || ((after.starts_with(['T', 't', ' ', '\t'])) && after.contains(':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_matches_ruamel_for_known_cases() {
        // What DVC 3.67 (ruamel.yaml 0.19) wrote for each path.
        let cases = [
            ("a b", "a b"),
            ("-x", "-x"),
            ("yes", "yes"),
            ("on", "on"),
            ("a,b", "a,b"),
            ("a#b", "a#b"),
            ("?q", "?q"),
            ("a:b", "a:b"),
            ("it's", "it's"),
            ("é", "é"),
            ("a\\b", "a\\b"),
            ("true", "'true'"),
            ("null", "'null'"),
            ("123", "'123'"),
            ("1.5", "'1.5'"),
            ("[a]", "'[a]'"),
            ("a #b", "'a #b'"),
            ("~", "'~'"),
            ("0x1f", "'0x1f'"),
            ("1e3", "'1e3'"),
            ("\"q\"", "'\"q\"'"),
            ("*star", "'*star'"),
            ("&amp", "'&amp'"),
            ("!bang", "'!bang'"),
            ("%pc", "'%pc'"),
            ("@at", "'@at'"),
            ("`bt", "'`bt'"),
            ("|p", "'|p'"),
            (">g", "'>g'"),
            (" lead", "' lead'"),
            ("trail ", "'trail '"),
            (".inf", "'.inf'"),
            ("0o17", "'0o17'"),
            ("2001-12-14", "'2001-12-14'"),
            ("1_000", "'1_000'"),
            (".5", "'.5'"),
            ("=", "'='"),
            ("<<", "'<<'"),
            ("we: ird.txt", "'we: ird.txt'"),
            ("#hash", "'#hash'"),
            ("tab\there", "\"tab\\there\""),
            ("new\nline", "\"new\\nline\""),
        ];
        for (input, want) in cases {
            assert_eq!(yaml_str(input), want, "for {input:?}");
        }
    }

    #[test]
    fn writes_what_dvc_writes() {
        let pf = PointerFile {
            outs: vec![Out {
                md5: Some(Oid::parse("25de2e96432400751a14a1f110b24b08.dir").unwrap()),
                size: Some(6),
                nfiles: Some(3),
                hash: Some("md5".into()),
                path: "d".into(),
                ..Out::default()
            }],
        };
        let text = pf.to_yaml();
        assert_eq!(
            text,
            "outs:\n- md5: 25de2e96432400751a14a1f110b24b08.dir\n  size: 6\n  nfiles: 3\n  hash: md5\n  path: d\n"
        );
        assert_eq!(PointerFile::parse(&text, Path::new("d.dvc")).unwrap(), pf);
    }

    #[test]
    fn rejects_bad_pointers_naming_the_problem() {
        let p = Path::new("x.dvc");
        let e = PointerFile::parse("outs:\n- md5: zz\n  hash: md5\n  path: x\n", p).unwrap_err();
        assert!(
            e.to_string().contains("x.dvc") && e.to_string().contains("zz"),
            "{e}"
        );
        let e = PointerFile::parse(
            "outs:\n- md5: d41d8cd98f00b204e9800998ecf8427e\n  path: x\n",
            p,
        )
        .unwrap_err();
        assert!(e.to_string().contains("DVC 2"), "{e}");
        assert!(PointerFile::parse("outs: []\n", p).is_err());
        assert!(PointerFile::parse(": : :\n\t- [", p).is_err());
    }
}
