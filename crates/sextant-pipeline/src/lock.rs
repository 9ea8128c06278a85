//! `dvc.lock` (schema 2.0): what each stage last ran with — its command, the hash of every
//! dependency, the params values, the hash of every output — read from DVC's files and
//! written as DVC writes them (key order `cmd`, `deps`, `params`, `outs`; each path entry
//! `path`, `hash: md5`, `md5`, `size`, `nfiles`, `isexec`; entries sorted by path; params
//! files sorted with `params.yaml` first; existing stages kept in place, new ones appended).
//!
//! Every update is a read-modify-write under an exclusive file lock in `.dvc/tmp`, written to
//! a temporary file and renamed over `dvc.lock`, so concurrent `repro`s never lose each
//! other's entries and a killed one never leaves a half-written file.

use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};
use sextant_data::hash::Oid;

use crate::error::{Error, IoContext, Result};
use crate::value::{key_string, to_yaml};

/// The lock file's name.
pub const DVC_LOCK: &str = "dvc.lock";

/// One dependency or output as recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockItem {
    /// The path as written in `dvc.yaml` (relative to the stage's `wdir`).
    pub path: String,
    /// `md5` of a file, or of a directory's manifest plus `.dir` (validated when read: a value
    /// that is not a hash makes the entry malformed, never a path).
    pub md5: Option<Oid>,
    /// Bytes.
    pub size: Option<u64>,
    /// Files, for a directory.
    pub nfiles: Option<u64>,
    /// The file is executable.
    pub isexec: bool,
}

impl LockItem {
    /// As DVC writes it.
    pub fn to_value(&self) -> Value {
        let mut m = Mapping::new();
        m.insert("path".into(), Value::String(self.path.clone()));
        m.insert("hash".into(), Value::String("md5".into()));
        if let Some(md5) = &self.md5 {
            m.insert("md5".into(), Value::String(md5.to_string()));
        }
        if let Some(s) = self.size {
            m.insert("size".into(), Value::Number(s.into()));
        }
        if let Some(n) = self.nfiles {
            m.insert("nfiles".into(), Value::Number(n.into()));
        }
        if self.isexec {
            m.insert("isexec".into(), Value::Bool(true));
        }
        Value::Mapping(m)
    }

    /// Read one item; the error names the field (`md5: "../x" is not an md5 hash ...`).
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        let m = v.as_mapping().ok_or("not a mapping")?;
        let path = m
            .get("path")
            .and_then(Value::as_str)
            .ok_or("no path (a string)")?
            .to_string();
        let md5 = match m.get("md5") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                Some(Oid::parse(s).map_err(|e| format!("path {path:?}: field md5: {e}"))?)
            }
            Some(other) => {
                return Err(format!(
                    "path {path:?}: field md5: {} is not an md5 hash",
                    key_string(other)
                ));
            }
        };
        Ok(Self {
            md5,
            size: m.get("size").and_then(Value::as_u64),
            nfiles: m.get("nfiles").and_then(Value::as_u64),
            isexec: m.get("isexec").and_then(Value::as_bool).unwrap_or(false),
            path,
        })
    }
}

/// One stage's entry.
#[derive(Debug, Clone, PartialEq)]
pub struct LockEntry {
    /// The command as it was (a string or a list).
    pub cmd: Value,
    /// File and directory dependencies, sorted by path.
    pub deps: Vec<LockItem>,
    /// Params file -> key -> value, `params.yaml` first, then by file name.
    pub params: Vec<(String, Mapping)>,
    /// Outputs, sorted by path.
    pub outs: Vec<LockItem>,
}

impl LockEntry {
    /// Build an entry in DVC's order from unsorted parts.
    pub fn new(
        cmd: Value,
        mut deps: Vec<LockItem>,
        mut params: Vec<(String, Mapping)>,
        mut outs: Vec<LockItem>,
    ) -> Self {
        deps.sort_by(|a, b| a.path.cmp(&b.path));
        outs.sort_by(|a, b| a.path.cmp(&b.path));
        params.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(i) = params
            .iter()
            .position(|(f, _)| f == crate::dvcyaml::DEFAULT_PARAMS)
        {
            let p = params.remove(i);
            params.insert(0, p);
        }
        for (_, values) in &mut params {
            let mut kv: Vec<(Value, Value)> = std::mem::take(values).into_iter().collect();
            kv.sort_by_key(|a| key_string(&a.0));
            *values = kv.into_iter().collect();
        }
        Self {
            cmd,
            deps,
            params,
            outs,
        }
    }

    /// As DVC writes it (empty sections left out).
    pub fn to_value(&self) -> Value {
        let mut m = Mapping::new();
        m.insert("cmd".into(), self.cmd.clone());
        if !self.deps.is_empty() {
            m.insert(
                "deps".into(),
                Value::Sequence(self.deps.iter().map(LockItem::to_value).collect()),
            );
        }
        if !self.params.is_empty() {
            let mut p = Mapping::new();
            for (file, values) in &self.params {
                p.insert(Value::String(file.clone()), Value::Mapping(values.clone()));
            }
            m.insert("params".into(), Value::Mapping(p));
        }
        if !self.outs.is_empty() {
            m.insert(
                "outs".into(),
                Value::Sequence(self.outs.iter().map(LockItem::to_value).collect()),
            );
        }
        Value::Mapping(m)
    }

    /// Read an entry (from `dvc.lock` or a run-cache file); the error says which field is
    /// malformed (`outs[0]: path "model.pkl": field md5: "../../x" is not an md5 hash ...`).
    pub fn from_value(v: &Value) -> std::result::Result<Self, String> {
        let m = v.as_mapping().ok_or("not a mapping")?;
        let cmd = m.get("cmd").ok_or("no cmd")?.clone();
        let items = |key: &str| -> std::result::Result<Vec<LockItem>, String> {
            match m.get(key) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Sequence(s)) => s
                    .iter()
                    .enumerate()
                    .map(|(i, v)| LockItem::from_value(v).map_err(|e| format!("{key}[{i}]: {e}")))
                    .collect(),
                _ => Err(format!("{key}: not a list")),
            }
        };
        let params = match m.get("params") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Mapping(p)) => p
                .iter()
                .map(|(f, vals)| {
                    let file = key_string(f);
                    let values = match vals {
                        Value::Mapping(v) => v.clone(),
                        Value::Null => Mapping::new(),
                        _ => return Err(format!("params.{file}: not a mapping")),
                    };
                    Ok((file, values))
                })
                .collect::<std::result::Result<Vec<_>, String>>()?,
            _ => return Err("params: not a mapping".into()),
        };
        Ok(Self {
            cmd,
            deps: items("deps")?,
            params,
            outs: items("outs")?,
        })
    }

    /// The recorded hash of dependency `path`.
    pub fn dep(&self, path: &str) -> Option<&LockItem> {
        self.deps.iter().find(|d| d.path == path)
    }

    /// The recorded hash of output `path`.
    pub fn out(&self, path: &str) -> Option<&LockItem> {
        self.outs.iter().find(|d| d.path == path)
    }

    /// The recorded values of params file `file`.
    pub fn params_of(&self, file: &str) -> Option<&Mapping> {
        self.params.iter().find(|(f, _)| f == file).map(|(_, v)| v)
    }
}

/// A parsed `dvc.lock`.
#[derive(Debug, Clone, Default)]
pub struct LockFile {
    /// The whole document (other top-level keys kept as they are).
    doc: Mapping,
}

impl LockFile {
    /// Read `<root>/dvc.lock` (empty when absent).
    pub fn load(root: &Path) -> Result<Self> {
        let path = root.join(DVC_LOCK);
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).ctx("read", &path),
        }
    }

    /// Parse lock-file text read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let err = |message: String| Error::Lock {
            path: path.to_path_buf(),
            message,
        };
        let doc: Value =
            serde_yaml::from_str(text).map_err(|e| err(format!("not valid YAML: {e}")))?;
        let doc = match doc {
            Value::Null => return Ok(Self::default()),
            Value::Mapping(m) => m,
            _ => return Err(err("expected a mapping".into())),
        };
        match doc.get("schema").map(key_string) {
            Some(s) if s == "2.0" => {}
            Some(other) => {
                return Err(err(format!(
                    "schema {other:?} is not supported (only DVC 2/3's schema 2.0)"
                )));
            }
            None => {
                return Err(err(
                    "no 'schema: 2.0' (a DVC 1 lock file); run `dvc repro` once with DVC 3 to upgrade it"
                        .into(),
                ));
            }
        }
        if let Some(Value::Mapping(stages)) = doc.get("stages") {
            for (name, entry) in stages {
                if let Err(e) = LockEntry::from_value(entry) {
                    return Err(err(format!(
                        "stages.{}.{e}\nhint: this field is not what DVC writes: restore the file \
                         from git (`git checkout -- dvc.lock`) or delete the stage's entry and \
                         run `sextant repro` again",
                        key_string(name)
                    )));
                }
            }
        }
        Ok(Self { doc })
    }

    /// The entry of stage `name`.
    pub fn entry(&self, name: &str) -> Option<LockEntry> {
        self.doc
            .get("stages")
            .and_then(Value::as_mapping)
            .and_then(|s| s.get(name))
            .and_then(|e| LockEntry::from_value(e).ok())
    }

    /// Names of the stages recorded.
    pub fn stage_names(&self) -> Vec<String> {
        self.doc
            .get("stages")
            .and_then(Value::as_mapping)
            .map(|s| s.keys().map(key_string).collect())
            .unwrap_or_default()
    }

    /// Set stage `name`'s entry (in place, or appended).
    pub fn set(&mut self, name: &str, entry: &LockEntry) {
        if self.doc.is_empty() {
            self.doc
                .insert("schema".into(), Value::String("2.0".into()));
        }
        let stages = self
            .doc
            .entry("stages".into())
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        if !stages.is_mapping() {
            *stages = Value::Mapping(Mapping::new());
        }
        if let Value::Mapping(s) = stages {
            s.insert(Value::String(name.to_string()), entry.to_value());
        }
    }

    /// Set stage `name`'s entry; a new stage goes after the recorded stages that come before
    /// it in `order` (the order a sequential run writes them), so the file does not depend on
    /// which parallel stage finished first.
    pub fn set_ordered(&mut self, name: &str, entry: &LockEntry, order: &[String]) {
        let known = self
            .doc
            .get("stages")
            .and_then(Value::as_mapping)
            .is_some_and(|s| s.contains_key(name));
        let rank = |n: &str| order.iter().position(|o| o == n);
        if known || rank(name).is_none() {
            return self.set(name, entry);
        }
        self.set(name, entry);
        let Some(Value::Mapping(stages)) = self.doc.get_mut("stages") else {
            return;
        };
        let mine = rank(name);
        let mut items: Vec<(Value, Value)> = std::mem::take(stages).into_iter().collect();
        let Some(new) = items.pop() else { return };
        // After the last entry that is not later than this stage in `order`.
        let at = items
            .iter()
            .rposition(|(k, _)| rank(&key_string(k)).is_none_or(|r| Some(r) < mine))
            .map_or(0, |i| i + 1);
        items.insert(at, new);
        *stages = items.into_iter().collect();
    }

    /// The text DVC would write.
    pub fn to_text(&self) -> String {
        to_yaml(&self.doc)
    }
}

/// Hold an exclusive lock on `.dvc/tmp/<name>` for as long as the value lives.
pub struct FileLock {
    file: std::fs::File,
    path: PathBuf,
}

impl FileLock {
    /// Take the lock, waiting for other holders (processes or threads).
    pub fn acquire(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).ctx("create directory", parent)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .ctx("open lock file", path)?;
        file.lock().ctx("lock", path)?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Take the lock if it is free now.
    pub fn try_acquire(path: &Path) -> Result<Option<Self>> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).ctx("create directory", parent)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .ctx("open lock file", path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self {
                file,
                path: path.to_path_buf(),
            })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e).ctx("lock", path),
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        if let Err(e) = self.file.unlock() {
            tracing::debug!(path = %self.path.display(), error = %e, "unlock failed");
        }
    }
}

/// Write `bytes` to `path` through a temporary file beside it and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}.{n}.{nanos:x}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes).ctx("write", &tmp)?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).ctx("rename into", path);
    }
    Ok(())
}

/// Record `entry` for stage `name` in `<root>/dvc.lock`: read-modify-write under the lock file
/// `<dvc_dir>/tmp/sextant-dvc.lock.lock`, atomic rename.
/// A new stage is placed by `order` ([`LockFile::set_ordered`]).
pub fn update(
    root: &Path,
    dvc_dir: &Path,
    name: &str,
    entry: &LockEntry,
    order: &[String],
) -> Result<()> {
    let _guard = FileLock::acquire(&dvc_dir.join("tmp").join("sextant-dvc.lock.lock"))?;
    let mut lock = LockFile::load(root)?;
    lock.set_ordered(name, entry, order);
    write_atomic(&root.join(DVC_LOCK), lock.to_text().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    // What DVC 3.67 wrote for a two-stage pipeline (abridged to the fields that matter).
    const DVC_WROTE: &str = "schema: '2.0'
stages:
  prepare:
    cmd: python prepare.py
    deps:
    - path: data/raw
      hash: md5
      md5: 3a3d2c1e0f5b4a697887766554433221.dir
      size: 40
      nfiles: 2
    - path: prepare.py
      hash: md5
      md5: 0cc175b9c0f1b6a831c399e269772661
      size: 1
      isexec: true
    params:
      params.yaml:
        prepare.seed: 20170428
        prepare.split: 0.2
    outs:
    - path: data/prepared
      hash: md5
      md5: 92eb5ffee6ae2fec3ad71c777531578f.dir
      size: 10
      nfiles: 1
";

    #[test]
    fn reads_and_writes_dvcs_format_byte_for_byte() {
        let lock = LockFile::parse(DVC_WROTE, Path::new("dvc.lock")).unwrap();
        let e = lock.entry("prepare").unwrap();
        assert_eq!(e.deps.len(), 2);
        assert!(e.deps[1].isexec);
        assert_eq!(e.outs[0].nfiles, Some(1));
        assert_eq!(lock.to_text(), DVC_WROTE);
        // Rebuilding the entry from unsorted parts gives the same text.
        let rebuilt = LockEntry::new(
            e.cmd.clone(),
            vec![e.deps[1].clone(), e.deps[0].clone()],
            e.params.clone(),
            e.outs.clone(),
        );
        let mut again = LockFile::default();
        again.set("prepare", &rebuilt);
        assert_eq!(again.to_text(), DVC_WROTE);
    }

    #[test]
    fn new_stages_are_placed_in_plan_order() {
        let order: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let e = LockEntry::new(Value::String("x".into()), vec![], vec![], vec![]);
        let mut lock = LockFile::default();
        for n in ["c", "a", "d", "b"] {
            lock.set_ordered(n, &e, &order);
        }
        assert_eq!(lock.stage_names(), ["a", "b", "c", "d"]);
        // Stages already recorded (or unknown to the plan) keep their place.
        let mut lock = LockFile::default();
        lock.set("z", &e);
        lock.set("c", &e);
        lock.set_ordered("a", &e, &order);
        lock.set_ordered("c", &e, &order);
        assert_eq!(lock.stage_names(), ["z", "a", "c"]);
    }

    #[test]
    fn refuses_other_schemas() {
        let e = LockFile::parse("prepare:\n  cmd: x\n", Path::new("dvc.lock")).unwrap_err();
        assert!(e.to_string().contains("schema"), "{e}");
        let e = LockFile::parse("schema: '3.0'\n", Path::new("dvc.lock")).unwrap_err();
        assert!(e.to_string().contains("3.0"), "{e}");
    }

    #[test]
    fn refuses_hashes_that_are_not_hashes_naming_stage_and_field() {
        for (bad, field) in [
            ("../../../../etc/passwd", "outs[0]"),
            ("0CC175B9C0F1B6A831C399E269772661", "outs[0]"),
            ("0cc175b9c0f1b6a831c399e26977266", "outs[0]"),
            ("0cc175b9c0f1b6a831c399e269772661/../../x", "outs[0]"),
            ("[1, 2]", "outs[0]"),
        ] {
            let text = DVC_WROTE.replace("92eb5ffee6ae2fec3ad71c777531578f.dir", bad);
            let e = LockFile::parse(&text, Path::new("dvc.lock"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("dvc.lock")
                    && e.contains(&format!("stages.prepare.{field}"))
                    && e.contains("field md5")
                    && e.contains("data/prepared"),
                "{bad}: {e}"
            );
        }
        let text = DVC_WROTE.replace("0cc175b9c0f1b6a831c399e269772661", "zz");
        let e = LockFile::parse(&text, Path::new("dvc.lock"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("stages.prepare.deps[1]"), "{e}");
    }

    #[test]
    fn concurrent_updates_keep_every_entry() {
        let dir = tempfile::tempdir().unwrap();
        let dvc = dir.path().join(".dvc");
        std::thread::scope(|s| {
            for i in 0..8 {
                let (root, dvc) = (dir.path(), &dvc);
                s.spawn(move || {
                    let e =
                        LockEntry::new(Value::String(format!("echo {i}")), vec![], vec![], vec![]);
                    update(root, dvc, &format!("s{i}"), &e, &[]).unwrap();
                });
            }
        });
        let lock = LockFile::load(dir.path()).unwrap();
        assert_eq!(lock.stage_names().len(), 8);
    }
}
