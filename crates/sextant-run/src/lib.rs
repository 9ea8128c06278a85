//! Run any command as a tracked run — a test pipeline in CI, a shell script, a Rust or R
//! program — with everything needed to reproduce it, on a tracking server that speaks MLflow's
//! API (`sextant server` or `mlflow server`).
//!
//! This crate owns the supervision of one command and what is recorded about it:
//!
//! - **the process**: stdout and stderr passed through live and appended to log files as they
//!   come ([`supervise`]); SIGINT/SIGTERM/SIGHUP/SIGQUIT forwarded; the exit status mapped to the
//!   run's status (`FINISHED`, `FAILED`, `KILLED` on a signal); logs and outputs uploaded even
//!   when it fails or is killed;
//! - **what it ran on**: git state ([`git`]), host, Python packages and lock-file hashes
//!   ([`environment`]), selected environment variables;
//! - **what it measured**: params and metrics files ([`files`]), a live JSON-lines file followed
//!   while it runs, system metrics from `/proc` ([`sampler`]);
//! - **which run** it all goes into: a new one, an existing one, or the one a stable key names,
//!   exactly one under a race ([`attach`]).
//!
//! It must not parse command lines (the binary does) nor speak HTTP itself (every server call
//! goes through `sextant_client`). The names of everything recorded are listed in
//! `docs/run.md`.
//!
//! ```no_run
//! use sextant_run::{RunConfig, execute};
//! let client = sextant_client::Client::new("http://127.0.0.1:5000")?;
//! let cfg = RunConfig::new(vec!["make".into(), "test".into()], std::env::current_dir()?);
//! let outcome = execute(&client, &cfg)?;
//! std::process::exit(outcome.exit_code);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod attach;
pub mod environment;
mod error;
pub mod files;
pub mod git;
pub mod keys;
pub mod sampler;
pub mod supervise;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sextant_client::{Client, Metric, NewRun, Param, Run, RunStatus, Tag, now_ms};
use sextant_types::UtcDateTime;

pub use attach::Target;
pub use error::RunError;

use crate::files::Format;
use crate::supervise::{Forwarder, LogFile, Monitor, MonitorConfig, Streams, signal_name};

/// What to run and what to record. Build with [`RunConfig::new`] and set the rest.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The program and its arguments.
    pub command: Vec<String>,
    /// The folder it runs in.
    pub cwd: PathBuf,
    /// The experiment, by name (created if missing); the default experiment (`0`) when `None`.
    /// Ignored when attaching to an existing run by id.
    pub experiment: Option<String>,
    pub run_name: Option<String>,
    pub target: Target,
    /// The stage's name when attached (`--stage`); derived from the command when `None`.
    pub stage: Option<String>,
    /// `KEY=VALUE` params, applied after the params files.
    pub params: Vec<String>,
    pub param_files: Vec<PathBuf>,
    /// `KEY=VALUE` tags set on the run.
    pub tags: Vec<String>,
    /// Environment variables whose values are recorded.
    pub env_vars: Vec<String>,
    /// Metrics files read when the command ends.
    pub metrics_files: Vec<PathBuf>,
    /// JSON-lines files followed while the command runs.
    pub live_metrics: Vec<PathBuf>,
    /// Files and folders uploaded when the command ends.
    pub outputs: Vec<PathBuf>,
    /// The Python interpreter whose packages are recorded, if not the command itself.
    pub python: Option<PathBuf>,
    /// How often system metrics are sampled; `None` turns them off.
    pub sample_interval: Option<Duration>,
    /// How often the logs are uploaded while the command runs.
    pub upload_interval: Duration,
    /// `mlflow.user`; who runs it when `None`.
    pub user: Option<String>,
}

impl RunConfig {
    pub fn new(command: Vec<String>, cwd: PathBuf) -> Self {
        Self {
            command,
            cwd,
            experiment: None,
            run_name: None,
            target: Target::New,
            stage: None,
            params: Vec::new(),
            param_files: Vec::new(),
            tags: Vec::new(),
            env_vars: Vec::new(),
            metrics_files: Vec::new(),
            live_metrics: Vec::new(),
            outputs: Vec::new(),
            python: None,
            sample_interval: Some(Duration::from_secs(5)),
            upload_interval: Duration::from_secs(10),
            user: None,
        }
    }
}

/// How the command ended and where it was recorded.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub run_id: String,
    pub experiment_id: String,
    /// The run's status after this command (for a stage: the status of the whole run).
    pub status: RunStatus,
    /// This command's own status.
    pub command_status: RunStatus,
    /// The command's exit code; 128 + the signal when a signal ended it.
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub duration: Duration,
    pub stage: Option<String>,
    /// Whether this command created the run.
    pub created: bool,
    /// What could not be recorded (the command still ran).
    pub warnings: Vec<String>,
}

/// Where one execution's records go: plain runs use `sextant.`, `logs/`, `system/`; a stage of
/// an attached run uses `sextant.stages.<stage>.`, `stages/<stage>/`, `system/<stage>/`.
#[derive(Debug, Clone)]
pub struct Layout {
    pub tag_prefix: String,
    pub artifact_prefix: String,
    pub metric_prefix: String,
}

impl Layout {
    pub fn for_stage(stage: Option<&str>) -> Self {
        match stage {
            None => Self {
                tag_prefix: "sextant.".into(),
                artifact_prefix: String::new(),
                metric_prefix: "system/".into(),
            },
            Some(s) => Self {
                tag_prefix: format!("sextant.stages.{s}."),
                artifact_prefix: format!("stages/{s}/"),
                metric_prefix: format!("system/{s}/"),
            },
        }
    }
}

/// The stage name a command gets when `--stage` is not given: the script an interpreter runs
/// (`python train.py` → `train.py`), else the program's name (`pytest -x` → `pytest`).
pub fn default_stage(command: &[String]) -> String {
    const INTERPRETERS: &[&str] = &[
        "sh", "bash", "zsh", "node", "Rscript", "ruby", "perl", "julia",
    ];
    let base = |s: &str| {
        Path::new(s)
            .file_name()
            .map_or_else(|| s.to_owned(), |n| n.to_string_lossy().into_owned())
    };
    let program = command.first().map(|p| base(p)).unwrap_or_default();
    let interpreted = environment::is_python(&program) || INTERPRETERS.contains(&program.as_str());
    let script = command
        .get(1)
        .filter(|a| interpreted && !a.starts_with('-'))
        .map(|a| base(a));
    keys::sanitize(&script.unwrap_or(program))
}

/// A shell-quoted command line, as a person would type it.
pub fn quote_command(command: &[String]) -> String {
    command
        .iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn split_kv(arg: &str) -> Option<(String, String)> {
    let (k, v) = arg.split_once('=')?;
    let k = k.trim();
    (!k.is_empty()).then(|| (k.to_owned(), v.to_owned()))
}

/// The params to log: every params file in order, then `--param` flags; a later value for the
/// same key wins. Checked against MLflow's rules.
pub fn collect_params(
    files_: &[PathBuf],
    flags: &[String],
    cwd: &Path,
) -> Result<Vec<Param>, RunError> {
    let mut out: Vec<(String, String)> = Vec::new();
    let set = |k: String, v: String, out: &mut Vec<(String, String)>| {
        if let Some(slot) = out.iter_mut().find(|(key, _)| *key == k) {
            slot.1 = v;
        } else {
            out.push((k, v));
        }
    };
    for f in files_ {
        let path = cwd.join(f);
        let format =
            Format::of(f).filter(|f| matches!(f, Format::Json | Format::Yaml | Format::Toml));
        let Some(format) = format else {
            return Err(RunError::UnknownFormat {
                path: f.clone(),
                expected: "*.yaml, *.yml, *.json or *.toml",
            });
        };
        let text = std::fs::read_to_string(&path).map_err(|source| RunError::Read {
            what: "params file",
            path: f.clone(),
            source,
        })?;
        let kv = files::parse_params(&text, format).map_err(|reason| RunError::Parse {
            what: "params file",
            path: f.clone(),
            format: format.name(),
            reason,
        })?;
        for (k, v) in kv {
            set(k, v, &mut out);
        }
    }
    for arg in flags {
        let (k, v) = split_kv(arg).ok_or_else(|| RunError::ParamSyntax { arg: arg.clone() })?;
        set(k, v, &mut out);
    }
    for (k, v) in &out {
        keys::check(k).map_err(|reason| RunError::InvalidKey {
            what: "param",
            key: k.clone(),
            reason,
        })?;
        let len = v.chars().count();
        if len > keys::MAX_PARAM_VALUE {
            return Err(RunError::ParamTooLong {
                key: k.clone(),
                len,
                limit: keys::MAX_PARAM_VALUE,
            });
        }
    }
    Ok(out.into_iter().map(|(k, v)| Param::new(k, v)).collect())
}

fn user_tags(flags: &[String]) -> Result<Vec<Tag>, RunError> {
    flags
        .iter()
        .map(|arg| {
            let (k, v) = split_kv(arg).ok_or_else(|| RunError::TagSyntax { arg: arg.clone() })?;
            keys::check(&k).map_err(|reason| RunError::InvalidKey {
                what: "tag",
                key: k.clone(),
                reason,
            })?;
            Ok(Tag::new(k, keys::tag_value(&v)))
        })
        .collect()
}

/// The MLflow source name: the script an interpreter runs, else the program.
fn source_name(command: &[String]) -> String {
    if let (Some(p), Some(script)) = (command.first(), command.get(1))
        && environment::is_python(p)
        && !script.starts_with('-')
    {
        return script.clone();
    }
    command.first().cloned().unwrap_or_default()
}

/// The tags known before the command starts: `(run-level, this execution's)`.
fn start_tags(
    cfg: &RunConfig,
    layout: &Layout,
    git: Option<&git::GitState>,
    user: &str,
    start_ms: i64,
) -> (Vec<Tag>, Vec<Tag>) {
    let mut run = vec![
        Tag::new("mlflow.user", user),
        Tag::new(
            "mlflow.source.name",
            keys::tag_value(&source_name(&cfg.command)),
        ),
        Tag::new("mlflow.source.type", "LOCAL"),
    ];
    if let Some(n) = &cfg.run_name {
        run.push(Tag::new("mlflow.runName", n.clone()));
    }
    let p = &layout.tag_prefix;
    let mut exec = vec![
        Tag::new(
            format!("{p}command"),
            keys::tag_value(&quote_command(&cfg.command)),
        ),
        Tag::new(format!("{p}cwd"), cfg.cwd.to_string_lossy()),
        Tag::new(format!("{p}host"), environment::hostname()),
        Tag::new(
            format!("{p}start_time"),
            UtcDateTime::from_millis(start_ms).rfc3339_millis(),
        ),
        Tag::new(format!("{p}version"), env!("CARGO_PKG_VERSION")),
    ];
    if let Some(g) = git {
        if let Some(c) = &g.commit {
            run.push(Tag::new("mlflow.source.git.commit", c.clone()));
        }
        if let Some(b) = &g.branch {
            run.push(Tag::new("mlflow.source.git.branch", b.clone()));
        }
        if let Some(u) = &g.remote_url {
            run.push(Tag::new("mlflow.source.git.repoURL", u.clone()));
            run.push(Tag::new("mlflow.gitRepoURL", u.clone()));
        }
        if let Some(c) = &g.commit {
            exec.push(Tag::new(format!("{p}git.commit"), c.clone()));
        }
        exec.push(Tag::new(format!("{p}git.dirty"), g.dirty.to_string()));
        exec.push(Tag::new(
            format!("{p}git.untracked"),
            g.untracked_count.to_string(),
        ));
    }
    for (k, v) in environment::host_facts() {
        exec.push(Tag::new(format!("{p}env.{k}"), keys::tag_value(&v)));
    }
    let lock_root = git.map_or(cfg.cwd.as_path(), |g| g.root.as_path());
    for (rel, hash) in environment::lock_hashes(lock_root) {
        exec.push(Tag::new(
            format!("{p}lock.{}", keys::sanitize_path(&rel)),
            hash,
        ));
    }
    for var in &cfg.env_vars {
        if let Ok(v) = std::env::var(var) {
            exec.push(Tag::new(
                format!("{p}env.var.{}", keys::sanitize(var)),
                keys::tag_value(&v),
            ));
        }
    }
    (run, exec)
}

/// Run the command as a tracked run on `client`'s server. Bad input (params files, flags) is
/// refused before anything is created; a failing server after the command started is reported
/// in [`Outcome::warnings`], never by killing the command.
pub fn execute(client: &Client, cfg: &RunConfig) -> Result<Outcome, RunError> {
    let Some(program) = cfg.command.first() else {
        return Err(RunError::NoCommand);
    };
    let params = collect_params(&cfg.param_files, &cfg.params, &cfg.cwd)?;
    let tags_from_flags = user_tags(&cfg.tags)?;
    for f in cfg.metrics_files.iter().chain(&cfg.live_metrics) {
        if Format::of(f).is_none() {
            return Err(RunError::UnknownFormat {
                path: f.clone(),
                expected: "*.json, *.jsonl, *.yaml, *.yml, *.toml or *.csv",
            });
        }
    }
    let user = cfg.user.clone().unwrap_or_else(environment::user);
    let start_ms = now_ms();
    let started = Instant::now();
    let git = git::inspect(&cfg.cwd);
    let attached = !matches!(cfg.target, Target::New);
    let stage = attached.then(|| {
        cfg.stage
            .as_deref()
            .map_or_else(|| default_stage(&cfg.command), keys::sanitize)
    });
    let layout = Layout::for_stage(stage.as_deref());
    let (mut run_tags, mut exec_tags) = start_tags(cfg, &layout, git.as_ref(), &user, start_ms);
    run_tags.extend(tags_from_flags);
    let status_tag = format!("{}status", layout.tag_prefix);

    // The run.
    let experiment_id = || -> Result<String, RunError> {
        Ok(match &cfg.experiment {
            Some(name) => client.get_or_create_experiment(name)?,
            None => "0".to_owned(),
        })
    };
    let (run, created) = match &cfg.target {
        Target::New => {
            let mut tags = run_tags.clone();
            tags.append(&mut exec_tags);
            let run = client.create_run(&NewRun {
                experiment_id: experiment_id()?,
                run_name: cfg.run_name.clone(),
                start_time: Some(start_ms),
                tags,
                user_id: Some(user.clone()),
            })?;
            (run, true)
        }
        Target::RunId(id) => {
            if let Some(name) = &cfg.experiment {
                tracing::warn!(
                    "--experiment {name} is ignored: run {id} already belongs to an experiment"
                );
            }
            (attach::existing(client, id)?, false)
        }
        Target::RunKey(key) => attach::resolve_key(
            client,
            key,
            &NewRun {
                experiment_id: experiment_id()?,
                run_name: cfg.run_name.clone(),
                start_time: Some(start_ms),
                tags: vec![Tag::new("mlflow.user", user.clone())],
                user_id: Some(user.clone()),
            },
        )?,
    };
    let run_id = run.info.run_id.clone();
    let art = |rel: &str| format!("{}{rel}", layout.artifact_prefix);
    let recorded = (|| -> Result<(), RunError> {
        if attached {
            let mut tags = run_tags;
            tags.append(&mut exec_tags);
            tags.push(Tag::new(&status_tag, RunStatus::Running.as_str()));
            if let Some(s) = &stage {
                tags.push(Tag::new(format!("{}name", layout.tag_prefix), s.clone()));
            }
            client.log_batch(&run_id, &[], &params, &tags)?;
            settle_status(client, &run_id)?;
        } else if !params.is_empty() {
            client.log_batch(&run_id, &[], &params, &[])?;
        }
        if let Some(g) = &git
            && g.dirty
        {
            if !g.diff.is_empty() {
                client.upload_artifact_bytes(&run, &art("code/git-diff.patch"), &g.diff)?;
            }
            if !g.untracked.is_empty() {
                let list = g.untracked.join("\n") + "\n";
                client.upload_artifact_bytes(&run, &art("code/untracked.txt"), list.as_bytes())?;
            }
        }
        Ok(())
    })();
    if let Err(e) = recorded {
        abandon(client, &run_id, &layout, attached, &e.to_string());
        return Err(e);
    }

    // The command.
    let scratch = tempfile::Builder::new()
        .prefix("sextant-run-")
        .tempdir()
        .map_err(|source| RunError::Setup {
            what: "a folder for the logs",
            source,
        })?;
    let logs = [
        LogFile {
            local: scratch.path().join("stdout.txt"),
            artifact: art("logs/stdout.txt"),
        },
        LogFile {
            local: scratch.path().join("stderr.txt"),
            artifact: art("logs/stderr.txt"),
        },
    ];
    let open = |p: &Path| {
        std::fs::File::create(p).map_err(|source| RunError::Setup {
            what: "a log file",
            source,
        })
    };
    let (out_log, err_log) = (open(&logs[0].local)?, open(&logs[1].local)?);
    let mut child_env: Vec<(String, String)> = vec![
        ("MLFLOW_TRACKING_URI".into(), client.base_url().to_owned()),
        ("MLFLOW_RUN_ID".into(), run_id.clone()),
        (
            "MLFLOW_EXPERIMENT_ID".into(),
            run.info.experiment_id.clone(),
        ),
    ];
    if std::env::var_os("PYTHONUNBUFFERED").is_none() {
        child_env.push(("PYTHONUNBUFFERED".into(), "1".into()));
    }
    let python = environment::python_of(&cfg.command, cfg.python.as_deref());
    let (signals, signal_state) = Forwarder::install().map_err(|source| RunError::Setup {
        what: "signal handling",
        source,
    })?;
    let spawned = Command::new(program)
        .args(&cfg.command[1..])
        .current_dir(&cfg.cwd)
        .envs(child_env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(source) => {
            abandon(
                client,
                &run_id,
                &layout,
                attached,
                &format!("cannot start `{program}`: {source}"),
            );
            return Err(RunError::Spawn {
                program: program.clone(),
                source,
            });
        }
    };
    let forwarder = Forwarder::arm(signals, signal_state.clone(), &child);
    let streams = match (child.stdout.take(), child.stderr.take()) {
        (Some(o), Some(e)) => Some(Streams::start(o, e, out_log, err_log)),
        _ => None,
    };
    let pid = i32::try_from(child.id()).unwrap_or(0);
    let monitor = Monitor::start(MonitorConfig {
        client: client.clone(),
        run: run.clone(),
        pid,
        metric_prefix: layout.metric_prefix.clone(),
        sample_interval: cfg.sample_interval,
        upload_interval: cfg.upload_interval,
        live: cfg.live_metrics.iter().map(|p| cfg.cwd.join(p)).collect(),
        logs: logs.to_vec(),
        scratch: scratch.path().to_owned(),
    });
    let packages = python.map(|py| {
        let (cwd, env) = (cfg.cwd.clone(), child_env.clone());
        std::thread::spawn(move || environment::python_packages(&py, &cwd, &env))
    });

    let status = forwarder.wait(&mut child);
    let end_ms = now_ms();
    let duration = started.elapsed();
    let (mut metrics, mut warnings) = monitor.stop();
    if let Some(s) = streams {
        s.finish(Duration::from_secs(2));
    }
    let received = Forwarder::received(&signal_state);
    let (exit_code, signal) = match &status {
        Ok(s) => {
            use std::os::unix::process::ExitStatusExt;
            match (s.code(), s.signal()) {
                (Some(c), _) => (c, None),
                (None, Some(sig)) => (128 + sig, Some(sig)),
                (None, None) => (1, None),
            }
        }
        Err(e) => {
            warnings.push(format!("could not wait for the command: {e}"));
            (1, None)
        }
    };
    let command_status = if signal.is_some() || received.is_some() {
        RunStatus::Killed
    } else if exit_code == 0 {
        RunStatus::Finished
    } else {
        RunStatus::Failed
    };

    // What it left behind.
    for f in &cfg.metrics_files {
        match read_metrics_file(&cfg.cwd, f, end_ms) {
            Ok(p) => {
                metrics.extend(p.metrics);
                warnings.extend(
                    p.skipped
                        .into_iter()
                        .map(|s| format!("{}: skipped {s}", f.display())),
                );
            }
            Err(e) => warnings.push(e),
        }
    }
    let p = &layout.tag_prefix;
    let mut end_tags = vec![
        Tag::new(format!("{p}exit_code"), exit_code.to_string()),
        Tag::new(
            format!("{p}end_time"),
            UtcDateTime::from_millis(end_ms).rfc3339_millis(),
        ),
        Tag::new(
            format!("{p}duration_s"),
            format!("{:.3}", duration.as_secs_f64()),
        ),
    ];
    if attached {
        end_tags.push(Tag::new(&status_tag, command_status.as_str()));
    }
    if let Some(sig) = signal {
        end_tags.push(Tag::new(format!("{p}signal"), signal_name(sig)));
    }
    if let Some(sig) = received {
        end_tags.push(Tag::new(format!("{p}received_signal"), signal_name(sig)));
    }
    if let Some(h) = packages {
        match h.join().ok().flatten() {
            Some(pk) => {
                end_tags.push(Tag::new(format!("{p}env.python_version"), pk.version));
                if let Err(e) = client.upload_artifact_bytes(
                    &run,
                    &art("environment/pip-freeze.txt"),
                    pk.freeze.as_bytes(),
                ) {
                    warnings.push(format!("could not upload the package list: {e}"));
                }
            }
            None => warnings
                .push("could not list the Python packages (the interpreter did not answer)".into()),
        }
    }
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let mut note = |r: Result<(), sextant_client::ClientError>, what: &str| {
        if let Err(e) = r {
            tracing::warn!("could not {what}: {e}");
            warnings.push(format!("could not {what}: {e}"));
        }
    };
    note(
        client.log_batch(&run_id, &metrics, &[], &end_tags),
        "log the final metrics and tags",
    );
    for log in &logs {
        note(
            client.upload_artifact_file(&run, &log.artifact, &log.local),
            "upload the logs",
        );
    }
    for out in &cfg.outputs {
        note(
            upload_output(client, &run, &cfg.cwd, out),
            "upload an output",
        );
    }
    let final_status = if attached {
        match settle_status(client, &run_id) {
            Ok(s) => s,
            Err(e) => {
                warnings.push(format!("could not set the run's status: {e}"));
                command_status
            }
        }
    } else {
        note(
            client.update_run(&run_id, Some(command_status), Some(end_ms), None),
            "set the run's status",
        );
        command_status
    };
    Ok(Outcome {
        run_id,
        experiment_id: run.info.experiment_id.clone(),
        status: final_status,
        command_status,
        exit_code,
        signal,
        duration,
        stage,
        created,
        warnings,
    })
}

/// The command will not run: record why and end the run (or this stage) as FAILED, so it does
/// not stay RUNNING. Best effort: the error that stopped us is what the caller reports.
fn abandon(client: &Client, run_id: &str, layout: &Layout, attached: bool, reason: &str) {
    let p = &layout.tag_prefix;
    let mut tags = vec![Tag::new(format!("{p}error"), keys::tag_value(reason))];
    if attached {
        tags.push(Tag::new(format!("{p}status"), RunStatus::Failed.as_str()));
    }
    let _ = client.log_batch(run_id, &[], &[], &tags);
    if attached {
        let _ = settle_status(client, run_id);
    } else {
        let _ = client.update_run(run_id, Some(RunStatus::Failed), Some(now_ms()), None);
    }
}

fn read_metrics_file(cwd: &Path, f: &Path, now: i64) -> Result<files::Points, String> {
    let format = Format::of(f).ok_or_else(|| format!("{}: unknown format", f.display()))?;
    let text = std::fs::read_to_string(cwd.join(f))
        .map_err(|e| format!("metrics file {}: {e}", f.display()))?;
    files::parse_metrics(&text, format, now).map_err(|e| {
        format!(
            "metrics file {} is not valid {}: {e}",
            f.display(),
            format.name()
        )
    })
}

/// The artifact path an output gets: its path relative to the working folder when inside it,
/// else its file name.
pub fn output_artifact_path(cwd: &Path, out: &Path) -> String {
    let full = cwd.join(out);
    let rel = full
        .strip_prefix(cwd)
        .ok()
        .filter(|r| {
            !r.components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        })
        .map(Path::to_path_buf)
        .or_else(|| full.file_name().map(PathBuf::from))
        .unwrap_or_default();
    rel.components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn upload_output(
    client: &Client,
    run: &Run,
    cwd: &Path,
    out: &Path,
) -> Result<(), sextant_client::ClientError> {
    let full = cwd.join(out);
    let rel = output_artifact_path(cwd, out);
    let meta = std::fs::metadata(&full).map_err(|source| sextant_client::ClientError::Io {
        path: full.clone(),
        source,
    })?;
    if meta.is_dir() {
        client.upload_artifact_dir(run, &rel, &full).map(drop)
    } else {
        client.upload_artifact_file(run, &rel, &full)
    }
}

/// The status of a run made of stages, from each stage's `sextant.stages.<stage>.status` tag:
/// FAILED if any stage failed, else KILLED if any was killed, else RUNNING while any runs, else
/// FINISHED.
pub fn combine_stage_statuses<'a>(statuses: impl IntoIterator<Item = &'a str>) -> RunStatus {
    let (mut failed, mut killed, mut running, mut any) = (false, false, false, false);
    for s in statuses {
        any = true;
        match RunStatus::parse(s) {
            Some(RunStatus::Failed) => failed = true,
            Some(RunStatus::Killed) => killed = true,
            Some(RunStatus::Running | RunStatus::Scheduled) => running = true,
            _ => {}
        }
    }
    if failed {
        RunStatus::Failed
    } else if killed {
        RunStatus::Killed
    } else if running || !any {
        RunStatus::Running
    } else {
        RunStatus::Finished
    }
}

fn stage_statuses(run: &Run) -> Vec<&str> {
    run.data
        .tags
        .iter()
        .filter(|t| t.key.starts_with("sextant.stages.") && t.key.ends_with(".status"))
        .map(|t| t.value.as_str())
        .collect()
}

/// Set an attached run's status from its stages' tags, and read it back until it agrees (two
/// stages ending at once may each have read the other as still running).
fn settle_status(client: &Client, run_id: &str) -> Result<RunStatus, RunError> {
    let mut want = RunStatus::Running;
    for _ in 0..4 {
        let run = client.get_run(run_id)?;
        want = combine_stage_statuses(stage_statuses(&run));
        if run.info.status == want {
            return Ok(want);
        }
        let end = (want != RunStatus::Running).then(now_ms);
        client.update_run(run_id, Some(want), end, None)?;
    }
    Ok(want)
}

/// Metrics from a file, as [`execute`] reads them (for tools and tests).
pub fn metrics_from_file(path: &Path) -> Result<Vec<Metric>, String> {
    read_metrics_file(Path::new("."), path, now_ms()).map(|p| p.metrics)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn stage_names_come_from_the_command() {
        assert_eq!(
            default_stage(&v(&["python", "src/train.py", "--lr", "1"])),
            "train.py"
        );
        assert_eq!(default_stage(&v(&["pytest", "-x"])), "pytest");
        assert_eq!(default_stage(&v(&["bash", "-c", "make"])), "bash");
        assert_eq!(default_stage(&v(&["/usr/bin/make", "all"])), "make");
    }

    #[test]
    fn stage_statuses_combine() {
        assert_eq!(
            combine_stage_statuses(["FINISHED", "FINISHED"]),
            RunStatus::Finished
        );
        assert_eq!(
            combine_stage_statuses(["FINISHED", "RUNNING"]),
            RunStatus::Running
        );
        assert_eq!(
            combine_stage_statuses(["KILLED", "RUNNING"]),
            RunStatus::Killed
        );
        assert_eq!(
            combine_stage_statuses(["KILLED", "FAILED"]),
            RunStatus::Failed
        );
        assert_eq!(combine_stage_statuses([]), RunStatus::Running);
    }

    #[test]
    fn commands_are_quoted_as_typed() {
        assert_eq!(
            quote_command(&v(&["python", "-c", "print('hi')"])),
            "python -c 'print('\\''hi'\\'')'"
        );
        assert_eq!(quote_command(&v(&["a", ""])), "a ''");
    }

    #[test]
    fn outputs_keep_their_relative_path() {
        let cwd = Path::new("/work/p");
        assert_eq!(
            output_artifact_path(cwd, Path::new("results/model.pkl")),
            "results/model.pkl"
        );
        assert_eq!(output_artifact_path(cwd, Path::new("./out")), "out");
        assert_eq!(
            output_artifact_path(cwd, Path::new("/tmp/x/report.html")),
            "report.html"
        );
        assert_eq!(
            output_artifact_path(cwd, Path::new("../sibling/f.txt")),
            "f.txt"
        );
    }

    #[test]
    fn params_files_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.yaml"), "lr: 0.1\nmodel:\n  depth: 3\n").unwrap();
        let got = collect_params(
            &[PathBuf::from("p.yaml")],
            &v(&["lr=0.5", "seed=1"]),
            dir.path(),
        )
        .unwrap();
        let kv: Vec<(&str, &str)> = got
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_str()))
            .collect();
        assert_eq!(kv, vec![("lr", "0.5"), ("model.depth", "3"), ("seed", "1")]);
        assert!(matches!(
            collect_params(&[], &v(&["novalue"]), dir.path()),
            Err(RunError::ParamSyntax { .. })
        ));
        assert!(matches!(
            collect_params(&[PathBuf::from("p.ini")], &[], dir.path()),
            Err(RunError::UnknownFormat { .. })
        ));
        assert!(matches!(
            collect_params(&[PathBuf::from("missing.yaml")], &[], dir.path()),
            Err(RunError::Read { .. })
        ));
        assert!(matches!(
            collect_params(&[], &v(&["a:b=1"]), dir.path()),
            Err(RunError::InvalidKey { .. })
        ));
    }
}
