//! `dvc.yaml`: stages with `cmd`, `wdir`, `deps`, `params`, `outs`, `metrics`, `plots`,
//! `frozen`, `always_changed`, top-level and stage-level `vars`, `${}` interpolation, and the
//! generated stages of `foreach`/`do` (`train@tanker`, `train@0`) and `matrix`
//! (`train@{a}-{b}`), resolved exactly as `dvc/parsing/__init__.py` resolves them.

use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use crate::error::{Error, Result};
use crate::interp::{self, Context, InterpError};
use crate::params;
use crate::value::scalar_to_str;

/// The pipeline file's name.
pub const DVC_YAML: &str = "dvc.yaml";
/// The default params file, loaded into the variables when it exists.
pub const DEFAULT_PARAMS: &str = "params.yaml";

const TOP_KEYS: &[&str] = &[
    "stages",
    "vars",
    "params",
    "metrics",
    "plots",
    "artifacts",
    "datasets",
];
const STAGE_KEYS: &[&str] = &[
    "cmd",
    "wdir",
    "deps",
    "params",
    "outs",
    "metrics",
    "plots",
    "vars",
    "frozen",
    "meta",
    "desc",
    "always_changed",
];
const OUT_FLAGS: &[&str] = &[
    "cache",
    "persist",
    "push",
    "remote",
    "desc",
    "type",
    "labels",
    "meta",
    "checkpoint",
    // plot properties
    "template",
    "x",
    "y",
    "x_label",
    "y_label",
    "title",
    "header",
];

/// A stage's command: one string (possibly several lines) or a list of commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    /// `cmd: python train.py`
    One(String),
    /// `cmd: [a, b]`
    Many(Vec<String>),
}

impl Cmd {
    /// The commands run one after the other (a multi-line string runs line by line).
    pub fn lines(&self) -> Vec<String> {
        match self {
            Cmd::One(s) => s.lines().map(str::to_string).collect(),
            Cmd::Many(v) => v.clone(),
        }
    }
    /// As a YAML value (for `dvc.lock`).
    pub fn to_value(&self) -> Value {
        match self {
            Cmd::One(s) => Value::String(s.clone()),
            Cmd::Many(v) => Value::Sequence(v.iter().cloned().map(Value::String).collect()),
        }
    }
    /// One line for messages.
    pub fn display(&self) -> String {
        self.lines().join(" && ")
    }
}

/// A path as written in `dvc.yaml` (relative to the stage's `wdir`) and relative to the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRef {
    /// As written (the key in `dvc.lock`).
    pub def: String,
    /// Normalised, `/`-separated, relative to the repository root.
    pub rel: String,
}

/// What kind of output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutKind {
    /// `outs`
    Out,
    /// `metrics`
    Metric,
    /// `plots`
    Plot,
}

/// One output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Where it is.
    pub path: PathRef,
    /// `cache: false` keeps it out of the cache (and in git).
    pub cache: bool,
    /// `persist: true`: not removed before the command runs.
    pub persist: bool,
    /// `push: false`: never pushed to remotes.
    pub push: bool,
    /// Which section it came from.
    pub kind: OutKind,
}

/// A params dependency: a file and the keys used (`None`: the whole file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamsDep {
    /// The file.
    pub path: PathRef,
    /// Dotted keys, in the order written; `None` tracks the whole file.
    pub keys: Option<Vec<String>>,
}

/// One resolved stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The name, `train` or a generated `train@tanker`.
    pub name: String,
    /// What it runs.
    pub cmd: Cmd,
    /// The folder the command runs in, relative to the root (`""` is the root).
    pub wdir: String,
    /// File and directory dependencies.
    pub deps: Vec<PathRef>,
    /// Params dependencies.
    pub params: Vec<ParamsDep>,
    /// Outputs, metrics and plots.
    pub outs: Vec<Output>,
    /// Never run; outputs only verified.
    pub frozen: bool,
    /// Runs every time.
    pub always_changed: bool,
    /// Free-text description.
    pub desc: Option<String>,
}

/// The resolved `dvc.yaml`.
#[derive(Debug, Clone)]
pub struct PipelineFile {
    /// The stages in file order (generated stages in their generated order).
    pub stages: Vec<Stage>,
    /// Group name -> generated stage names (`foreach`/`matrix`).
    pub groups: Vec<(String, Vec<String>)>,
}

impl PipelineFile {
    /// Read and resolve `<root>/dvc.yaml`. `Ok(None)` when there is no such file.
    pub fn load(root: &Path) -> Result<Option<Self>> {
        let path = root.join(DVC_YAML);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(Error::Io {
                    op: "read",
                    path,
                    source,
                });
            }
        };
        Self::parse(&text, root).map(Some)
    }

    /// Resolve the text of `dvc.yaml` found in `root` (vars files are read relative to it).
    pub fn parse(text: &str, root: &Path) -> Result<Self> {
        let doc: Value = serde_yaml::from_str(text).map_err(|e| Error::Syntax {
            path: PathBuf::from(DVC_YAML),
            message: format!("not valid YAML: {e}"),
        })?;
        let top = match doc {
            Value::Null => Mapping::new(),
            Value::Mapping(m) => m,
            _ => return Err(def_err("", "expected a mapping with a 'stages' key")),
        };
        for k in top.keys() {
            let name = k.as_str().unwrap_or("");
            if !TOP_KEYS.contains(&name) {
                return Err(def_err(
                    &scalar_to_str(k),
                    &format!(
                        "unknown top-level key (expected one of: {})",
                        TOP_KEYS.join(", ")
                    ),
                ));
            }
        }
        let mut r = Resolver {
            root: root.to_path_buf(),
            ctx: Context::default(),
            imports: Vec::new(),
        };
        if root.join(DEFAULT_PARAMS).is_file() {
            r.merge_file(DEFAULT_PARAMS, "", "vars")?;
        }
        if let Some(vars) = top.get("vars") {
            r.load_vars(vars, "", "vars")?;
        }
        let mut stages = Vec::new();
        let mut groups = Vec::new();
        let defs = match top.get("stages") {
            None | Some(Value::Null) => Mapping::new(),
            Some(Value::Mapping(m)) => m.clone(),
            Some(_) => return Err(def_err("stages", "expected a mapping of stage names")),
        };
        for (name, def) in &defs {
            let Some(name) = name.as_str() else {
                return Err(def_err("stages", "stage names must be strings"));
            };
            check_name(name)?;
            let Value::Mapping(def) = def else {
                return Err(def_err(
                    &format!("stages.{name}"),
                    "expected a mapping (cmd, deps, outs, ...)",
                ));
            };
            if def.contains_key("matrix") {
                let generated = r.matrix(name, def)?;
                groups.push((
                    name.to_string(),
                    generated.iter().map(|s| s.name.clone()).collect(),
                ));
                stages.extend(generated);
            } else if def.contains_key("foreach") {
                let generated = r.foreach(name, def)?;
                groups.push((
                    name.to_string(),
                    generated.iter().map(|s| s.name.clone()).collect(),
                ));
                stages.extend(generated);
            } else {
                check_stage_keys(name, def, &[])?;
                check_syntax(name, def)?;
                let ctx = r.ctx.clone();
                stages.push(r.entry(name, def, ctx)?);
            }
        }
        let mut seen = std::collections::HashSet::new();
        for s in &stages {
            if !seen.insert(s.name.clone()) {
                return Err(def_err(
                    &format!("stages.{}", s.name),
                    "this stage name is generated twice",
                ));
            }
        }
        Ok(Self { stages, groups })
    }
}

fn def_err(at: &str, message: &str) -> Error {
    Error::Definition {
        file: DVC_YAML.into(),
        at: at.into(),
        message: message.into(),
    }
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains(['\\', '/', '@', ':']) {
        return Err(def_err(
            &format!("stages.{name}"),
            "a stage name may not be empty or contain '/', '\\', '@' or ':'",
        ));
    }
    Ok(())
}

fn check_stage_keys(name: &str, def: &Mapping, extra: &[&str]) -> Result<()> {
    for k in def.keys() {
        let key = k.as_str().unwrap_or("");
        if !STAGE_KEYS.contains(&key) && !extra.contains(&key) {
            let mut allowed: Vec<&str> = STAGE_KEYS.to_vec();
            allowed.extend_from_slice(extra);
            return Err(def_err(
                &format!("stages.{name}"),
                &format!(
                    "unknown key '{}' (expected one of: {})",
                    scalar_to_str(k),
                    allowed.join(", ")
                ),
            ));
        }
    }
    if !def.contains_key("cmd") {
        return Err(def_err(
            &format!("stages.{name}"),
            "required key 'cmd' is missing",
        ));
    }
    Ok(())
}

fn check_syntax(name: &str, def: &Mapping) -> Result<()> {
    fn walk(v: &Value) -> Result<(), String> {
        match v {
            Value::String(s) => interp::check_syntax(s),
            Value::Sequence(s) => s.iter().try_for_each(walk),
            Value::Mapping(m) => m.iter().try_for_each(|(k, v)| {
                walk(k)?;
                walk(v)
            }),
            _ => Ok(()),
        }
    }
    for (k, v) in def {
        walk(v).map_err(|m| def_err(&format!("stages.{name}.{}", scalar_to_str(k)), &m))?;
    }
    Ok(())
}

fn no_interpolation(v: &Value, at: &str) -> Result<()> {
    match v {
        Value::String(s) if interp::is_interpolated(s) => {
            Err(def_err(at, "interpolating is not allowed in vars"))
        }
        Value::Sequence(s) => s.iter().try_for_each(|x| no_interpolation(x, at)),
        Value::Mapping(m) => m.iter().try_for_each(|(k, v)| {
            no_interpolation(k, at)?;
            no_interpolation(v, at)
        }),
        _ => Ok(()),
    }
}

/// Files merged into a context, with the keys taken (`None`: all).
type Imports = Vec<(String, Option<Vec<String>>)>;

struct Resolver {
    root: PathBuf,
    ctx: Context,
    /// Files merged into the top-level context, with the keys taken (`None`: all).
    imports: Imports,
}

/// Join a relative path onto a `/`-separated base and normalise it (`..` and `.`).
fn join_rel(base: &str, p: &str) -> Option<String> {
    let mut parts: Vec<&str> = if p.starts_with('/') {
        return None;
    } else {
        base.split('/').filter(|s| !s.is_empty()).collect()
    };
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

fn merge(into: &mut Mapping, update: &Mapping, at: &str, reserved: &[String]) -> Result<()> {
    for (k, v) in update {
        let name = scalar_to_str(k);
        if reserved.contains(&name) {
            return Err(def_err(
                at,
                &format!("attempted to modify reserved key '{name}'"),
            ));
        }
        if let Some(existing) = into.get_mut(k) {
            match (existing, v) {
                (Value::Mapping(a), Value::Mapping(b)) => merge(a, b, at, &[])?,
                _ => {
                    return Err(def_err(
                        at,
                        &format!("cannot redefine '{name}': it is already defined"),
                    ));
                }
            }
        } else {
            into.insert(k.clone(), v.clone());
        }
    }
    Ok(())
}

impl Resolver {
    fn merge_file(&mut self, item: &str, wdir: &str, at: &str) -> Result<()> {
        let mut ctx = std::mem::take(&mut self.ctx);
        let r = merge_file_into(
            &self.root,
            &mut ctx,
            Some(&mut self.imports),
            item,
            wdir,
            at,
            &[],
        );
        self.ctx = ctx;
        r
    }

    fn load_vars(&mut self, vars: &Value, wdir: &str, at: &str) -> Result<()> {
        let mut ctx = std::mem::take(&mut self.ctx);
        let r = load_vars_into(
            &self.root,
            &mut ctx,
            Some(&mut self.imports),
            vars,
            wdir,
            at,
            &[],
        );
        self.ctx = ctx;
        r
    }

    /// Resolve one plain stage definition with `ctx`.
    fn entry(&self, name: &str, def: &Mapping, mut ctx: Context) -> Result<Stage> {
        let at = |key: &str| format!("stages.{name}.{key}");
        let ierr = |key: &str, e: InterpError| def_err(&at(key), &e.to_string());
        let wdir = match def.get("wdir") {
            None | Some(Value::Null) => String::new(),
            Some(w) => {
                let v = ctx.resolve(w, Some("wdir")).map_err(|e| ierr("wdir", e))?;
                let Value::String(s) = v else {
                    return Err(def_err(&at("wdir"), "expected a string"));
                };
                join_rel("", &s).ok_or_else(|| {
                    def_err(&at("wdir"), &format!("'{s}' is outside the repository"))
                })?
            }
        };
        if let Some(vars) = def.get("vars") {
            let reserved: Vec<String> = ["item", "key"]
                .iter()
                .filter(|k| ctx.data.contains_key(**k))
                .map(|k| k.to_string())
                .collect();
            load_vars_into(
                &self.root,
                &mut ctx,
                None,
                vars,
                &wdir,
                &at("vars"),
                &reserved,
            )?;
        }
        let mut resolved = Mapping::new();
        for (k, v) in def {
            let key = k.as_str().unwrap_or("");
            if key == "vars" {
                continue;
            }
            resolved.insert(
                k.clone(),
                ctx.resolve(v, Some(key)).map_err(|e| ierr(key, e))?,
            );
        }
        build_stage(name, &resolved, wdir)
    }

    fn foreach(&self, name: &str, def: &Mapping) -> Result<Vec<Stage>> {
        for k in def.keys() {
            let key = k.as_str().unwrap_or("");
            if key != "foreach" && key != "do" {
                return Err(def_err(
                    &format!("stages.{name}"),
                    &format!(
                        "unknown key '{}' next to foreach (expected only foreach and do)",
                        scalar_to_str(k)
                    ),
                ));
            }
        }
        let Some(Value::Mapping(template)) = def.get("do") else {
            return Err(def_err(
                &format!("stages.{name}"),
                "foreach needs a 'do' mapping (the stage template)",
            ));
        };
        check_stage_keys(name, template, &[])?;
        check_syntax(name, template)?;
        let data = def.get("foreach").cloned().unwrap_or(Value::Null);
        let iterable = self
            .ctx
            .resolve(&data, None)
            .map_err(|e| def_err(&format!("stages.{name}.foreach"), &e.to_string()))?;
        let (pairs, is_map): (Vec<(String, Value)>, bool) = match &iterable {
            Value::Mapping(m) => (
                m.iter()
                    .map(|(k, v)| (scalar_to_str(k), v.clone()))
                    .collect(),
                true,
            ),
            Value::Sequence(s) => {
                let composite = s
                    .iter()
                    .any(|v| matches!(v, Value::Sequence(_) | Value::Mapping(_)));
                let pairs: Vec<(String, Value)> = s
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let key = if composite {
                            i.to_string()
                        } else {
                            scalar_to_str(v)
                        };
                        (key, v.clone())
                    })
                    .collect();
                (pairs, false)
            }
            other => {
                return Err(def_err(
                    &format!("stages.{name}.foreach"),
                    &format!("expected a list or a mapping, got {}", type_name(other)),
                ));
            }
        };
        let mut out: Vec<Stage> = Vec::new();
        for (key, value) in pairs {
            let generated = format!("{name}@{key}");
            // A later item with the same key replaces the earlier one (a dict's semantics).
            out.retain(|s| s.name != generated);
            let mut ctx = self.ctx.clone();
            ctx.data.insert(Value::String("item".into()), value);
            if is_map {
                ctx.data
                    .insert(Value::String("key".into()), Value::String(key.clone()));
            }
            out.push(self.entry(&generated, template, ctx)?);
        }
        Ok(out)
    }

    fn matrix(&self, name: &str, def: &Mapping) -> Result<Vec<Stage>> {
        if def.contains_key("foreach") || def.contains_key("do") {
            return Err(def_err(
                &format!("stages.{name}"),
                "matrix cannot be combined with foreach/do",
            ));
        }
        check_stage_keys(name, def, &["matrix"])?;
        let mut template = def.clone();
        let data = template.remove("matrix").unwrap_or(Value::Null);
        check_syntax(name, &template)?;
        let at = format!("stages.{name}.matrix");
        let Value::Mapping(m) = self
            .ctx
            .resolve(&data, None)
            .map_err(|e| def_err(&at, &e.to_string()))?
        else {
            return Err(def_err(&at, "expected a mapping of names to lists"));
        };
        let mut axes: Vec<(String, Vec<Value>)> = Vec::new();
        for (k, v) in &m {
            let Value::Sequence(items) = v else {
                return Err(def_err(
                    &format!("{at}.{}", scalar_to_str(k)),
                    &format!("expected a list, got {}", type_name(v)),
                ));
            };
            axes.push((scalar_to_str(k), items.clone()));
        }
        // The product in order, the last axis varying fastest (itertools.product).
        let mut combos: Vec<Vec<usize>> = vec![Vec::new()];
        for (_, items) in &axes {
            let mut next = Vec::new();
            for c in &combos {
                for i in 0..items.len() {
                    let mut c = c.clone();
                    c.push(i);
                    next.push(c);
                }
            }
            combos = next;
        }
        let mut out: Vec<Stage> = Vec::new();
        for combo in combos {
            let mut item = Mapping::new();
            let mut fragments = Vec::new();
            for ((k, items), &i) in axes.iter().zip(&combo) {
                let v = &items[i];
                item.insert(Value::String(k.clone()), v.clone());
                fragments.push(if matches!(v, Value::Sequence(_) | Value::Mapping(_)) {
                    format!("{k}{i}")
                } else {
                    scalar_to_str(v)
                });
            }
            let key = fragments.join("-");
            let generated = format!("{name}@{key}");
            out.retain(|s| s.name != generated);
            let mut ctx = self.ctx.clone();
            ctx.data
                .insert(Value::String("key".into()), Value::String(key.clone()));
            ctx.data
                .insert(Value::String("item".into()), Value::Mapping(item));
            out.push(self.entry(&generated, &template, ctx)?);
        }
        Ok(out)
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Sequence(_) => "list",
        Value::Mapping(_) => "dict",
        Value::Tagged(_) => "tagged value",
    }
}

fn load_vars_into(
    root: &Path,
    ctx: &mut Context,
    mut imports: Option<&mut Imports>,
    vars: &Value,
    wdir: &str,
    at: &str,
    reserved: &[String],
) -> Result<()> {
    no_interpolation(vars, at)?;
    let Value::Sequence(items) = vars else {
        return Err(def_err(at, "expected a list of files and mappings"));
    };
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(s) => {
                merge_file_into(root, ctx, imports.as_deref_mut(), s, wdir, at, reserved)?
            }
            Value::Mapping(m) => merge(&mut ctx.data, m, &format!("{at}[{i}]"), reserved)?,
            other => {
                return Err(def_err(
                    &format!("{at}[{i}]"),
                    &format!(
                        "expected a file name or a mapping, got {}",
                        type_name(other)
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn merge_file_into(
    root: &Path,
    ctx: &mut Context,
    imports: Option<&mut Imports>,
    item: &str,
    wdir: &str,
    at: &str,
    reserved: &[String],
) -> Result<()> {
    let (file, keys) = match item.split_once(':') {
        Some((f, k)) => (
            f,
            Some(
                k.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect::<Vec<_>>(),
            )
            .filter(|k: &Vec<String>| !k.is_empty()),
        ),
        None => (item, None),
    };
    let rel = join_rel(wdir, file)
        .ok_or_else(|| def_err(at, &format!("'{file}' is outside the repository")))?;
    if let Some(imports) = &imports
        && keys.is_none()
        && imports.iter().any(|(p, k)| *p == rel && k.is_none())
    {
        // The same whole file named twice is loaded once.
        return Ok(());
    }
    let path = root.join(&rel);
    if !path.is_file() {
        return Err(def_err(at, &format!("vars file '{rel}' does not exist")));
    }
    let data = params::load_file(&path)?;
    let Value::Mapping(m) = data else {
        return Err(def_err(
            at,
            &format!("expected a mapping in '{rel}', got {}", type_name(&data)),
        ));
    };
    let m = match &keys {
        None => m,
        Some(keys) => {
            let mut sel = Mapping::new();
            for k in keys {
                let v = m
                    .get(k.as_str())
                    .ok_or_else(|| def_err(at, &format!("could not find '{k}' in '{rel}'")))?;
                sel.insert(Value::String(k.clone()), v.clone());
            }
            sel
        }
    };
    merge(&mut ctx.data, &m, at, reserved)?;
    if let Some(imports) = imports {
        imports.push((rel, keys));
    }
    Ok(())
}

/// Turn a resolved stage mapping into a [`Stage`], checking every field's type.
fn build_stage(name: &str, d: &Mapping, wdir: String) -> Result<Stage> {
    let at = |key: &str| format!("stages.{name}.{key}");
    let path_ref = |key: &str, p: &str| -> Result<PathRef> {
        if p.is_empty() {
            return Err(def_err(&at(key), "empty path"));
        }
        let rel = join_rel(&wdir, p).ok_or_else(|| {
            def_err(
                &at(key),
                &format!("'{p}' is outside the repository (absolute and external paths are not supported)"),
            )
        })?;
        if rel.is_empty() {
            return Err(def_err(&at(key), &format!("'{p}' is the repository root")));
        }
        Ok(PathRef {
            def: p.to_string(),
            rel,
        })
    };
    let cmd = match d.get("cmd") {
        Some(Value::String(s)) if !s.trim().is_empty() => Cmd::One(s.clone()),
        Some(Value::Sequence(items)) if !items.is_empty() => {
            let mut v = Vec::new();
            for i in items {
                match i {
                    Value::String(s) => v.push(s.clone()),
                    other => v.push(scalar_to_str(other)),
                }
            }
            Cmd::Many(v)
        }
        Some(Value::Number(_) | Value::Bool(_)) => {
            Cmd::One(scalar_to_str(d.get("cmd").unwrap_or(&Value::Null)))
        }
        _ => {
            return Err(def_err(
                &at("cmd"),
                "expected a non-empty string or list of strings",
            ));
        }
    };
    let strings = |key: &str| -> Result<Vec<String>> {
        match d.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Sequence(items)) => items
                .iter()
                .map(|i| match i {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(_) => Ok(scalar_to_str(i)),
                    other => Err(def_err(
                        &at(key),
                        &format!("expected a list of paths, found {}", type_name(other)),
                    )),
                })
                .collect(),
            Some(other) => Err(def_err(
                &at(key),
                &format!("expected a list, got {}", type_name(other)),
            )),
        }
    };
    let deps = strings("deps")?
        .iter()
        .map(|p| path_ref("deps", p))
        .collect::<Result<Vec<_>>>()?;

    // params: strings (keys of params.yaml) and {file: [keys] | null}.
    let mut params: Vec<ParamsDep> = Vec::new();
    let mut wholly: Vec<String> = Vec::new();
    let items = match d.get("params") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Sequence(s)) => s.clone(),
        Some(other) => {
            return Err(def_err(
                &at("params"),
                &format!("expected a list, got {}", type_name(other)),
            ));
        }
    };
    for i in &items {
        if let Value::Mapping(m) = i {
            for (k, v) in m {
                let empty = match v {
                    Value::Null => true,
                    Value::Sequence(s) => s.is_empty(),
                    _ => false,
                };
                if empty {
                    wholly.push(scalar_to_str(k));
                }
            }
        }
    }
    let mut add_key = |file: &str, key: Option<String>| -> Result<()> {
        let pos = params.iter().position(|p| p.path.def == file);
        let pos = match pos {
            Some(p) => p,
            None => {
                params.push(ParamsDep {
                    path: path_ref("params", file)?,
                    keys: if wholly.iter().any(|w| w == file) {
                        None
                    } else {
                        Some(Vec::new())
                    },
                });
                params.len() - 1
            }
        };
        if let (Some(keys), Some(k)) = (params[pos].keys.as_mut(), key)
            && !keys.contains(&k)
        {
            keys.push(k);
        }
        Ok(())
    };
    for i in &items {
        match i {
            Value::String(k) => {
                if !wholly.iter().any(|w| w == DEFAULT_PARAMS) {
                    add_key(DEFAULT_PARAMS, Some(k.clone()))?;
                }
            }
            Value::Mapping(m) => {
                for (file, keys) in m {
                    let file = scalar_to_str(file);
                    match keys {
                        Value::Null => add_key(&file, None)?,
                        Value::Sequence(ks) => {
                            if ks.is_empty() {
                                add_key(&file, None)?;
                            }
                            for k in ks {
                                add_key(&file, Some(scalar_to_str(k)))?;
                            }
                        }
                        other => {
                            return Err(def_err(
                                &at("params"),
                                &format!(
                                    "expected a list of keys for params file '{file}', got {}",
                                    type_name(other)
                                ),
                            ));
                        }
                    }
                }
            }
            other => {
                return Err(def_err(
                    &at("params"),
                    &format!(
                        "expected keys or {{file: [keys]}}, found {}",
                        type_name(other)
                    ),
                ));
            }
        }
    }

    let mut outs = Vec::new();
    for (key, kind) in [
        ("outs", OutKind::Out),
        ("metrics", OutKind::Metric),
        ("plots", OutKind::Plot),
    ] {
        let items = match d.get(key) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Sequence(s)) => s.clone(),
            Some(other) => {
                return Err(def_err(
                    &at(key),
                    &format!("expected a list, got {}", type_name(other)),
                ));
            }
        };
        for i in items {
            let (path, flags) = match &i {
                Value::String(s) => (s.clone(), Mapping::new()),
                Value::Mapping(m) if m.len() == 1 => {
                    let (k, v) = m
                        .iter()
                        .next()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .unwrap_or_default();
                    let flags = match v {
                        Value::Mapping(f) => f,
                        Value::Null => Mapping::new(),
                        // plots: a path with a list of plot definitions
                        Value::Sequence(_) if kind == OutKind::Plot => Mapping::new(),
                        other => {
                            return Err(def_err(
                                &at(key),
                                &format!(
                                    "flags of '{}' must be a mapping, got {}",
                                    scalar_to_str(&k),
                                    type_name(&other)
                                ),
                            ));
                        }
                    };
                    (scalar_to_str(&k), flags)
                }
                other => {
                    return Err(def_err(
                        &at(key),
                        &format!(
                            "expected a path or {{path: {{flags}}}}, found {}",
                            type_name(other)
                        ),
                    ));
                }
            };
            let mut out = Output {
                path: path_ref(key, &path)?,
                // metrics and plots are cached too unless `cache: false` (DVC's default).
                cache: true,
                persist: false,
                push: true,
                kind,
            };
            for (fk, fv) in &flags {
                let fname = fk.as_str().unwrap_or("");
                if !OUT_FLAGS.contains(&fname) {
                    return Err(def_err(
                        &at(key),
                        &format!(
                            "unknown flag '{}' on '{path}' (expected one of: cache, persist, push, remote, desc, type, labels, meta)",
                            scalar_to_str(fk)
                        ),
                    ));
                }
                let as_bool = || -> Result<bool> {
                    fv.as_bool().ok_or_else(|| {
                        def_err(
                            &at(key),
                            &format!("'{fname}' of '{path}' must be true or false"),
                        )
                    })
                };
                match fname {
                    "cache" => out.cache = as_bool()?,
                    "persist" => out.persist = as_bool()?,
                    "push" => out.push = as_bool()?,
                    _ => {}
                }
            }
            outs.push(out);
        }
    }
    let flag = |key: &str| -> Result<bool> {
        match d.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(def_err(
                &at(key),
                &format!("expected true or false, got {}", type_name(other)),
            )),
        }
    };
    let desc = match d.get("desc") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    Ok(Stage {
        name: name.to_string(),
        cmd,
        wdir,
        deps,
        params,
        outs,
        frozen: flag("frozen")?,
        always_changed: flag("always_changed")?,
        desc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in(dir: &Path, text: &str) -> Result<PipelineFile> {
        PipelineFile::parse(text, dir)
    }

    #[test]
    fn foreach_and_matrix_names_as_dvc_generates_them() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("params.yaml"),
            "model:\n  lr: 0.01\nvessels: [tanker, ferry]\n",
        )
        .unwrap();
        let text = r#"
vars:
  - sizes: {small: 1, big: 3}
stages:
  train:
    foreach: ${vessels}
    do:
      cmd: python train.py ${item} --lr ${model.lr}
      deps: ["data/${item}.csv"]
      outs: ["models/${item}.bin"]
  size:
    foreach: ${sizes}
    do:
      cmd: echo ${key} ${item}
      outs: ["${key}.txt"]
  rows:
    foreach:
      - {a: 1}
      - {a: 2}
    do:
      cmd: echo ${item.a}
  grid:
    matrix:
      algo: [knn, svm]
      k: [1, 2]
      opts: [{x: 1}]
    cmd: fit ${item.algo} ${item.k} ${item.opts.x} ${key}
    outs: ["grid/${key}.json"]
"#;
        let p = parse_in(dir.path(), text).unwrap();
        let names: Vec<&str> = p.stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "train@tanker",
                "train@ferry",
                "size@small",
                "size@big",
                "rows@0",
                "rows@1",
                "grid@knn-1-opts0",
                "grid@knn-2-opts0",
                "grid@svm-1-opts0",
                "grid@svm-2-opts0",
            ]
        );
        let t = &p.stages[0];
        assert_eq!(t.cmd, Cmd::One("python train.py tanker --lr 0.01".into()));
        assert_eq!(t.deps[0].rel, "data/tanker.csv");
        assert_eq!(p.stages[3].cmd, Cmd::One("echo big 3".into()));
        assert_eq!(p.stages[3].outs[0].path.def, "big.txt");
        assert_eq!(p.stages[5].cmd, Cmd::One("echo 2".into()));
        assert_eq!(p.stages[7].cmd, Cmd::One("fit knn 2 1 knn-2-opts0".into()));
        assert_eq!(p.groups[0].0, "train");
    }

    #[test]
    fn params_forms_wdir_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        let text = r#"
stages:
  s:
    cmd: [a, b]
    wdir: sub
    deps: [../x, y]
    params:
      - lr
      - train.epochs
      - other.yaml: [k]
      - whole.json:
    outs:
      - out/
      - keep.txt: {persist: true, cache: false, push: false}
    metrics:
      - m.json: {cache: false}
    frozen: true
"#;
        let s = parse_in(dir.path(), text).unwrap().stages.remove(0);
        assert_eq!(s.wdir, "sub");
        assert_eq!(s.deps[0].rel, "x");
        assert_eq!(s.deps[1].rel, "sub/y");
        assert_eq!(s.params.len(), 3);
        assert_eq!(s.params[0].path.def, "params.yaml");
        assert_eq!(
            s.params[0].keys.as_deref(),
            Some(&["lr".to_string(), "train.epochs".to_string()][..])
        );
        assert_eq!(s.params[2].keys, None);
        assert_eq!(s.outs[0].path.rel, "sub/out");
        assert!(s.outs[1].persist && !s.outs[1].cache && !s.outs[1].push);
        assert_eq!(s.outs[2].kind, OutKind::Metric);
        assert!(s.frozen);
    }

    #[test]
    fn errors_name_the_stage_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let e = parse_in(dir.path(), "stages:\n  a:\n    cmd: x\n    dep: [y]\n").unwrap_err();
        assert!(
            e.to_string().contains("stages.a") && e.to_string().contains("'dep'"),
            "{e}"
        );
        let e = parse_in(
            dir.path(),
            "vars:\n  - m: {lr: 1}\nstages:\n  a:\n    cmd: run ${m.lrx}\n",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("stages.a.cmd") && e.to_string().contains("m.lrx"),
            "{e}"
        );
        let e = parse_in(dir.path(), "stages:\n  a:\n    cmd: run ${m.}\n").unwrap_err();
        assert!(e.to_string().contains("stages.a.cmd"), "{e}");
        let e = parse_in(dir.path(), "stagez: {}\n").unwrap_err();
        assert!(e.to_string().contains("stagez"), "{e}");
        let e = parse_in(dir.path(), "stages:\n  a:\n    deps: [x]\n").unwrap_err();
        assert!(e.to_string().contains("'cmd'"), "{e}");
    }
}
