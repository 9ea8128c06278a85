//! The run cache, in DVC's own layout so `dvc` and `sextant` share it:
//! `<cache>/runs/<key[:2]>/<key>/<value>`, where
//!
//! - `key` is the sha256 of `json.dumps(entry, sort_keys=True)` of the stage's lock entry with
//!   its outputs reduced to their paths and every `size`/`nfiles` key removed — what the stage
//!   ran with (command, dependency hashes, params);
//! - `value` is the same hash of the whole entry (outputs' hashes included), and the file
//!   holds that entry as YAML.
//!
//! The newest entry of a key (by modification time) is the one restored
//! (`dvc/stage/cache.py`). Entries are written to a temporary file and renamed.

use std::path::{Path, PathBuf};

use serde_yaml::Value;
use sha2::{Digest, Sha256};

use crate::dvcyaml::Stage;
use crate::error::{IoContext, Result};
use crate::lock::{LockEntry, write_atomic};
use crate::value::{filter_keys, py_json, to_yaml};

/// Folder of the run cache below a cache root (`.dvc/cache`) or a remote's root.
pub const RUNS: &str = "runs";

fn sha256_hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in d.iter() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The run-cache key of an entry: what the stage ran with.
pub fn key(entry: &LockEntry) -> String {
    let mut v = entry.to_value();
    if let Value::Mapping(m) = &mut v {
        let paths: Vec<Value> = entry
            .outs
            .iter()
            .map(|o| Value::String(o.path.clone()))
            .collect();
        m.insert("outs".into(), Value::Sequence(paths));
    }
    sha256_hex(py_json(&filter_keys(&v, &["size", "nfiles"])).as_bytes())
}

/// The run-cache value (file name) of an entry: what it ran with and produced.
pub fn value(entry: &LockEntry) -> String {
    sha256_hex(py_json(&filter_keys(&entry.to_value(), &["size", "nfiles"])).as_bytes())
}

/// A stage whose runs may be cached (DVC's `_can_hash`): a command, at least one dependency
/// or param, at least one output, none persistent, and not `always_changed`.
pub fn can_hash(s: &Stage) -> bool {
    !s.always_changed
        && (!s.deps.is_empty() || !s.params.is_empty())
        && !s.outs.is_empty()
        && s.outs.iter().all(|o| !o.persist)
}

/// Runs of the stage are saved to the run cache (DVC skips stages with uncached outputs
/// other than metrics and plots).
pub fn saves(s: &Stage) -> bool {
    can_hash(s)
        && s.outs
            .iter()
            .all(|o| o.cache || o.kind != crate::dvcyaml::OutKind::Out)
}

/// `rel` is an entry's place below `runs/` (`<key[:2]>/<key>/<value>`, lowercase hex sha256s):
/// what a remote lists is checked before it names a file in the cache.
pub fn is_entry_rel(rel: &str) -> bool {
    let sha = |s: &str| s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let mut parts = rel.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(p), Some(k), Some(v), None) => sha(k) && sha(v) && k.starts_with(p) && p.len() == 2,
        _ => false,
    }
}

/// Where an entry lives below `cache_root`.
pub fn entry_path(cache_root: &Path, key: &str, value: &str) -> PathBuf {
    cache_root
        .join(RUNS)
        .join(&key[..2.min(key.len())])
        .join(key)
        .join(value)
}

/// The newest entry recorded for `key`, if any (a corrupted file is skipped).
pub fn load_newest(cache_root: &Path, key: &str) -> Result<Option<LockEntry>> {
    let dir = cache_root
        .join(RUNS)
        .join(&key[..2.min(key.len())])
        .join(key);
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).ctx("list", &dir),
    };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if let Ok(m) = e.metadata()
            && m.is_file()
        {
            files.push((m.modified().unwrap_or(std::time::UNIX_EPOCH), e.path()));
        }
    }
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    for (_, p) in files {
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        // As DVC does, a corrupted entry is a miss, with a warning naming the file and field.
        match parse_entry(&text) {
            Ok(e) => return Ok(Some(e)),
            Err(field) => tracing::warn!(
                path = %p.display(),
                "corrupted run-cache entry skipped: {field}"
            ),
        }
    }
    Ok(None)
}

/// Parse the text of a run-cache entry (a lock entry as YAML); the error names the field.
pub fn parse_entry(text: &str) -> std::result::Result<LockEntry, String> {
    let v: Value = serde_yaml::from_str(text).map_err(|e| format!("not valid YAML: {e}"))?;
    LockEntry::from_value(&v)
}

/// The text of a run-cache entry, as [`save`] writes it.
pub fn entry_text(entry: &LockEntry) -> String {
    match entry.to_value() {
        Value::Mapping(m) => to_yaml(&m),
        _ => String::new(),
    }
}

/// Save `entry`; returns its key below the cache root (`runs/xx/key/value`).
pub fn save(cache_root: &Path, entry: &LockEntry) -> Result<String> {
    let (k, v) = (key(entry), value(entry));
    let path = entry_path(cache_root, &k, &v);
    if !path.is_file() {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).ctx("create directory", parent)?;
        }
        write_atomic(&path, entry_text(entry).as_bytes())?;
    }
    Ok(format!("{RUNS}/{}/{k}/{v}", &k[..2]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::LockItem;
    use sextant_data::hash::Oid;

    fn entry(out_md5: &str) -> LockEntry {
        let mut params = serde_yaml::Mapping::new();
        params.insert("lr".into(), serde_yaml::from_str("0.1").unwrap());
        LockEntry::new(
            Value::String("python train.py".into()),
            vec![LockItem {
                path: "data.csv".into(),
                md5: Some(Oid::parse("0cc175b9c0f1b6a831c399e269772661").unwrap()),
                size: Some(1),
                ..LockItem::default()
            }],
            vec![("params.yaml".into(), params)],
            vec![LockItem {
                path: "model.bin".into(),
                md5: Some(Oid::parse(out_md5).unwrap()),
                size: Some(3),
                ..LockItem::default()
            }],
        )
    }

    #[test]
    fn key_ignores_outputs_value_does_not() {
        let a = entry("92eb5ffee6ae2fec3ad71c777531578f");
        let b = entry("8d777f385d3dfec8815d20f7496026dc");
        assert_eq!(key(&a), key(&b));
        assert_ne!(value(&a), value(&b));
        assert_eq!(key(&a).len(), 64);
    }

    #[test]
    fn saves_and_loads_the_newest_entry() {
        let dir = tempfile::tempdir().unwrap();
        let a = entry("92eb5ffee6ae2fec3ad71c777531578f");
        let rel = save(dir.path(), &a).unwrap();
        assert!(dir.path().join(&rel).is_file());
        assert_eq!(load_newest(dir.path(), &key(&a)).unwrap(), Some(a));
        assert_eq!(load_newest(dir.path(), "ffff").unwrap(), None);
    }

    #[test]
    fn an_entry_with_a_hostile_hash_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let a = entry("92eb5ffee6ae2fec3ad71c777531578f");
        let rel = save(dir.path(), &a).unwrap();
        let path = dir.path().join(&rel);
        let text = std::fs::read_to_string(&path).unwrap();
        let hostile = text.replace("92eb5ffee6ae2fec3ad71c777531578f", "../../../../etc/passwd");
        assert_ne!(text, hostile);
        let _ = std::fs::remove_file(&path);
        std::fs::write(&path, hostile).unwrap();
        assert_eq!(load_newest(dir.path(), &key(&a)).unwrap(), None);
    }

    #[test]
    fn entry_names_are_checked() {
        let k = "ab".to_string() + &"c".repeat(62);
        let v = "0".repeat(64);
        assert!(is_entry_rel(&format!("ab/{k}/{v}")));
        assert!(!is_entry_rel(&format!("cd/{k}/{v}")));
        assert!(!is_entry_rel(&format!("ab/{k}/../../../x")));
        assert!(!is_entry_rel(&format!("ab/{k}/{v}/x")));
        assert!(!is_entry_rel("../../../../tmp/x"));
        assert!(!is_entry_rel(&format!("ab/{k}/.{}", &v[1..])));
    }
}
