//! `.dvc/config` and `.dvc/config.local`: DVC's configobj (INI-like) files.
//!
//! ```ini
//! [core]
//!     remote = storage
//! [cache]
//!     type = "reflink,copy"
//! ['remote "storage"']
//!     url = s3://bucket/prefix
//!     endpointurl = http://127.0.0.1:9000
//! ```
//!
//! Sections and keys keep their order; a rewrite changes only what was set, formatted as DVC
//! (configobj) formats it, so `dvc` reads what we write and the diff stays small.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One `[section]` with its `key = value` lines, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The section's name without brackets or quotes, e.g. `remote "storage"`.
    pub name: String,
    /// Keys and unquoted values.
    pub entries: Vec<(String, String)>,
}

/// A parsed config file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigFile {
    /// Sections in file order.
    pub sections: Vec<Section>,
}

impl ConfigFile {
    /// Parse configobj text read from `path` (for error messages).
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let err = |line: usize, message: String| Error::Config {
            path: path.to_path_buf(),
            line,
            message,
        };
        let mut sections: Vec<Section> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(inner) = line.strip_prefix('[') {
                if inner.starts_with('[') {
                    return Err(err(
                        n,
                        "nested sections ([[...]]) are not used by DVC".into(),
                    ));
                }
                let Some(end) = inner.rfind(']') else {
                    return Err(err(n, format!("unterminated section header {line:?}")));
                };
                let after = inner[end + 1..].trim();
                if !after.is_empty() && !after.starts_with('#') {
                    return Err(err(n, format!("text after the section header: {after:?}")));
                }
                let name = unquote(inner[..end].trim()).map_err(|m| err(n, m))?;
                if name.is_empty() {
                    return Err(err(n, "empty section name".into()));
                }
                sections.push(Section {
                    name,
                    entries: Vec::new(),
                });
                continue;
            }
            let Some(eq) = line.find('=') else {
                return Err(err(
                    n,
                    format!("expected `key = value` or `[section]`, found {line:?}"),
                ));
            };
            let key = unquote(line[..eq].trim()).map_err(|m| err(n, m))?;
            if key.is_empty() {
                return Err(err(n, "empty key".into()));
            }
            let value = parse_value(line[eq + 1..].trim()).map_err(|m| err(n, m))?;
            let Some(section) = sections.last_mut() else {
                return Err(err(n, format!("key {key:?} outside any [section]")));
            };
            match section.entries.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => section.entries.push((key, value)),
            }
        }
        Ok(Self { sections })
    }

    /// Read `path`; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(Error::Io {
                op: "read",
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// The value of `key` in `[section]`.
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.section(section)?
            .entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A section by name.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// Set `key` in `[section]`, creating the section at the end when needed.
    pub fn set(&mut self, section: &str, key: &str, value: &str) {
        let idx = match self.sections.iter().position(|s| s.name == section) {
            Some(i) => i,
            // DVC keeps [core] first.
            None if section == "core" => {
                self.sections.insert(
                    0,
                    Section {
                        name: section.to_string(),
                        entries: Vec::new(),
                    },
                );
                0
            }
            None => {
                self.sections.push(Section {
                    name: section.to_string(),
                    entries: Vec::new(),
                });
                self.sections.len() - 1
            }
        };
        let entries = &mut self.sections[idx].entries;
        match entries.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_string(),
            None => entries.push((key.to_string(), value.to_string())),
        }
    }

    /// The text configobj would write.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for sec in &self.sections {
            s.push('[');
            s.push_str(&quote_if_needed(&sec.name, true));
            s.push_str("]\n");
            for (k, v) in &sec.entries {
                s.push_str("    ");
                s.push_str(&quote_if_needed(k, false));
                s.push_str(" = ");
                s.push_str(&quote_if_needed(v, false));
                s.push('\n');
            }
        }
        s
    }
}

/// Remote names from section headers `remote "name"`.
pub(crate) fn remote_section(name: &str) -> String {
    format!("remote \"{name}\"")
}

fn unquote(s: &str) -> std::result::Result<String, String> {
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q) {
            return match inner.strip_suffix(q) {
                Some(v) => Ok(v.to_string()),
                None => Err(format!("unterminated quote in {s:?}")),
            };
        }
    }
    Ok(s.to_string())
}

fn parse_value(v: &str) -> std::result::Result<String, String> {
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q) {
            let Some(end) = inner.find(q) else {
                return Err(format!("unterminated quote in value {v:?}"));
            };
            let after = inner[end + 1..].trim();
            if !after.is_empty() && !after.starts_with('#') {
                return Err(format!("text after the quoted value: {after:?}"));
            }
            return Ok(inner[..end].to_string());
        }
    }
    // An unquoted value ends at an inline comment.
    let v = match v.find(" #") {
        Some(i) => v[..i].trim_end(),
        None => v,
    };
    Ok(v.to_string())
}

/// configobj quotes values holding commas, quotes, `#`, `=` (in keys) or outer spaces.
fn quote_if_needed(v: &str, section: bool) -> String {
    let needs = v.is_empty()
        || v.contains([',', '#', '"', '\'', '\n', '[', ']'])
        || (!section && v.contains('='))
        || v.starts_with(' ')
        || v.ends_with(' ');
    if !needs {
        return v.to_string();
    }
    if !v.contains('"') {
        format!("\"{v}\"")
    } else {
        format!("'{v}'")
    }
}

/// The merged view of `.dvc/config` and `.dvc/config.local` (local wins), plus where the
/// repository-level file lives (for writes).
#[derive(Debug, Clone)]
pub struct Config {
    /// `.dvc/config`.
    pub path: PathBuf,
    /// `.dvc/config` as parsed.
    pub repo: ConfigFile,
    /// `.dvc/config.local` as parsed (not committed; credentials).
    pub local: ConfigFile,
}

impl Config {
    /// Load both files from the `.dvc` directory.
    pub fn load(dvc_dir: &Path) -> Result<Self> {
        let path = dvc_dir.join("config");
        Ok(Self {
            repo: ConfigFile::load(&path)?,
            local: ConfigFile::load(&dvc_dir.join("config.local"))?,
            path,
        })
    }

    /// A value, `config.local` first.
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.local
            .get(section, key)
            .or_else(|| self.repo.get(section, key))
    }

    /// Every key of remote `name`, merged.
    pub fn remote(&self, name: &str) -> Option<Vec<(String, String)>> {
        let sec = remote_section(name);
        let base = self.repo.section(&sec);
        let local = self.local.section(&sec);
        if base.is_none() && local.is_none() {
            return None;
        }
        let mut out: Vec<(String, String)> = base.map(|s| s.entries.clone()).unwrap_or_default();
        for (k, v) in local.map(|s| s.entries.as_slice()).unwrap_or_default() {
            match out.iter_mut().find(|(ok, _)| ok == k) {
                Some(slot) => slot.1 = v.clone(),
                None => out.push((k.clone(), v.clone())),
            }
        }
        Some(out)
    }

    /// Names of all configured remotes, in file order.
    pub fn remote_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for f in [&self.repo, &self.local] {
            for s in &f.sections {
                if let Some(n) = s
                    .name
                    .strip_prefix("remote \"")
                    .and_then(|r| r.strip_suffix('"'))
                    && !names.iter().any(|x| x == n)
                {
                    names.push(n.to_string());
                }
            }
        }
        names
    }

    /// Write `.dvc/config` back atomically.
    pub fn save_repo(&self) -> Result<()> {
        crate::fsutil::write_atomic(&self.path, self.repo.to_text().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // What DVC 3.67 wrote after `remote add -d`, `remote modify` and `config cache.type`.
    const DVC_WROTE: &str = "[core]\n    remote = myrem\n[cache]\n    type = \"hardlink,copy\"\n['remote \"myrem\"']\n    url = /tmp/dvcx-remote\n['remote \"s3r\"']\n    url = s3://bucket/prefix\n    endpointurl = http://127.0.0.1:9999\n";

    #[test]
    fn reads_and_rewrites_dvc_config_byte_for_byte() {
        let c = ConfigFile::parse(DVC_WROTE, Path::new("config")).unwrap();
        assert_eq!(c.get("core", "remote"), Some("myrem"));
        assert_eq!(c.get("cache", "type"), Some("hardlink,copy"));
        assert_eq!(
            c.get("remote \"s3r\"", "endpointurl"),
            Some("http://127.0.0.1:9999")
        );
        assert_eq!(c.to_text(), DVC_WROTE);
    }

    #[test]
    fn errors_name_the_line() {
        let e = ConfigFile::parse(
            "[core]\n    remote = x\nnonsense\n",
            Path::new(".dvc/config"),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with(".dvc/config:3:"), "{e}");
        assert!(ConfigFile::parse("key = 1\n", Path::new("c")).is_err());
        assert!(ConfigFile::parse("[core\n", Path::new("c")).is_err());
        assert!(ConfigFile::parse("[core]\n  a = \"open\n", Path::new("c")).is_err());
    }
}
