//! `sextant repro` and `sextant dag`: pipelines on DVC's formats (the work is in
//! `sextant-pipeline`), and the stage part of `sextant data status`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::{Context, Result, bail};
use sextant_client::{Client, NewRun, Param, RunStatus, Tag, now_ms};
use sextant_pipeline::repro::{self, Action, CommandRunner, Event, Options, Reporter, RunContext};
use sextant_pipeline::status::{StageStatus, Workspace};

use crate::cli::{DagArgs, ReproArgs};
use crate::printer::outln;

fn open(cwd: &Path) -> Result<Workspace> {
    match Workspace::open(cwd)? {
        Some(ws) => Ok(ws),
        None => bail!(
            "no dvc.yaml in this repository\nhint: write one (see docs/pipelines.md), or use `sextant data` for data without stages"
        ),
    }
}

/// Prints a repro's progress: to stdout, or to stderr when stdout carries `--json`.
struct Printer<'a> {
    to_stderr: bool,
    quiet: bool,
    lock: Mutex<()>,
    tracker: Option<&'a Tracker>,
}

/// Each stage execution as a run of the tracking server (through `sextant run`'s machinery),
/// children of one parent run for the whole repro (`mlflow.parentRunId`).
struct Tracker {
    client: Client,
    experiment_id: String,
    experiment: Option<String>,
    parent: String,
}

const STAGE_TAG: &str = "sextant.pipeline.stage";
const ACTION_TAG: &str = "sextant.pipeline.action";

impl Tracker {
    fn start(uri: Option<String>, experiment: Option<String>) -> Result<Option<Self>> {
        let Some(uri) = uri.filter(|u| !u.trim().is_empty()) else {
            return Ok(None);
        };
        let client = Client::new(&uri)?;
        let experiment_id = match &experiment {
            Some(name) => client.get_or_create_experiment(name)?,
            None => "0".to_string(),
        };
        let user = std::env::var("LOGNAME")
            .or_else(|_| std::env::var("USER"))
            .unwrap_or_else(|_| "unknown".into());
        let parent = client.create_run(&NewRun {
            experiment_id: experiment_id.clone(),
            run_name: Some("repro".into()),
            start_time: Some(now_ms()),
            tags: vec![
                Tag::new("mlflow.user", user.clone()),
                Tag::new("sextant.pipeline", "dvc.yaml"),
            ],
            user_id: Some(user),
        })?;
        Ok(Some(Self {
            client,
            experiment_id,
            experiment,
            parent: parent.info.run_id,
        }))
    }

    /// A stage restored from the cache: a finished run saying so, with its params.
    fn restored(&self, stage: &str, from: &str, entry: Option<&sextant_pipeline::lock::LockEntry>) {
        let r = (|| -> Result<()> {
            let run = self.client.create_run(&NewRun {
                experiment_id: self.experiment_id.clone(),
                run_name: Some(stage.to_string()),
                start_time: Some(now_ms()),
                tags: vec![
                    Tag::new("mlflow.parentRunId", self.parent.clone()),
                    Tag::new(STAGE_TAG, stage),
                    Tag::new(ACTION_TAG, "restored"),
                    Tag::new("sextant.pipeline.restored_from", from),
                ],
                user_id: None,
            })?;
            let params: Vec<Param> = entry
                .map(|e| {
                    e.params
                        .iter()
                        .flat_map(|(_, values)| values.iter())
                        .map(|(k, v)| {
                            Param::new(
                                sextant_pipeline::value::key_string(k),
                                sextant_pipeline::value::scalar_to_str(v),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            self.client.log_batch(&run.info.run_id, &[], &params, &[])?;
            self.client.update_run(
                &run.info.run_id,
                Some(RunStatus::Finished),
                Some(now_ms()),
                None,
            )?;
            Ok(())
        })();
        if let Err(e) = r {
            eprintln!("warning: stage '{stage}': could not record the restored run: {e}");
        }
    }

    fn finish(&self, ok: bool) {
        let status = if ok {
            RunStatus::Finished
        } else {
            RunStatus::Failed
        };
        if let Err(e) = self
            .client
            .update_run(&self.parent, Some(status), Some(now_ms()), None)
        {
            eprintln!(
                "warning: could not finish the repro's run {}: {e}",
                self.parent
            );
        }
    }
}

impl CommandRunner for Tracker {
    fn run(&self, ctx: &RunContext<'_>) -> sextant_pipeline::Result<()> {
        let (shell, flags) = repro::shell_command();
        // One shell for the stage's lines; `set -e` stops at the first failure, as DVC does.
        let mut script = String::new();
        for (k, v) in &ctx.env {
            script.push_str(&format!(
                "export {k}={}\n",
                sextant_pipeline::interp::shell_quote(v)
            ));
        }
        script.push_str("set -e\n");
        script.push_str(&ctx.lines.join("\n"));
        let mut command = vec![shell];
        command.extend(flags.iter().map(|f| f.to_string()));
        command.push("-c".into());
        command.push(script);
        let mut cfg = sextant_run::RunConfig::new(command, ctx.cwd.clone());
        cfg.experiment = self.experiment.clone();
        cfg.run_name = Some(ctx.stage.name.clone());
        cfg.tags = vec![
            format!("mlflow.parentRunId={}", self.parent),
            format!("{STAGE_TAG}={}", ctx.stage.name),
            format!("{ACTION_TAG}=ran"),
        ];
        cfg.params = ctx.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        cfg.metrics_files = ctx
            .metrics
            .iter()
            .filter(|m| {
                m.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    matches!(e, "json" | "yaml" | "yml" | "toml" | "csv" | "jsonl")
                })
            })
            .cloned()
            .collect();
        let failed = |what: String| sextant_pipeline::Error::CommandFailed {
            stage: ctx.stage.name.clone(),
            cmd: ctx.stage.cmd.display(),
            what,
        };
        let outcome = sextant_run::execute(&self.client, &cfg)
            .map_err(|e| failed(format!("could not be run as a tracked run: {e}")))?;
        for w in &outcome.warnings {
            eprintln!("warning: stage '{}': {w}", ctx.stage.name);
        }
        if outcome.exit_code != 0 {
            return Err(failed(format!(
                "failed with exit code {} (run {})",
                outcome.exit_code, outcome.run_id
            )));
        }
        Ok(())
    }
}

impl Printer<'_> {
    fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        let _g = self.lock.lock();
        if self.to_stderr {
            eprintln!("{text}");
        } else {
            // A reader that went away (`sextant repro | head -1`) stops the progress lines,
            // not the stages.
            crate::printer::write_progress(format_args!("{text}"));
        }
    }
}

impl Reporter for Printer<'_> {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::Running { stage, reasons } => {
                let why = if reasons.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", reasons.join("; "))
                };
                self.line(&format!("Running stage '{}'{why}:", stage.name));
            }
            Event::Command { line, .. } => self.line(&format!("> {line}")),
            Event::Waiting { stage, path } => eprintln!(
                "waiting: output '{path}' of stage '{stage}' is being written by another repro"
            ),
            Event::Warning { stage, message } => eprintln!("warning: stage '{stage}': {message}"),
            Event::Done {
                stage,
                report,
                entry,
            } => match report.action {
                Action::Skipped => {
                    self.line(&format!("Stage '{}' didn't change, skipping", stage.name))
                }
                Action::Restored => {
                    let from = report.restored_from.unwrap_or("run-cache");
                    self.line(&format!(
                        "Stage '{}' is cached - skipping run, checking out outputs (from the {from})",
                        stage.name
                    ));
                    if let Some(t) = self.tracker {
                        t.restored(&stage.name, from, entry);
                    }
                }
                Action::WouldRun => self.line(&format!(
                    "Would run stage '{}': {}",
                    stage.name,
                    report.reasons.join("; ")
                )),
                Action::Verified => self.line(&format!(
                    "Stage '{}' is frozen: verified and recorded its outputs",
                    stage.name
                )),
                Action::Failed => eprintln!(
                    "error: stage '{}' failed: {}",
                    stage.name,
                    report.error.as_deref().unwrap_or("")
                ),
                Action::Ran | Action::NotRun => {}
            },
        }
    }
}

/// `sextant repro`.
pub fn repro(args: ReproArgs, quiet: bool) -> Result<ExitCode> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let ws = open(&cwd)?;
    let opts = Options {
        targets: args.targets,
        force: args.force,
        dry: args.dry,
        single_item: args.single_item,
        jobs: args.jobs.max(1),
        push: args.push,
        pull: args.pull,
        remote: args.remote,
        no_run_cache: args.no_run_cache,
        commands_to_stderr: args.json,
        keep_going: args.keep_going,
    };
    let tracker = if args.dry {
        None
    } else {
        Tracker::start(args.tracking_uri, args.experiment)?
    };
    let printer = Printer {
        to_stderr: args.json,
        quiet,
        lock: Mutex::new(()),
        tracker: tracker.as_ref(),
    };
    let outcome = match &tracker {
        Some(t) => repro::repro_with(&ws, &opts, &printer, t),
        None => repro::repro(&ws, &opts, &printer),
    };
    if let Some(t) = &tracker {
        t.finish(outcome.as_ref().is_ok_and(|o| o.error.is_none()));
    }
    let outcome = outcome.map_err(|e| {
        let hint = match &e {
            sextant_pipeline::Error::MissingDependency { .. } => {
                "\nhint: if a .dvc file tracks it, `sextant repro --pull` (or `sextant data pull`) fetches it"
            }
            _ => "",
        };
        anyhow::anyhow!("{e}{hint}")
    })?;
    if args.json {
        let v = serde_json::json!({
            "stages": outcome.stages,
            "error": outcome.error.as_ref().map(|e| e.to_string()),
        });
        outln!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let count = |a: Action| outcome.stages.iter().filter(|r| r.action == a).count();
        let (ran, restored, would) = (
            count(Action::Ran),
            count(Action::Restored),
            count(Action::WouldRun),
        );
        if outcome.error.is_none() {
            if ran + restored + would == 0 {
                printer.line("Data and pipelines are up to date.");
            } else if args.dry {
                printer.line(&format!("{would} stage(s) would run."));
            } else {
                printer.line(&format!(
                    "{ran} stage(s) ran, {restored} restored from the cache, {} up to date.",
                    count(Action::Skipped)
                ));
            }
        }
    }
    if let Some(e) = outcome.error {
        let not_run: Vec<&str> = outcome
            .stages
            .iter()
            .filter(|r| r.action == Action::NotRun)
            .map(|r| r.stage.as_str())
            .collect();
        eprintln!("error: {e}");
        if !not_run.is_empty() {
            eprintln!("not run: {}", not_run.join(", "));
        }
        eprintln!(
            "hint: fix the stage and run `sextant repro` again; stages that finished are not run again"
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// `sextant dag`.
pub fn dag(args: DagArgs) -> Result<ExitCode> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let ws = open(&cwd)?;
    let p = &ws.pipeline;
    let targets = p.targets(&args.targets)?;
    let plan = p.plan(&targets, false);
    let in_plan: std::collections::HashSet<&str> =
        plan.iter().map(|&i| p.stages[i].name.as_str()).collect();
    let edges: Vec<_> = p
        .edges()
        .into_iter()
        .filter(|e| in_plan.contains(e.to.as_str()))
        .collect();
    if args.json {
        let nodes: Vec<_> = plan
            .iter()
            .map(|&i| {
                let s = &p.stages[i];
                serde_json::json!({
                    "name": s.name,
                    "cmd": s.cmd.to_value(),
                    "wdir": s.wdir,
                    "deps": s.deps.iter().map(|d| &d.rel).collect::<Vec<_>>(),
                    "outs": s.outs.iter().map(|o| &o.path.rel).collect::<Vec<_>>(),
                    "frozen": s.frozen,
                })
            })
            .collect();
        let v = serde_json::json!({"nodes": nodes, "edges": edges});
        outln!("{}", serde_json::to_string_pretty(&v)?);
    } else if args.dot {
        outln!("strict digraph {{");
        for &i in &plan {
            outln!("\t\"{}\";", p.stages[i].name.replace('"', "\\\""));
        }
        for e in &edges {
            outln!(
                "\t\"{}\" -> \"{}\";",
                e.from.replace('"', "\\\""),
                e.to.replace('"', "\\\"")
            );
        }
        outln!("}}");
    } else {
        for &i in &plan {
            let s = &p.stages[i];
            let ups: Vec<String> = edges
                .iter()
                .filter(|e| e.to == s.name)
                .map(|e| format!("{} ({})", e.from, e.paths.join(", ")))
                .collect();
            let frozen = if s.frozen { " [frozen]" } else { "" };
            if ups.is_empty() {
                outln!("{}{frozen}", s.name);
            } else {
                outln!("{}{frozen}  <- {}", s.name, ups.join(", "));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The stale stages of the repository's `dvc.yaml` (none when there is no `dvc.yaml`), for
/// `sextant data status`.
pub fn stale_stages(cwd: &Path) -> Result<Vec<StageStatus>> {
    let Some(ws) = Workspace::open(cwd)? else {
        return Ok(Vec::new());
    };
    Ok(ws
        .status(&[])?
        .into_iter()
        .filter(StageStatus::is_stale)
        .collect())
}

/// The cached outputs recorded in `dvc.lock` (none without a `dvc.yaml`), for `sextant data
/// push/fetch/pull`.
pub fn lock_outputs(cwd: &Path, for_push: bool) -> Result<Vec<sextant_data::repo::Tracked>> {
    match Workspace::open(cwd)? {
        Some(ws) => Ok(sextant_pipeline::status::lock_outputs(&ws, for_push)?),
        None => Ok(Vec::new()),
    }
}

/// Check out the outputs recorded in `dvc.lock` (`None` without a `dvc.yaml`).
pub fn checkout_lock_outputs(
    cwd: &Path,
    force: bool,
) -> Result<Option<sextant_pipeline::status::LockCheckout>> {
    match Workspace::open(cwd)? {
        Some(ws) => Ok(Some(sextant_pipeline::status::checkout_lock_outputs(
            &ws, force,
        )?)),
        None => Ok(None),
    }
}

/// Print what [`checkout_lock_outputs`] did.
pub fn print_lock_checkout(r: &sextant_pipeline::status::LockCheckout) {
    for p in &r.written {
        outln!("{p}: checked out (dvc.lock)");
    }
    for p in &r.missing {
        eprintln!(
            "warning: {p}: not in the cache (dvc.lock); `sextant repro --pull` may restore it"
        );
    }
    for p in &r.kept {
        eprintln!(
            "warning: {p}: has changes that are not in the cache; kept (use --force to replace)"
        );
    }
}

/// Print stale stages as `dvc status` does.
pub fn print_stage_status(stages: &[StageStatus]) {
    for s in stages {
        outln!("{}:", s.stage);
        if s.never_run {
            outln!("\tnever ran (no entry in dvc.lock)");
        }
        if !s.changed_deps.is_empty() || !s.changed_params.is_empty() {
            outln!("\tchanged deps:");
            for d in &s.changed_deps {
                outln!("\t\t{:<20}{}", format!("{}:", d.change), d.path);
            }
            let mut files: Vec<&str> = s.changed_params.iter().map(|p| p.file.as_str()).collect();
            files.dedup();
            for f in files {
                let of_file: Vec<_> = s.changed_params.iter().filter(|p| p.file == f).collect();
                if let [one] = of_file.as_slice()
                    && one.key.is_none()
                {
                    outln!("\t\t{:<20}{f}", format!("{}:", one.change));
                    continue;
                }
                outln!("\t\tparams {f}:");
                for p in of_file {
                    outln!(
                        "\t\t\t{:<20}{}",
                        format!("{}:", p.change),
                        p.key.as_deref().unwrap_or("")
                    );
                }
            }
        }
        if !s.changed_outs.is_empty() {
            outln!("\tchanged outs:");
            for o in &s.changed_outs {
                outln!("\t\t{:<20}{}", format!("{}:", o.change), o.path);
            }
        }
        if s.changed_command {
            outln!("\tchanged command");
        }
        if s.always_changed {
            outln!("\talways changed");
        }
    }
}
