//! Is a stage up to date, and if not, why: DVC's rule — a stage is stale when its command, a
//! dependency's hash, a param's value or an output differs from its `dvc.lock` entry, or it
//! is `always_changed` (a `frozen` stage only checks its outputs).

use std::path::PathBuf;
use std::sync::Mutex;

use serde::Serialize;
use serde_yaml::Value;

use sextant_data::NoProgress;
use sextant_data::repo::{Hashed, Repo};
use sextant_data::state::StatCache;

use crate::dvcyaml::{PipelineFile, Stage};
use crate::error::{Error, Result};
use crate::graph::Pipeline;
use crate::lock::{LockEntry, LockItem};
use crate::params;
use crate::value::py_eq;

/// A repository with its pipeline, ready for status and repro.
pub struct Workspace {
    /// The DVC repository (cache, config, remotes).
    pub repo: Repo,
    /// The validated stages of `dvc.yaml`.
    pub pipeline: Pipeline,
    state: Mutex<StatCache>,
}

impl Workspace {
    /// Open the repository containing `start` and its `dvc.yaml`. `Ok(None)` when the
    /// repository has no `dvc.yaml`.
    pub fn open(start: &std::path::Path) -> Result<Option<Self>> {
        let repo = Repo::open(start)?;
        let Some(file) = PipelineFile::load(&repo.root)? else {
            return Ok(None);
        };
        let pipeline = Pipeline::new(file)?;
        let state = Mutex::new(repo.stat_cache()?);
        Ok(Some(Self {
            repo,
            pipeline,
            state,
        }))
    }

    /// Absolute path of a root-relative path.
    pub fn abs(&self, rel: &str) -> PathBuf {
        self.repo.root.join(rel)
    }

    /// Hash what is at `rel` now (through the stat cache).
    pub fn hash(&self, rel: &str) -> Result<Hashed> {
        let abs = self.abs(rel);
        let mut state = self
            .state
            .lock()
            .map_err(|_| Error::Graph("the stat cache lock was poisoned by a panic".into()))?;
        Ok(self.repo.hash_path(&abs, &mut state, &NoProgress)?)
    }

    /// Write the stat cache's new entries.
    pub fn flush_state(&self) -> Result<()> {
        if let Ok(mut s) = self.state.lock() {
            s.flush()?;
        }
        Ok(())
    }

    /// The status of every stage (or the named ones) against `dvc.lock`.
    pub fn status(&self, targets: &[String]) -> Result<Vec<StageStatus>> {
        let lock = crate::lock::LockFile::load(&self.repo.root)?;
        let mut out = Vec::new();
        for i in self.pipeline.targets(targets)? {
            let s = &self.pipeline.stages[i];
            out.push(stage_status(self, s, lock.entry(&s.name).as_ref())?);
        }
        self.flush_state()?;
        Ok(out)
    }
}

/// A dependency or output that changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Relative to the repository root.
    pub path: String,
    /// `modified`, `deleted`, `new` or `not in cache`.
    pub change: &'static str,
}

/// A param (or a whole params file) that changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParamChange {
    /// The params file, relative to the root.
    pub file: String,
    /// The key; `None` when the whole file is `new` (not in the lock) or `deleted`.
    pub key: Option<String>,
    /// `modified`, `deleted` or `new`.
    pub change: &'static str,
}

/// Why a stage is stale (all empty/false: up to date).
#[derive(Debug, Clone, Default, Serialize)]
pub struct StageStatus {
    /// The stage.
    pub stage: String,
    /// No `dvc.lock` entry: it never ran.
    pub never_run: bool,
    /// The stage is frozen (only its outputs are checked).
    pub frozen: bool,
    /// Dependencies whose content differs from the lock.
    pub changed_deps: Vec<Change>,
    /// Params whose value differs from the lock.
    pub changed_params: Vec<ParamChange>,
    /// Outputs that differ from the lock or are missing from the cache.
    pub changed_outs: Vec<Change>,
    /// The command differs from the lock.
    pub changed_command: bool,
    /// The stage is `always_changed`.
    pub always_changed: bool,
}

impl StageStatus {
    /// Anything differs.
    pub fn is_stale(&self) -> bool {
        self.never_run
            || !self.changed_deps.is_empty()
            || !self.changed_params.is_empty()
            || !self.changed_outs.is_empty()
            || self.changed_command
            || self.always_changed
    }

    /// One line per reason, for people.
    pub fn reasons(&self) -> Vec<String> {
        let mut r = Vec::new();
        if self.never_run {
            r.push("never ran (no entry in dvc.lock)".to_string());
            return r;
        }
        if self.changed_command {
            r.push("command changed".into());
        }
        for d in &self.changed_deps {
            r.push(format!("dependency {} {}", d.path, d.change));
        }
        for p in &self.changed_params {
            match &p.key {
                Some(k) => r.push(format!("param {k} ({}) {}", p.file, p.change)),
                None => r.push(format!("params file {} {}", p.file, p.change)),
            }
        }
        for o in &self.changed_outs {
            r.push(format!("output {} {}", o.path, o.change));
        }
        if self.always_changed {
            r.push("always changed".into());
        }
        r
    }

    /// DVC's `status --json` value for this stage:
    /// `[{"changed deps": {...}}, {"changed outs": {...}}, "changed command", "always changed"]`.
    pub fn to_dvc_json(&self) -> serde_json::Value {
        use serde_json::{Map, Value as J, json};
        let mut items = Vec::new();
        let mut deps = Map::new();
        for d in &self.changed_deps {
            deps.insert(d.path.clone(), json!(d.change));
        }
        for p in &self.changed_params {
            match &p.key {
                None => {
                    deps.insert(p.file.clone(), json!(p.change));
                }
                Some(k) => {
                    let e = deps
                        .entry(p.file.clone())
                        .or_insert_with(|| J::Object(Map::new()));
                    if let J::Object(m) = e {
                        m.insert(k.clone(), json!(p.change));
                    }
                }
            }
        }
        if !deps.is_empty() {
            items.push(json!({ "changed deps": deps }));
        }
        if !self.changed_outs.is_empty() {
            let outs: Map<String, J> = self
                .changed_outs
                .iter()
                .map(|o| (o.path.clone(), json!(o.change)))
                .collect();
            items.push(json!({ "changed outs": outs }));
        }
        if self.always_changed {
            items.push(json!("always changed"));
        }
        if self.changed_command {
            items.push(json!("changed command"));
        }
        J::Array(items)
    }
}

/// The lock item for what is at a path now (`None` when nothing is there).
pub fn lock_item(def: &str, h: &Hashed) -> Option<LockItem> {
    match h {
        Hashed::Missing => None,
        Hashed::File { md5, size, exec } => Some(LockItem {
            path: def.to_string(),
            md5: Some(md5.clone()),
            size: Some(*size),
            nfiles: None,
            isexec: *exec,
        }),
        Hashed::Dir { manifest, size } => Some(LockItem {
            path: def.to_string(),
            md5: Some(manifest.oid()),
            size: Some(*size),
            nfiles: Some(manifest.len() as u64),
            isexec: false,
        }),
    }
}

/// Compare stage `s` with its lock entry.
pub fn stage_status(ws: &Workspace, s: &Stage, entry: Option<&LockEntry>) -> Result<StageStatus> {
    let mut st = StageStatus {
        stage: s.name.clone(),
        never_run: entry.is_none(),
        frozen: s.frozen,
        ..StageStatus::default()
    };
    let empty = LockEntry::new(Value::Null, vec![], vec![], vec![]);
    let e = entry.unwrap_or(&empty);
    if !s.frozen {
        for d in &s.deps {
            let now = ws.hash(&d.rel)?;
            let recorded = e.dep(&d.def).and_then(|i| i.md5.clone());
            let change = match now.oid() {
                None => Some("deleted"),
                Some(oid) if Some(&oid) != recorded.as_ref() => Some("modified"),
                Some(_) => None,
            };
            if let Some(change) = change {
                st.changed_deps.push(Change {
                    path: d.rel.clone(),
                    change,
                });
            }
        }
        for p in &s.params {
            st.changed_params
                .extend(params_status(ws, p, e.params_of(&p.path.def))?);
        }
        st.always_changed = s.always_changed;
    }
    for o in &s.outs {
        let recorded = e.out(&o.path.def).and_then(|i| i.md5.clone());
        if let Some(md5) = &recorded
            && o.cache
            && !ws.repo.all_in_cache(md5)?
        {
            st.changed_outs.push(Change {
                path: o.path.rel.clone(),
                change: "not in cache",
            });
            continue;
        }
        let now = ws.hash(&o.path.rel)?;
        let change = match (now.oid(), &recorded) {
            (None, _) => Some("deleted"),
            (Some(oid), Some(r)) if &oid == r => None,
            (Some(_), _) => Some("modified"),
        };
        if let Some(change) = change {
            st.changed_outs.push(Change {
                path: o.path.rel.clone(),
                change,
            });
        }
    }
    if let Some(e) = entry {
        st.changed_command = !py_eq(&e.cmd, &s.cmd.to_value());
    }
    Ok(st)
}

fn params_status(
    ws: &Workspace,
    p: &crate::dvcyaml::ParamsDep,
    recorded: Option<&serde_yaml::Mapping>,
) -> Result<Vec<ParamChange>> {
    let abs = ws.abs(&p.path.rel);
    let whole = |change| {
        vec![ParamChange {
            file: p.path.rel.clone(),
            key: None,
            change,
        }]
    };
    if !abs.is_file() {
        return Ok(whole("deleted"));
    }
    let Some(recorded) = recorded else {
        return Ok(whole("new"));
    };
    let file = params::load_file(&abs)?;
    let actual = params::values(&file, p.keys.as_deref());
    let keys: Vec<String> = match &p.keys {
        Some(k) if !k.is_empty() => k.clone(),
        _ => {
            let mut k: Vec<String> = actual.keys().map(crate::value::key_string).collect();
            for r in recorded.keys().map(crate::value::key_string) {
                if !k.contains(&r) {
                    k.push(r);
                }
            }
            k
        }
    };
    let mut out = Vec::new();
    for k in keys {
        let a = actual.get(k.as_str());
        let r = recorded.get(k.as_str());
        let change = match (a, r) {
            (None, _) => Some("deleted"),
            (Some(_), None) => Some("new"),
            (Some(a), Some(r)) if !py_eq(a, r) => Some("modified"),
            _ => None,
        };
        if let Some(change) = change {
            out.push(ParamChange {
                file: p.path.rel.clone(),
                key: Some(k),
                change,
            });
        }
    }
    Ok(out)
}

/// The cached outputs `dvc.lock` records, as data-layer tracked outputs (for `sextant data
/// push/fetch/pull`); with `for_push`, only those that may be pushed.
pub fn lock_outputs(ws: &Workspace, for_push: bool) -> Result<Vec<sextant_data::repo::Tracked>> {
    let lock = crate::lock::LockFile::load(&ws.repo.root)?;
    let mut out = Vec::new();
    for s in &ws.pipeline.stages {
        let Some(e) = lock.entry(&s.name) else {
            continue;
        };
        for o in s.outs.iter().filter(|o| o.cache && (o.push || !for_push)) {
            if let Some(i) = e.out(&o.path.def).filter(|i| i.md5.is_some()) {
                out.push(crate::repro::tracked(ws, &o.path.rel, i));
            }
        }
    }
    Ok(out)
}

/// What [`checkout_lock_outputs`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LockCheckout {
    /// Outputs written from the cache.
    pub written: Vec<String>,
    /// Outputs whose objects are not in the cache (pull them).
    pub missing: Vec<String>,
    /// Outputs left alone: their content differs and is not in the cache (use force).
    pub kept: Vec<String>,
}

/// Make the outputs `dvc.lock` records match it, from the cache. A workspace output whose
/// content is not in the cache is kept unless `force`.
pub fn checkout_lock_outputs(ws: &Workspace, force: bool) -> Result<LockCheckout> {
    let mut r = LockCheckout::default();
    for t in lock_outputs(ws, false)? {
        let Some(md5) = t.out.md5.as_ref() else {
            continue;
        };
        if !ws.repo.all_in_cache(md5)? {
            r.missing.push(t.rel);
            continue;
        }
        match ws.hash(&t.rel)?.oid() {
            Some(now) if now == *md5 => continue,
            Some(now) if !force && !ws.repo.all_in_cache(&now)? => {
                r.kept.push(t.rel);
                continue;
            }
            _ => {}
        }
        crate::repro::replace_from_cache(&ws.repo.cache, md5, &t.abs, t.out.isexec)?;
        r.written.push(t.rel);
    }
    ws.flush_state()?;
    Ok(r)
}
