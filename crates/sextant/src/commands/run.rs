//! `sextant run [OPTIONS] -- COMMAND...`: resolve the flags into a [`sextant_run::RunConfig`],
//! run the command as a tracked run, print a summary, exit with the command's exit code.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use sextant_run::{RunConfig, Target, execute};

use crate::cli::RunArgs;
use crate::printer::outln;

fn seconds(flag: &str, v: f64) -> Result<Option<Duration>> {
    if !v.is_finite() || v < 0.0 {
        bail!("{flag} must be a number of seconds ≥ 0, got {v}");
    }
    Ok((v > 0.0).then(|| Duration::from_secs_f64(v.max(0.1))))
}

/// Run the command; the exit code is the command's (128 + signal when a signal ended it).
pub fn run(args: RunArgs, quiet: bool) -> Result<ExitCode> {
    let target = match (args.run_id, args.run_key) {
        (Some(_), Some(_)) => bail!(
            "give either --run-id (SEXTANT_RUN_ID) or --run-key (SEXTANT_RUN_KEY), not both\n\
             hint: unset the variable you do not mean to use"
        ),
        (Some(id), None) => Target::RunId(id),
        (None, Some(key)) if key.trim().is_empty() => bail!("--run-key must not be empty"),
        (None, Some(key)) => Target::RunKey(key),
        (None, None) => Target::New,
    };
    let client = sextant_client::Client::from_env(args.tracking_uri)?;
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let mut cfg = RunConfig::new(args.command, cwd);
    cfg.experiment = args.experiment.filter(|e| !e.trim().is_empty());
    cfg.run_name = args.name;
    cfg.target = target;
    cfg.stage = args.stage;
    cfg.params = args.params;
    cfg.param_files = args.param_files;
    cfg.tags = args.tags;
    cfg.env_vars = args.env_vars;
    cfg.metrics_files = args.metrics;
    cfg.live_metrics = args.live_metrics;
    cfg.outputs = args.outputs;
    cfg.python = args.python;
    cfg.sample_interval = seconds("--sample-interval", args.sample_interval)?;
    cfg.upload_interval =
        seconds("--upload-interval", args.upload_interval)?.unwrap_or(Duration::from_secs(10));
    cfg.user = args.user.filter(|u| !u.trim().is_empty());

    let outcome = execute(&client, &cfg)?;
    if args.json {
        let line = serde_json::json!({
            "run_id": outcome.run_id,
            "experiment_id": outcome.experiment_id,
            "status": outcome.status.as_str(),
            "command_status": outcome.command_status.as_str(),
            "exit_code": outcome.exit_code,
            "stage": outcome.stage,
            "created": outcome.created,
            "duration_s": outcome.duration.as_secs_f64(),
            "warnings": outcome.warnings,
        });
        outln!("{line}");
    } else if !quiet {
        let stage = outcome
            .stage
            .as_deref()
            .map(|s| format!(" (stage {s}: {})", outcome.command_status.as_str()))
            .unwrap_or_default();
        eprintln!(
            "sextant: run {} {}{stage}, exit code {} after {:.1} s\n  {}/#/experiments/{}/runs/{}",
            outcome.run_id,
            outcome.status.as_str(),
            outcome.exit_code,
            outcome.duration.as_secs_f64(),
            client.base_url(),
            outcome.experiment_id,
            outcome.run_id,
        );
    }
    Ok(ExitCode::from(
        u8::try_from(outcome.exit_code.clamp(0, 255)).unwrap_or(1),
    ))
}
