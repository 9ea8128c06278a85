//! `repro`: bring stages up to date, upstream first, several at once (`jobs`).
//!
//! For each stage of the plan, once every upstream stage of the plan has finished:
//!
//! 1. take an exclusive lock on each of its outputs (`.dvc/tmp/sextant-locks/`), so two
//!    concurrent `repro`s never write one output — there is no repository-wide lock;
//! 2. compare it with its `dvc.lock` entry ([`crate::status`]); up to date: skip;
//! 3. when its exact inputs (command, dependency hashes, params) were seen before — in
//!    `dvc.lock` or in the run cache — and the outputs are in the cache (fetched first with
//!    `pull`), check them out instead of running;
//! 4. otherwise remove its outputs (unless `persist`), run its commands in `wdir`, hash and
//!    cache the outputs, and write its lock entry at once (atomically: a kill after this point
//!    never re-runs it), then its run-cache entry; with `push`, send its outputs and run-cache
//!    entry to the remote right away.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use serde::Serialize;
use sextant_data::NoProgress;
use sextant_data::cache::{Cache, LinkType};
use sextant_data::hash::Oid;
use sextant_data::pointer::Out;
use sextant_data::remote::{self, Remote};
use sextant_data::repo::{Hashed, Tracked};

use crate::dvcyaml::Stage;
use crate::error::{Error, IoContext, Result};
use crate::lock::{self, FileLock, LockEntry, LockFile, LockItem};
use crate::params;
use crate::remote_runs::RunStore;
use crate::runcache;
use crate::status::{StageStatus, Workspace, lock_item, stage_status};

/// What to reproduce and how.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Stage names or group names; empty: every stage.
    pub targets: Vec<String>,
    /// Run every stage of the plan even when up to date (and never restore).
    pub force: bool,
    /// Only say what would run, and why.
    pub dry: bool,
    /// Only the targets, not their upstream stages.
    pub single_item: bool,
    /// Stages run at once (at least 1).
    pub jobs: usize,
    /// Push each finished stage's outputs and run-cache entry to the remote at once.
    pub push: bool,
    /// Fetch run-cache entries and outputs from the remote before deciding to run.
    pub pull: bool,
    /// The remote for push/pull [default: core.remote].
    pub remote: Option<String>,
    /// Do not use the run cache (restore nothing; still record runs in it).
    pub no_run_cache: bool,
    /// Send the commands' stdout to stderr (keeps stdout for `--json`).
    pub commands_to_stderr: bool,
    /// After a stage fails, go on with the stages that do not depend on it (DVC's
    /// `--keep-going`); by default nothing new starts after a failure.
    pub keep_going: bool,
}

/// What happened to a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Its command ran.
    Ran,
    /// Its outputs were checked out from the cache (run cache or `dvc.lock`).
    Restored,
    /// It was up to date.
    Skipped,
    /// `--dry`: it would run.
    WouldRun,
    /// Frozen: not run; its outputs were verified and recorded.
    Verified,
    /// Its command failed (or its outputs could not be saved).
    Failed,
    /// Not started: an upstream stage failed, or the repro stopped after a failure.
    NotRun,
}

/// The result for one stage.
#[derive(Debug, Clone, Serialize)]
pub struct StageReport {
    /// The stage.
    pub stage: String,
    /// What happened.
    pub action: Action,
    /// Why it ran (or would run).
    pub reasons: Vec<String>,
    /// Where restored outputs came from: `run-cache` or `dvc.lock`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<&'static str>,
    /// Wall-clock seconds spent on the stage.
    pub seconds: f64,
    /// The error, for a failed stage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Progress of a repro, for the caller to show (the library prints nothing).
pub trait Reporter: Sync {
    /// Something happened.
    fn event(&self, event: Event<'_>);
}

/// One step of a repro.
#[derive(Debug)]
pub enum Event<'a> {
    /// A stage starts running, for these reasons.
    Running {
        stage: &'a Stage,
        reasons: &'a [String],
    },
    /// One of its commands starts.
    Command { stage: &'a str, line: &'a str },
    /// Waiting for another process that holds a lock on this output.
    Waiting { stage: &'a str, path: &'a str },
    /// A stage finished (whatever the action).
    Done {
        stage: &'a Stage,
        report: &'a StageReport,
        entry: Option<&'a LockEntry>,
    },
    /// Something worth a warning (a push that failed; the stage itself is done).
    Warning { stage: &'a str, message: String },
}

/// A reporter that shows nothing.
pub struct Silent;

impl Reporter for Silent {
    fn event(&self, _: Event<'_>) {}
}

/// What a stage runs, handed to a [`CommandRunner`].
#[derive(Debug)]
pub struct RunContext<'a> {
    /// The stage.
    pub stage: &'a Stage,
    /// Its command lines, run one after the other; the first failure stops it.
    pub lines: Vec<String>,
    /// The folder they run in (the stage's `wdir`).
    pub cwd: PathBuf,
    /// Variables set for the commands (`DVC_ROOT`, `DVC_STAGE`).
    pub env: Vec<(String, String)>,
    /// The stage's params as `key=value` (dotted keys, values as DVC interpolates them).
    pub params: Vec<(String, String)>,
    /// The stage's metrics files (absolute), read once the commands ran.
    pub metrics: Vec<PathBuf>,
}

/// Runs a stage's commands. [`Shell`] runs them as DVC does; a caller may record each stage
/// as a tracked run instead.
pub trait CommandRunner: Sync {
    /// Run `ctx.lines`; an error names the line that failed.
    fn run(&self, ctx: &RunContext<'_>) -> Result<()>;
}

/// Each line with `$SHELL -c` (bash and zsh without rc files), as DVC runs commands.
pub struct Shell {
    /// Send the commands' stdout to stderr.
    pub stdout_to_stderr: bool,
}

/// The shell DVC would use and the flags it passes before `-c`.
pub fn shell_command() -> (String, Vec<&'static str>) {
    let shell = std::env::var("SHELL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/bin/sh".into());
    let name = Path::new(&shell)
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let flags = match name.as_str() {
        "bash" => vec!["--noprofile", "--norc"],
        "zsh" => vec!["--no-rcs"],
        _ => Vec::new(),
    };
    (shell, flags)
}

impl CommandRunner for Shell {
    fn run(&self, ctx: &RunContext<'_>) -> Result<()> {
        let (shell, flags) = shell_command();
        for line in &ctx.lines {
            let mut c = Command::new(&shell);
            c.args(&flags)
                .arg("-c")
                .arg(line)
                .current_dir(&ctx.cwd)
                .envs(ctx.env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::null());
            if self.stdout_to_stderr {
                use std::os::fd::AsFd;
                if let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() {
                    c.stdout(Stdio::from(fd));
                }
            }
            let status = c.status().map_err(|e| Error::CommandFailed {
                stage: ctx.stage.name.clone(),
                cmd: line.clone(),
                what: format!("could not start ({shell}): {e}"),
            })?;
            if !status.success() {
                use std::os::unix::process::ExitStatusExt;
                let what = match (status.code(), status.signal()) {
                    (Some(c), _) => format!("failed with exit code {c}"),
                    (None, Some(sig)) => format!("was killed by signal {sig}"),
                    _ => "failed".into(),
                };
                return Err(Error::CommandFailed {
                    stage: ctx.stage.name.clone(),
                    cmd: line.clone(),
                    what,
                });
            }
        }
        Ok(())
    }
}

/// The results of a repro.
#[derive(Debug)]
pub struct Outcome {
    /// One per stage of the plan, in plan order.
    pub stages: Vec<StageReport>,
    /// The first error, when a stage failed.
    pub error: Option<Error>,
}

/// Params files with the values a stage reads from each.
type Params = Vec<(String, serde_yaml::Mapping)>;

struct Engine<'a> {
    ws: &'a Workspace,
    opts: &'a Options,
    reporter: &'a dyn Reporter,
    runner: &'a dyn CommandRunner,
    remote: Option<Remote>,
    /// The plan's stage names, in order (new `dvc.lock` entries are placed by it).
    order: Vec<String>,
}

/// Reproduce `opts.targets` in `ws`, running commands with [`Shell`].
pub fn repro(ws: &Workspace, opts: &Options, reporter: &dyn Reporter) -> Result<Outcome> {
    let shell = Shell {
        stdout_to_stderr: opts.commands_to_stderr,
    };
    repro_with(ws, opts, reporter, &shell)
}

/// [`repro`] with commands run by `runner`.
pub fn repro_with(
    ws: &Workspace,
    opts: &Options,
    reporter: &dyn Reporter,
    runner: &dyn CommandRunner,
) -> Result<Outcome> {
    let p = &ws.pipeline;
    let targets = p.targets(&opts.targets)?;
    let plan = p.plan(&targets, opts.single_item);
    // A dvc.lock that is not what DVC writes (a hash that is not a hash) stops the repro before
    // any stage runs, naming the file and the field.
    LockFile::load(&ws.repo.root)?;
    let remote = if opts.push || opts.pull {
        Some(Remote::open(&ws.repo, opts.remote.as_deref())?)
    } else {
        None
    };
    // Dependencies nobody produces: pulled first when tracked by a `.dvc` file (with
    // `pull`), and then they must exist before anything runs.
    let missing: Vec<(usize, &str)> = plan
        .iter()
        .flat_map(|&i| p.stages[i].deps.iter().map(move |d| (i, d.rel.as_str())))
        .filter(|(_, rel)| p.producer_of(rel).is_none() && !ws.abs(rel).exists())
        .collect();
    if let (Some(rem), false, false) = (&remote, missing.is_empty(), opts.dry) {
        let pointers: Vec<PathBuf> = missing
            .iter()
            .map(|(_, rel)| sextant_data::pointer::pointer_path_for(&ws.abs(rel)))
            .filter(|p| p.is_file())
            .collect();
        if opts.pull && !pointers.is_empty() {
            let tracked = ws.repo.tracked(Some(&pointers))?;
            remote::fetch(&ws.repo, rem, &tracked, 16, &NoProgress)?;
            ws.repo.checkout(Some(&pointers), false, &NoProgress)?;
        }
    }
    for (i, rel) in missing {
        if !ws.abs(rel).exists() {
            return Err(Error::MissingDependency {
                stage: p.stages[i].name.clone(),
                path: rel.to_string(),
            });
        }
    }
    let engine = Engine {
        ws,
        opts,
        reporter,
        runner,
        remote,
        order: plan.iter().map(|&i| p.stages[i].name.clone()).collect(),
    };
    if opts.pull && !opts.no_run_cache && !opts.dry {
        engine.pull_run_cache()?;
    }
    let out = engine.schedule(&plan);
    ws.flush_state()?;
    Ok(out)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum St {
    Pending,
    Running,
    /// Finished; `true` when it ran, was restored or would run (dry).
    Done(bool),
    Failed,
}

impl Engine<'_> {
    fn schedule(&self, plan: &[usize]) -> Outcome {
        let p = &self.ws.pipeline;
        let pos_of: HashMap<usize, usize> = plan.iter().enumerate().map(|(k, &i)| (i, k)).collect();
        let ups: Vec<Vec<usize>> = plan
            .iter()
            .map(|i| {
                p.upstream[*i]
                    .iter()
                    .filter_map(|u| pos_of.get(u).copied())
                    .collect()
            })
            .collect();
        let mut state = vec![St::Pending; plan.len()];
        let mut reports: Vec<Option<StageReport>> = vec![None; plan.len()];
        let mut first_error: Option<Error> = None;
        let jobs = self.opts.jobs.max(1);
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::channel::<(usize, Result<StageReport>, f64)>();
            let mut running = 0usize;
            loop {
                while running < jobs && (first_error.is_none() || self.opts.keep_going) {
                    let ready = (0..plan.len()).find(|&k| {
                        state[k] == St::Pending
                            && ups[k].iter().all(|&u| matches!(state[u], St::Done(_)))
                    });
                    let Some(k) = ready else { break };
                    let upstream_ran = ups[k]
                        .iter()
                        .find(|&&u| state[u] == St::Done(true))
                        .map(|&u| p.stages[plan[u]].name.clone());
                    state[k] = St::Running;
                    running += 1;
                    let tx = tx.clone();
                    let i = plan[k];
                    scope.spawn(move || {
                        let t0 = Instant::now();
                        // A panic in a stage (a bug) fails that stage: the scheduler hears of
                        // every stage it started, so it never waits forever.
                        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            self.process(i, upstream_ran)
                        }))
                        .unwrap_or_else(|payload| {
                            Err(Error::Panicked {
                                stage: self.ws.pipeline.stages[i].name.clone(),
                                message: panic_message(payload.as_ref()),
                            })
                        });
                        let _ = tx.send((k, r, t0.elapsed().as_secs_f64()));
                    });
                }
                if running == 0 {
                    break;
                }
                let Ok((k, r, secs)) = rx.recv() else { break };
                running -= 1;
                let s = &p.stages[plan[k]];
                match r {
                    Ok(mut rep) => {
                        rep.seconds = secs;
                        state[k] = St::Done(matches!(
                            rep.action,
                            Action::Ran | Action::Restored | Action::WouldRun
                        ));
                        reports[k] = Some(rep);
                    }
                    Err(e) => {
                        state[k] = St::Failed;
                        let rep = StageReport {
                            stage: s.name.clone(),
                            action: Action::Failed,
                            reasons: Vec::new(),
                            restored_from: None,
                            seconds: secs,
                            error: Some(e.to_string()),
                        };
                        self.reporter.event(Event::Done {
                            stage: s,
                            report: &rep,
                            entry: None,
                        });
                        reports[k] = Some(rep);
                        if first_error.is_none() {
                            first_error = Some(e);
                        }
                    }
                }
            }
        });
        let stages = reports
            .into_iter()
            .enumerate()
            .map(|(k, r)| {
                r.unwrap_or_else(|| StageReport {
                    stage: p.stages[plan[k]].name.clone(),
                    action: Action::NotRun,
                    reasons: Vec::new(),
                    restored_from: None,
                    seconds: 0.0,
                    error: None,
                })
            })
            .collect::<Vec<_>>();
        let error = first_error.map(|e| {
            let names: Vec<String> = stages
                .iter()
                .filter(|r| r.action == Action::Failed)
                .map(|r| r.stage.clone())
                .collect();
            Error::Failed {
                names,
                first: Box::new(e),
            }
        });
        Outcome { stages, error }
    }

    /// Bring one stage up to date.
    fn process(&self, i: usize, upstream_ran: Option<String>) -> Result<StageReport> {
        let ws = self.ws;
        let s = &ws.pipeline.stages[i];
        let _locks = if self.opts.dry {
            Vec::new()
        } else {
            self.lock_outputs(s)?
        };
        let entry = LockFile::load(&ws.repo.root)?.entry(&s.name);
        let status = stage_status(ws, s, entry.as_ref())?;
        let mut reasons = status.reasons();
        let mut stale = status.is_stale();
        if self.opts.dry
            && let Some(up) = upstream_ran
            && !s.frozen
        {
            reasons.push(format!("upstream stage '{up}' would run"));
            stale = true;
        }
        let report = |action, reasons: Vec<String>| StageReport {
            stage: s.name.clone(),
            action,
            reasons,
            restored_from: None,
            seconds: 0.0,
            error: None,
        };
        if s.frozen {
            if !stale {
                return Ok(self.done(s, report(Action::Skipped, Vec::new()), entry.as_ref()));
            }
            if self.opts.dry {
                return Ok(self.done(s, report(Action::WouldRun, reasons), None));
            }
            // DVC verifies a frozen stage's outputs and records them, never running it.
            let e = self.save(s)?;
            return Ok(self.done(s, report(Action::Verified, reasons), Some(&e)));
        }
        if self.opts.force {
            reasons.insert(0, "forced".into());
        } else if !stale {
            return Ok(self.done(s, report(Action::Skipped, Vec::new()), entry.as_ref()));
        }
        if self.opts.dry {
            return Ok(self.done(s, report(Action::WouldRun, reasons), None));
        }
        if !self.opts.force
            && !self.opts.no_run_cache
            && runcache::can_hash(s)
            && let Some((e, from)) = self.try_restore(s, entry.as_ref(), &status)?
        {
            let mut r = report(Action::Restored, reasons);
            r.restored_from = Some(from);
            self.after(s, &e);
            return Ok(self.done(s, r, Some(&e)));
        }
        self.reporter.event(Event::Running {
            stage: s,
            reasons: &reasons,
        });
        self.run_commands(s)?;
        let e = self.save(s)?;
        self.after(s, &e);
        Ok(self.done(s, report(Action::Ran, reasons), Some(&e)))
    }

    fn done(&self, s: &Stage, report: StageReport, entry: Option<&LockEntry>) -> StageReport {
        self.reporter.event(Event::Done {
            stage: s,
            report: &report,
            entry,
        });
        report
    }

    /// Exclusive locks on each output path, in path order (no deadlock between processes).
    fn lock_outputs(&self, s: &Stage) -> Result<Vec<FileLock>> {
        let dir = self.ws.repo.dvc_dir.join("tmp").join("sextant-locks");
        let mut paths: Vec<&str> = s.outs.iter().map(|o| o.path.rel.as_str()).collect();
        paths.sort_unstable();
        let mut held = Vec::new();
        for p in paths {
            let file = dir.join(format!(
                "{}.lock",
                sextant_data::hash::md5_hex(p.as_bytes())
            ));
            match FileLock::try_acquire(&file)? {
                Some(l) => held.push(l),
                None => {
                    self.reporter.event(Event::Waiting {
                        stage: &s.name,
                        path: p,
                    });
                    held.push(FileLock::acquire(&file)?);
                }
            }
        }
        Ok(held)
    }

    /// The lock entry for the stage's dependencies and params as they are now (outputs left
    /// to the caller).
    fn inputs_entry(&self, s: &Stage) -> Result<(Vec<LockItem>, Params)> {
        let mut deps = Vec::new();
        for d in &s.deps {
            let h = self.ws.hash(&d.rel)?;
            deps.push(
                lock_item(&d.def, &h).ok_or_else(|| Error::MissingDependency {
                    stage: s.name.clone(),
                    path: d.rel.clone(),
                })?,
            );
        }
        let mut ps = Vec::new();
        for p in &s.params {
            let abs = self.ws.abs(&p.path.rel);
            if !abs.is_file() {
                return Err(Error::Params {
                    stage: s.name.clone(),
                    message: format!("params file '{}' does not exist", p.path.rel),
                });
            }
            let file = params::load_file(&abs)?;
            let values = params::values(&file, p.keys.as_deref());
            if let Some(keys) = &p.keys {
                let missing: Vec<&str> = keys
                    .iter()
                    .filter(|k| !values.contains_key(k.as_str()))
                    .map(String::as_str)
                    .collect();
                if !missing.is_empty() {
                    return Err(Error::Params {
                        stage: s.name.clone(),
                        message: format!(
                            "parameters '{}' are missing from '{}'",
                            missing.join(", "),
                            p.path.rel
                        ),
                    });
                }
            }
            ps.push((p.path.def.clone(), values));
        }
        Ok((deps, ps))
    }

    /// Check out outputs recorded for the stage's exact inputs, if they are (or can be
    /// fetched into) the cache. Returns the entry written and where the outputs came from.
    fn try_restore(
        &self,
        s: &Stage,
        entry: Option<&LockEntry>,
        status: &StageStatus,
    ) -> Result<Option<(LockEntry, &'static str)>> {
        let (deps, ps) = self.inputs_entry(s)?;
        let inputs_same = entry.is_some()
            && !status.changed_command
            && status.changed_deps.is_empty()
            && status.changed_params.is_empty();
        let from_lock = entry.filter(|e| {
            inputs_same
                && s.outs
                    .iter()
                    .all(|o| e.out(&o.path.def).is_some_and(|i| i.md5.is_some()))
        });
        let (outs, from) = match from_lock {
            Some(e) => (e.outs.clone(), "dvc.lock"),
            None => {
                let probe = LockEntry::new(
                    s.cmd.to_value(),
                    deps.clone(),
                    ps.clone(),
                    s.outs
                        .iter()
                        .map(|o| LockItem {
                            path: o.path.def.clone(),
                            ..LockItem::default()
                        })
                        .collect(),
                );
                let key = runcache::key(&probe);
                match runcache::load_newest(self.ws.repo.cache.root(), &key)? {
                    Some(found) => (found.outs, "run-cache"),
                    None => return Ok(None),
                }
            }
        };
        // Every declared output must be in the candidate.
        let mut items = Vec::new();
        for o in &s.outs {
            let Some(item) = outs.iter().find(|i| i.path == o.path.def) else {
                return Ok(None);
            };
            if item.md5.is_none() {
                return Ok(None);
            }
            items.push((o, item.clone()));
        }
        if self.opts.pull
            && let Some(rem) = &self.remote
        {
            let wanted: Vec<Tracked> = items
                .iter()
                .filter(|(_, i)| i.md5.as_ref().is_some_and(|m| !self.all_in_cache(m)))
                .map(|(o, i)| tracked(self.ws, &o.path.rel, i))
                .collect();
            if !wanted.is_empty() {
                let report = remote::fetch(&self.ws.repo, rem, &wanted, 16, &NoProgress)?;
                if !report.failed.is_empty() {
                    self.reporter.event(Event::Warning {
                        stage: &s.name,
                        message: format!(
                            "{} object(s) could not be fetched from remote '{}'",
                            report.failed.len(),
                            rem.name
                        ),
                    });
                }
            }
        }
        if !items
            .iter()
            .all(|(_, i)| i.md5.as_ref().is_some_and(|m| self.all_in_cache(m)))
        {
            return Ok(None);
        }
        for (o, i) in &items {
            let Some(md5) = &i.md5 else {
                return Ok(None);
            };
            let abs = self.ws.abs(&o.path.rel);
            remove_path(&abs)?;
            let cache = if o.cache {
                self.ws.repo.cache.clone()
            } else {
                Cache::new(
                    self.ws.repo.cache.root().to_path_buf(),
                    vec![LinkType::Copy],
                )
            };
            checkout(&cache, md5, &abs, i.isexec)?;
        }
        let entry = LockEntry::new(
            s.cmd.to_value(),
            deps,
            ps,
            items.into_iter().map(|(_, i)| i).collect(),
        );
        lock::update(
            &self.ws.repo.root,
            &self.ws.repo.dvc_dir,
            &s.name,
            &entry,
            &self.order,
        )?;
        self.ignore_outputs(s)?;
        Ok(Some((entry, from)))
    }

    fn all_in_cache(&self, md5: &Oid) -> bool {
        self.ws.repo.all_in_cache(md5).unwrap_or(false)
    }

    /// Remove the outputs, then run each command line in the stage's folder.
    fn run_commands(&self, s: &Stage) -> Result<()> {
        for o in &s.outs {
            let abs = self.ws.abs(&o.path.rel);
            if o.persist {
                unprotect(&abs)?;
            } else {
                remove_path(&abs)?;
            }
        }
        let lines: Vec<String> = s
            .cmd
            .lines()
            .into_iter()
            .filter(|l| !l.trim().is_empty())
            .collect();
        for line in &lines {
            self.reporter.event(Event::Command {
                stage: &s.name,
                line,
            });
        }
        let (_, ps) = self.inputs_entry(s)?;
        let mut params = Vec::new();
        for (_, values) in &ps {
            for (k, v) in values {
                let text = match v {
                    serde_yaml::Value::Mapping(_) | serde_yaml::Value::Sequence(_) => {
                        serde_json::to_string(v).unwrap_or_default()
                    }
                    other => crate::value::scalar_to_str(other),
                };
                params.push((crate::value::key_string(k), text));
            }
        }
        let ctx = RunContext {
            stage: s,
            lines,
            cwd: self.ws.abs(&s.wdir),
            env: vec![
                (
                    "DVC_ROOT".into(),
                    self.ws.repo.root.to_string_lossy().into_owned(),
                ),
                ("DVC_STAGE".into(), s.name.clone()),
            ],
            params,
            metrics: s
                .outs
                .iter()
                .filter(|o| o.kind == crate::dvcyaml::OutKind::Metric)
                .map(|o| self.ws.abs(&o.path.rel))
                .collect(),
        };
        self.runner.run(&ctx)
    }

    /// Hash the dependencies, params and outputs, store the outputs in the cache, and write
    /// the lock entry (then the run-cache entry).
    fn save(&self, s: &Stage) -> Result<LockEntry> {
        let (deps, ps) = self.inputs_entry(s)?;
        let saves_run_cache = runcache::saves(s);
        let mut outs = Vec::new();
        for o in &s.outs {
            let h = self.ws.hash(&o.path.rel)?;
            let item = lock_item(&o.path.def, &h).ok_or_else(|| Error::MissingOutput {
                stage: s.name.clone(),
                path: o.path.rel.clone(),
            })?;
            // Uncached metrics go into the cache too when the run is cached, so a restore
            // can bring them back (as DVC does).
            if o.cache || saves_run_cache {
                commit(self.ws, &o.path.rel, &h, o.cache)?;
            }
            outs.push(item);
        }
        let entry = LockEntry::new(s.cmd.to_value(), deps, ps, outs);
        lock::update(
            &self.ws.repo.root,
            &self.ws.repo.dvc_dir,
            &s.name,
            &entry,
            &self.order,
        )?;
        self.ws.flush_state()?;
        if saves_run_cache {
            runcache::save(self.ws.repo.cache.root(), &entry)?;
        }
        self.ignore_outputs(s)?;
        Ok(entry)
    }

    fn ignore_outputs(&self, s: &Stage) -> Result<()> {
        if !self.ws.repo.git {
            return Ok(());
        }
        let paths: Vec<PathBuf> = s
            .outs
            .iter()
            .filter(|o| o.cache)
            .map(|o| self.ws.abs(&o.path.rel))
            .collect();
        // `.gitignore` files are read-modify-written: one writer at a time, across processes.
        let _guard = FileLock::acquire(
            &self
                .ws
                .repo
                .dvc_dir
                .join("tmp")
                .join("sextant-gitignore.lock"),
        )?;
        sextant_data::gitignore::ignore_paths(&self.ws.repo.root, &paths)?;
        Ok(())
    }

    /// After a stage ran or was restored: push its outputs and run-cache entry.
    fn after(&self, s: &Stage, e: &LockEntry) {
        if !self.opts.push {
            return;
        }
        let Some(rem) = &self.remote else { return };
        if let Err(err) = self.push_stage(rem, s, e) {
            self.reporter.event(Event::Warning {
                stage: &s.name,
                message: format!("push to remote '{}' failed: {err}", rem.name),
            });
        }
    }

    fn push_stage(&self, rem: &Remote, s: &Stage, e: &LockEntry) -> Result<()> {
        let wanted: Vec<Tracked> = s
            .outs
            .iter()
            .filter(|o| o.push && (o.cache || runcache::saves(s)))
            .filter_map(|o| e.out(&o.path.def).map(|i| tracked(self.ws, &o.path.rel, i)))
            .collect();
        let report = remote::push(&self.ws.repo, rem, &wanted, 16, &NoProgress)?;
        if !report.failed.is_empty() || !report.missing.is_empty() {
            return Err(Error::Transfer {
                remote: rem.name.clone(),
                message: format!(
                    "{} object(s) failed, {} missing from the cache",
                    report.failed.len(),
                    report.missing.len()
                ),
            });
        }
        if runcache::saves(s) {
            let rel = runcache::save(self.ws.repo.cache.root(), e)?;
            RunStore::open(&self.ws.repo, rem)?.put(self.ws.repo.cache.root(), &rel)?;
        }
        Ok(())
    }

    /// Copy the remote's run-cache entries this cache lacks.
    fn pull_run_cache(&self) -> Result<()> {
        let Some(rem) = &self.remote else {
            return Ok(());
        };
        let n = RunStore::open(&self.ws.repo, rem)?.pull_all(self.ws.repo.cache.root())?;
        tracing::debug!(remote = %rem.name, entries = n, "run cache pulled");
        Ok(())
    }
}

/// The text of a panic's payload (a `&str` or `String` for `panic!` with a message).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

/// A stage output as a data-layer tracked output (for push and fetch).
pub(crate) fn tracked(ws: &Workspace, rel: &str, i: &LockItem) -> Tracked {
    Tracked {
        pointer: lock::DVC_LOCK.into(),
        out: Out {
            md5: i.md5.clone(),
            size: i.size,
            nfiles: i.nfiles,
            isexec: i.isexec,
            hash: Some("md5".into()),
            path: i.path.clone(),
            ..Out::default()
        },
        abs: ws.abs(rel),
        rel: rel.to_string(),
    }
}

/// Remove a file or directory (nothing there is fine).
fn remove_path(p: &Path) -> Result<()> {
    match std::fs::symlink_metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).ctx("stat", p),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p).ctx("remove", p),
        Ok(_) => std::fs::remove_file(p).ctx("remove", p),
    }
}

/// Make a persistent output's files independent of the cache (a hardlink or symlink into the
/// cache would let the command corrupt the cached object).
fn unprotect(p: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mut files = Vec::new();
    let mut stack = vec![p.to_path_buf()];
    while let Some(x) = stack.pop() {
        let Ok(m) = std::fs::symlink_metadata(&x) else {
            continue;
        };
        if m.is_dir() {
            for e in std::fs::read_dir(&x).ctx("list", &x)?.flatten() {
                stack.push(e.path());
            }
        } else if m.file_type().is_symlink() || m.nlink() > 1 {
            files.push(x);
        }
    }
    for f in files {
        let bytes = std::fs::read(&f).ctx("read", &f)?;
        remove_path(&f)?;
        lock::write_atomic(&f, &bytes)?;
    }
    Ok(())
}

/// Store an output's content in the cache (files, then the directory manifest), relinking
/// the workspace when `cache.type` starts with hardlink or symlink.
fn commit(ws: &Workspace, rel: &str, h: &Hashed, relink: bool) -> Result<()> {
    let cache = &ws.repo.cache;
    let abs = ws.abs(rel);
    let link = relink
        && matches!(
            cache.links().first(),
            Some(LinkType::Hardlink | LinkType::Symlink)
        );
    match h {
        Hashed::Missing => {}
        Hashed::File { md5, exec, .. } => {
            cache.store_file(&abs, md5)?;
            if link {
                cache.link_out(md5, &abs, *exec)?;
            }
        }
        Hashed::Dir { manifest, .. } => {
            let mut seen = HashSet::new();
            for e in manifest.entries() {
                let f = abs.join(&e.relpath);
                if seen.insert(e.md5.clone()) {
                    cache.store_file(&f, &e.md5)?;
                }
                if link {
                    cache.link_out(&e.md5, &f, false)?;
                }
            }
            cache.store_bytes(&manifest.oid(), &manifest.to_json())?;
        }
    }
    Ok(())
}

/// Replace whatever is at `abs` by object `oid` from `cache`.
pub(crate) fn replace_from_cache(cache: &Cache, oid: &Oid, abs: &Path, exec: bool) -> Result<()> {
    remove_path(abs)?;
    checkout(cache, oid, abs, exec)
}

/// Materialise object `oid` (a file, or a directory manifest and its files) at `abs`.
fn checkout(cache: &Cache, oid: &Oid, abs: &Path, exec: bool) -> Result<()> {
    if oid.is_dir() {
        let m = cache.manifest(oid)?;
        std::fs::create_dir_all(abs).ctx("create directory", abs)?;
        for e in m.entries() {
            cache.link_out(&e.md5, &abs.join(&e.relpath), false)?;
        }
    } else {
        cache.link_out(oid, abs, exec)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(dvc_yaml: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        sextant_data::repo::Repo::init(dir.path()).unwrap();
        std::fs::write(dir.path().join("dvc.yaml"), dvc_yaml).unwrap();
        for (p, t) in files {
            std::fs::write(dir.path().join(p), t).unwrap();
        }
        dir
    }

    fn run(dir: &Path, opts: &Options) -> Outcome {
        let ws = Workspace::open(dir).unwrap().unwrap();
        repro(&ws, opts, &Silent).unwrap()
    }

    fn actions(o: &Outcome) -> Vec<(String, Action)> {
        o.stages
            .iter()
            .map(|r| (r.stage.clone(), r.action))
            .collect()
    }

    const PIPE: &str = "stages:\n  a:\n    cmd: echo a >> log && cp in.txt a.txt\n    deps: [in.txt]\n    outs: [a.txt]\n  b:\n    cmd: echo b >> log && echo ${n} | cat - a.txt > b.txt\n    deps: [a.txt]\n    params: [n]\n    outs: [b.txt]\n";

    #[test]
    fn runs_skips_and_restores_from_the_run_cache() {
        let dir = setup(PIPE, &[("in.txt", "x\n"), ("params.yaml", "n: 1\n")]);
        let opts = Options {
            jobs: 2,
            ..Options::default()
        };
        let o = run(dir.path(), &opts);
        assert!(o.error.is_none(), "{:?}", o.error);
        assert_eq!(
            actions(&o),
            [
                ("a".to_string(), Action::Ran),
                ("b".to_string(), Action::Ran)
            ]
        );
        let lock = LockFile::load(dir.path()).unwrap();
        let b = lock.entry("b").unwrap();
        assert_eq!(b.deps[0].path, "a.txt");
        assert_eq!(b.params[0].0, "params.yaml");
        assert!(b.outs[0].md5.is_some());
        // Up to date: nothing runs.
        let o = run(dir.path(), &opts);
        assert!(o.stages.iter().all(|r| r.action == Action::Skipped));
        // n=2 runs b; back to n=1 restores b's first output from the run cache.
        std::fs::write(dir.path().join("params.yaml"), "n: 2\n").unwrap();
        let o = run(dir.path(), &opts);
        assert_eq!(o.stages[1].action, Action::Ran);
        std::fs::write(dir.path().join("params.yaml"), "n: 1\n").unwrap();
        let o = run(dir.path(), &opts);
        assert_eq!(o.stages[1].action, Action::Restored);
        assert_eq!(o.stages[1].restored_from, Some("run-cache"));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("b.txt")).unwrap(),
            "1\nx\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("log")).unwrap(),
            "a\nb\nb\n"
        );
        // A deleted output is brought back from the cache (dvc.lock still matches).
        std::fs::remove_file(dir.path().join("a.txt")).unwrap();
        let o = run(dir.path(), &opts);
        assert_eq!(o.stages[0].action, Action::Restored);
        assert_eq!(o.stages[0].restored_from, Some("dvc.lock"));
    }

    #[test]
    fn a_failure_stops_downstream_and_keeps_upstream_entries() {
        let dir = setup(
            "stages:\n  a:\n    cmd: cp in.txt a.txt\n    deps: [in.txt]\n    outs: [a.txt]\n  b:\n    cmd: exit 7\n    deps: [a.txt]\n    outs: [b.txt]\n  c:\n    cmd: cp b.txt c.txt\n    deps: [b.txt]\n    outs: [c.txt]\n",
            &[("in.txt", "x\n")],
        );
        let o = run(dir.path(), &Options::default());
        assert_eq!(
            actions(&o),
            [
                ("a".to_string(), Action::Ran),
                ("b".to_string(), Action::Failed),
                ("c".to_string(), Action::NotRun)
            ]
        );
        let e = o.error.unwrap().to_string();
        assert!(e.contains("exit code 7") && e.contains('b'), "{e}");
        let lock = LockFile::load(dir.path()).unwrap();
        assert_eq!(lock.stage_names(), ["a"]);
    }

    /// Runs commands with the shell, but panics in stage `b` (as a bug in a stage would).
    struct PanicsInB;

    impl CommandRunner for PanicsInB {
        fn run(&self, ctx: &RunContext<'_>) -> Result<()> {
            if ctx.stage.name == "b" {
                panic!("planted bug in stage b");
            }
            Shell {
                stdout_to_stderr: true,
            }
            .run(ctx)
        }
    }

    /// `repro_with(PanicsInB)` in a thread, failing the test instead of hanging with it.
    fn run_panicking(dir: &Path, opts: Options) -> Outcome {
        let (tx, rx) = std::sync::mpsc::channel();
        let dir = dir.to_path_buf();
        std::thread::spawn(move || {
            let ws = Workspace::open(&dir).unwrap().unwrap();
            let _ = tx.send(repro_with(&ws, &opts, &Silent, &PanicsInB).unwrap());
        });
        rx.recv_timeout(std::time::Duration::from_secs(120))
            .expect("repro returned (a panicking stage must not hang it)")
    }

    const FOUR: &str = "stages:\n  a:\n    cmd: echo a > a.txt\n    outs: [a.txt]\n  b:\n    cmd: echo b > b.txt\n    deps: [a.txt]\n    outs: [b.txt]\n  c:\n    cmd: cp b.txt c.txt\n    deps: [b.txt]\n    outs: [c.txt]\n  d:\n    cmd: cp a.txt d.txt\n    deps: [a.txt]\n    outs: [d.txt]\n";

    // Regression (issue 15): a stage whose worker thread panicked left `sextant repro` waiting
    // forever for its result.
    #[test]
    fn a_panicking_stage_is_a_failed_stage_not_a_hang() {
        for jobs in [1, 3] {
            let dir = setup(FOUR, &[]);
            let o = run_panicking(
                dir.path(),
                Options {
                    jobs,
                    ..Options::default()
                },
            );
            let e = o.error.as_ref().expect("the repro failed").to_string();
            assert!(
                e.contains("stage 'b'") && e.contains("planted bug in stage b"),
                "{e}"
            );
            let acts: HashMap<String, Action> = actions(&o).into_iter().collect();
            assert_eq!(acts["a"], Action::Ran);
            assert_eq!(acts["b"], Action::Failed);
            assert_eq!(acts["c"], Action::NotRun);
            assert!(!dir.path().join("c.txt").exists());
            let lock = LockFile::load(dir.path()).unwrap();
            assert!(!lock.stage_names().contains(&"b".to_string()));
        }
        // --keep-going: what does not depend on the failed stage still runs.
        let dir = setup(FOUR, &[]);
        let o = run_panicking(
            dir.path(),
            Options {
                keep_going: true,
                ..Options::default()
            },
        );
        assert!(o.error.is_some());
        assert_eq!(
            actions(&o),
            [
                ("a".to_string(), Action::Ran),
                ("b".to_string(), Action::Failed),
                ("c".to_string(), Action::NotRun),
                ("d".to_string(), Action::Ran)
            ]
        );
        assert!(dir.path().join("d.txt").is_file());
    }

    #[test]
    fn dry_reports_reasons_and_changes_nothing() {
        let dir = setup(PIPE, &[("in.txt", "x\n"), ("params.yaml", "n: 1\n")]);
        let o = run(
            dir.path(),
            &Options {
                dry: true,
                ..Options::default()
            },
        );
        assert!(o.stages.iter().all(|r| r.action == Action::WouldRun));
        assert!(o.stages[0].reasons[0].contains("never ran"));
        assert!(!dir.path().join("dvc.lock").exists());
        assert!(!dir.path().join("a.txt").exists());
    }
}
