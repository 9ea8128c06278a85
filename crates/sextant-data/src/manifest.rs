//! Directory manifests: the `<md5>.dir` objects DVC stores for a tracked directory.
//!
//! A manifest is a JSON list of `{"md5": ..., "relpath": ...}` sorted by `relpath`, serialised
//! exactly as Python's `json.dumps(entries, sort_keys=True)` does (`", "` and `": "` separators,
//! every character outside printable ASCII escaped as `\u` + four hex digits). The directory's hash is the md5
//! of those bytes plus the suffix `.dir`, so byte-for-byte equality with DVC is what makes a
//! directory added by one tool up to date for the other.

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::hash::{self, Oid};

/// One file of a tracked directory.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    /// Path inside the directory, `/`-separated.
    pub relpath: String,
    /// md5 of the file's bytes (a file id, never `.dir`).
    pub md5: Oid,
}

/// A directory manifest: entries sorted by `relpath`, no duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    entries: Vec<Entry>,
}

impl Manifest {
    /// Build from entries in any order (sorted here, as DVC sorts them).
    pub fn new(mut entries: Vec<Entry>) -> Self {
        entries.sort_by(|a, b| a.relpath.cmp(&b.relpath));
        entries.dedup_by(|a, b| a.relpath == b.relpath);
        Self { entries }
    }

    /// The entries, sorted by `relpath`.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the directory holds no file.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The bytes DVC writes (and hashes) for this manifest.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = String::with_capacity(self.entries.len() * 72 + 2);
        out.push('[');
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str("{\"md5\": ");
            push_py_json_str(&mut out, &e.md5);
            out.push_str(", \"relpath\": ");
            push_py_json_str(&mut out, &e.relpath);
            out.push('}');
        }
        out.push(']');
        out.into_bytes()
    }

    /// The directory's object id: md5 of [`Self::to_json`] followed by `.dir`.
    pub fn oid(&self) -> Oid {
        Oid::dir_of(&hash::md5_oid(&self.to_json()))
    }

    /// Parse a manifest read from `path` (for error messages). Extra keys DVC may write (sizes,
    /// with `with_meta`) are accepted and ignored.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self> {
        #[derive(Deserialize)]
        struct Raw {
            md5: String,
            relpath: String,
        }
        let err = |message: String| Error::Manifest {
            path: path.to_path_buf(),
            message,
        };
        let raw: Vec<Raw> = serde_json::from_slice(bytes)
            .map_err(|e| err(format!("not a JSON list of {{md5, relpath}}: {e}")))?;
        let mut entries = Vec::with_capacity(raw.len());
        for r in raw {
            let md5 = Oid::parse_file(&r.md5)
                .map_err(|e| err(format!("entry {:?}: field md5: {e}", r.relpath)))?;
            check_relpath(&r.relpath).map_err(|m| err(format!("entry {:?}: {m}", r.relpath)))?;
            entries.push(Entry {
                relpath: r.relpath,
                md5,
            });
        }
        Ok(Self::new(entries))
    }
}

/// A manifest path must stay inside its directory.
pub(crate) fn check_relpath(p: &str) -> std::result::Result<(), &'static str> {
    if p.is_empty() {
        return Err("empty path");
    }
    if p.starts_with('/') {
        return Err("absolute path");
    }
    if p.split('/').any(|c| c == ".." || c.is_empty() || c == ".") {
        return Err("path leaves the directory or has an empty component");
    }
    if p.contains('\0') {
        return Err("NUL in path");
    }
    Ok(())
}

/// Append `s` as Python's `json.dumps` (ensure_ascii=True) writes a string.
pub fn push_py_json_str(out: &mut String, s: &str) {
    use std::fmt::Write;
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(ch),
            _ => {
                let mut buf = [0u16; 2];
                for unit in ch.encode_utf16(&mut buf) {
                    // Writing into a String cannot fail.
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_like_python_json_dumps() {
        let m = Manifest::new(vec![
            Entry {
                relpath: "x".into(),
                md5: Oid::parse("401b30e3b8b5d629635a5c613cdb7919").unwrap(),
            },
            Entry {
                relpath: "é n.txt".into(),
                md5: Oid::parse("c03410a5204b21cd8229ff754688d743").unwrap(),
            },
            Entry {
                relpath: "sub/y".into(),
                md5: Oid::parse("009520053b00386d1173f3988c55d192").unwrap(),
            },
        ]);
        // Bytes and id written by DVC 3.67 for the same tree.
        assert_eq!(
            String::from_utf8(m.to_json()).unwrap(),
            r#"[{"md5": "009520053b00386d1173f3988c55d192", "relpath": "sub/y"}, {"md5": "401b30e3b8b5d629635a5c613cdb7919", "relpath": "x"}, {"md5": "c03410a5204b21cd8229ff754688d743", "relpath": "\u00e9 n.txt"}]"#
        );
        assert_eq!(m.oid(), "25de2e96432400751a14a1f110b24b08.dir");
    }

    #[test]
    fn escapes_astral_and_control_characters() {
        let mut s = String::new();
        push_py_json_str(&mut s, "a\u{1F600}\u{7f}\u{1}\"\\");
        assert_eq!(s, r#""a\ud83d\ude00\u007f\u0001\"\\""#);
    }

    #[test]
    fn rejects_escaping_paths() {
        let p = Path::new("x.dir");
        let bad = br#"[{"md5": "009520053b00386d1173f3988c55d192", "relpath": "../etc/passwd"}]"#;
        assert!(Manifest::parse(bad, p).is_err());
        let bad = br#"[{"md5": "nothex", "relpath": "a"}]"#;
        assert!(Manifest::parse(bad, p).is_err());
        for md5 in [
            "../../../../../../etc/passwd",
            "009520053b00386d1173f3988c55d192.dir",
            "009520053B00386D1173F3988C55D192",
        ] {
            let bad = format!(r#"[{{"md5": "{md5}", "relpath": "a"}}]"#);
            let e = Manifest::parse(bad.as_bytes(), p).unwrap_err().to_string();
            assert!(e.contains("x.dir") && e.contains("md5"), "{e}");
        }
        assert!(Manifest::parse(b"{}", p).is_err());
    }
}
