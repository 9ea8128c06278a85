//! From `NAME@ALIAS` to files on disk, through the tracking server (blocking: call it on
//! `tokio::task::spawn_blocking`).
//!
//! The version behind an alias and its review state come from Sextant's API
//! (`GET /api/sextant/v1/models/{name}`); a protected alias pointing at a version that is not
//! approved is refused ([`ServingError::NotApproved`]) and never served. The files of an
//! approved version are checked against the SHA-256 manifest recorded with its approval
//! ([`verify`]) before they are loaded: a file changed, added or removed since is refused
//! ([`ServingError::NotWhatWasApproved`]), naming the file.

use std::path::{Path, PathBuf};

use serde_json::Value;
use sextant_client::{Client, encode_segment};
use sextant_types::registry::FileManifest;

use crate::error::{Result, ServingError};

/// What to serve: a model name (or a glob over names) and an alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    pub name: String,
    pub alias: String,
}

impl ModelRef {
    /// Parse `NAME@ALIAS`.
    pub fn parse(spec: &str) -> Result<Self> {
        let err = |reason: &str| ServingError::BadSpec {
            spec: spec.to_owned(),
            reason: reason.to_owned(),
        };
        let (name, alias) = spec.rsplit_once('@').ok_or_else(|| err("no '@ALIAS'"))?;
        if name.trim().is_empty() {
            return Err(err("the model name is empty"));
        }
        if alias.trim().is_empty() || alias.contains(['*', '?']) {
            return Err(err("the alias must be a plain name"));
        }
        Ok(Self {
            name: name.to_owned(),
            alias: alias.to_owned(),
        })
    }

    pub fn is_glob(&self) -> bool {
        self.name.contains(['*', '?'])
    }
}

impl std::fmt::Display for ModelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.name, self.alias)
    }
}

/// `*` (any run of characters) and `?` (one character) over a whole name.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some(('?', rest)) => !n.is_empty() && go(rest, &n[1..]),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// Every registered model matching `pattern` that has the alias (`vessel-*@production`).
pub fn expand(client: &Client, pattern: &ModelRef) -> Result<Vec<ModelRef>> {
    let list = client.sextant("GET", "models", None)?;
    let mut out: Vec<ModelRef> = list["models"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| {
            m["name"]
                .as_str()
                .is_some_and(|n| glob_match(&pattern.name, n))
        })
        .filter(|m| {
            m["aliases"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|a| a["alias"].as_str() == Some(pattern.alias.as_str()))
        })
        .filter_map(|m| {
            m["name"].as_str().map(|n| ModelRef {
                name: n.to_owned(),
                alias: pattern.alias.clone(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    if out.is_empty() {
        return Err(ServingError::NoMatch {
            pattern: pattern.to_string(),
        });
    }
    Ok(out)
}

/// The version an alias points at, and whether it may be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub name: String,
    pub alias: String,
    pub version: String,
    pub review_status: String,
    pub protected: bool,
}

/// Decide from Sextant's `GET /models/{name}` answer; refused when a protected alias points
/// at a version that is not approved.
pub fn decide(r: &ModelRef, model: &Value) -> Result<Resolved> {
    let version = model["model"]["aliases"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["alias"].as_str() == Some(r.alias.as_str()))
        .and_then(|a| match &a["version"] {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .ok_or_else(|| ServingError::NoAlias {
            name: r.name.clone(),
            alias: r.alias.clone(),
        })?;
    let review_status = model["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| {
            v["version"].as_str() == Some(version.as_str())
                || v["version"].as_i64().map(|x| x.to_string()) == Some(version.clone())
        })
        .and_then(|v| v["review_status"].as_str())
        .unwrap_or("unknown")
        .to_owned();
    let protected = model["protected_aliases"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|a| a.as_str() == Some(r.alias.as_str()));
    if protected && review_status != "approved" {
        return Err(ServingError::NotApproved {
            name: r.name.clone(),
            alias: r.alias.clone(),
            version,
            status: review_status.replace('_', " "),
        });
    }
    Ok(Resolved {
        name: r.name.clone(),
        alias: r.alias.clone(),
        version,
        review_status,
        protected,
    })
}

/// Resolve `r` against the tracking server.
pub fn resolve(client: &Client, r: &ModelRef) -> Result<Resolved> {
    let model = client.sextant("GET", &format!("models/{}", encode_segment(&r.name)), None)?;
    decide(r, &model)
}

/// The files approved for a version (the manifest its approval recorded), from
/// `GET /api/sextant/v1/models/{name}/versions/{version}/review`. `None` when the version has
/// none (not approved, or approved with files this server does not store).
pub fn approved_files(client: &Client, v: &Resolved) -> Result<Option<FileManifest>> {
    let review = client.sextant(
        "GET",
        &format!(
            "models/{}/versions/{}/review",
            encode_segment(&v.name),
            encode_segment(&v.version)
        ),
        None,
    )?;
    match &review["review"]["approved_files"] {
        Value::Null => Ok(None),
        m => serde_json::from_value(m.clone())
            .map(Some)
            .map_err(|e| ServingError::Artifacts {
                name: v.name.clone(),
                version: v.version.clone(),
                reason: format!("the approved files manifest is unreadable: {e}"),
            }),
    }
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Every file under `dir`, paths relative to it, `/`-separated, sorted.
fn files_under(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let io = |source| ServingError::Io {
            path: d.clone(),
            source,
        };
        for entry in std::fs::read_dir(&d).map_err(io)? {
            let entry = entry.map_err(io)?;
            let path = entry.path();
            if entry.file_type().map_err(io)?.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(rel.join("/"));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Check the files in `dir` against the approved manifest: same set of files, same SHA-256
/// each. The first difference is refused, naming the file.
pub fn verify(v: &Resolved, manifest: &FileManifest, dir: &Path) -> Result<()> {
    let refuse = |file: &str, problem: String| ServingError::NotWhatWasApproved {
        name: v.name.clone(),
        version: v.version.clone(),
        file: file.to_owned(),
        problem,
        digest: manifest.digest.clone(),
    };
    let present = files_under(dir)?;
    for f in &manifest.files {
        let path = dir.join(&f.path);
        if !present.contains(&f.path) {
            return Err(refuse(&f.path, "is missing (it was approved)".into()));
        }
        let got = sha256_file(&path).map_err(|source| ServingError::Io { path, source })?;
        if got != f.sha256 {
            return Err(refuse(
                &f.path,
                format!(
                    "differs from what was approved (sha256 {got}, approved {})",
                    f.sha256
                ),
            ));
        }
    }
    if let Some(extra) = present.iter().find(|p| manifest.file(p).is_none()) {
        return Err(refuse(
            extra,
            "was not part of what was approved (added since)".into(),
        ));
    }
    Ok(())
}

/// Download the files of a resolved version into `dest` (created); returns `dest`.
pub fn download(client: &Client, v: &Resolved, dest: &Path) -> Result<PathBuf> {
    let uri = client.model_version_download_uri(&v.name, &v.version)?;
    let art = |reason: String| ServingError::Artifacts {
        name: v.name.clone(),
        version: v.version.clone(),
        reason,
    };
    let mut stack = vec![String::new()];
    let mut files = 0usize;
    while let Some(dir) = stack.pop() {
        for f in client.list_artifacts_at(&uri, &dir)? {
            if f.path.split('/').any(|seg| seg == ".." || seg.is_empty()) {
                return Err(art(format!("refusing the artifact path '{}'", f.path)));
            }
            if f.is_dir {
                stack.push(f.path);
                continue;
            }
            let bytes = client.download_artifact_at(&uri, &f.path)?;
            let path = dest.join(&f.path);
            let io = |source| ServingError::Io {
                path: path.clone(),
                source,
            };
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            std::fs::write(&path, bytes).map_err(io)?;
            files += 1;
        }
    }
    if files == 0 {
        return Err(art(format!("no files at {uri}")));
    }
    if !dest.join("MLmodel").exists() && !dest.join("model.onnx").exists() {
        return Err(art(format!(
            "{uri} has neither an MLmodel file nor a model.onnx"
        )));
    }
    Ok(dest.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn specs_and_globs() {
        assert_eq!(
            ModelRef::parse("a@prod").unwrap(),
            ModelRef {
                name: "a".into(),
                alias: "prod".into()
            }
        );
        assert!(ModelRef::parse("a").is_err());
        assert!(ModelRef::parse("@prod").is_err());
        assert!(ModelRef::parse("vessel-*@production").unwrap().is_glob());
        assert!(glob_match("vessel-*", "vessel-tanker"));
        assert!(!glob_match("vessel-*", "tug"));
        assert!(glob_match("v?", "v1") && !glob_match("v?", "v12"));
    }

    fn model(status: &str, protected: bool) -> Value {
        json!({
            "model": {"name": "m", "aliases": [{"alias": "prod", "version": "2"}]},
            "versions": [{"version": "1", "review_status": "approved"}, {"version": "2", "review_status": status}],
            "protected_aliases": if protected { json!(["prod"]) } else { json!([]) },
        })
    }

    #[test]
    fn a_protected_alias_serves_approved_versions_only() {
        let r = ModelRef::parse("m@prod").unwrap();
        assert_eq!(decide(&r, &model("approved", true)).unwrap().version, "2");
        assert!(matches!(
            decide(&r, &model("pending_review", true)),
            Err(ServingError::NotApproved { .. })
        ));
        assert_eq!(
            decide(&r, &model("pending_review", false)).unwrap().version,
            "2"
        );
        let other = ModelRef::parse("m@staging").unwrap();
        assert!(matches!(
            decide(&other, &model("approved", true)),
            Err(ServingError::NoAlias { .. })
        ));
    }
}
