//! `sextant serve`: registered models as a REST service (the work is in `sextant-serving`).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use sextant_client::Client;
use sextant_serving::batch::BatchOptions;
use sextant_serving::engine::EngineChoice;
use sextant_serving::registry::{self, ModelRef};
use sextant_serving::reqlog::RequestLogOptions;
use sextant_serving::server::{ServeOptions, serve};

use crate::cli::ServeArgs;

pub fn run(args: ServeArgs) -> Result<ExitCode> {
    if args.model.is_empty() && args.models.is_empty() {
        bail!(
            "nothing to serve\nhint: pass --model NAME@ALIAS (repeatable) or --models 'GLOB@ALIAS'"
        );
    }
    let engine: EngineChoice = args.engine.parse().map_err(anyhow::Error::msg)?;
    if !(args.poll_interval.is_finite() && args.poll_interval >= 0.1) {
        bail!(
            "--poll-interval must be at least 0.1 seconds, got {}",
            args.poll_interval
        );
    }
    if !(args.batch_window_ms.is_finite() && (0.0..=1000.0).contains(&args.batch_window_ms)) {
        bail!(
            "--batch-window-ms must be between 0 (off) and 1000, got {}",
            args.batch_window_ms
        );
    }
    if args.batch_max_rows == 0 {
        bail!("--batch-max-rows must be at least 1");
    }
    if !(0.0..=1.0).contains(&args.request_log_sample) {
        bail!(
            "--request-log-sample is a fraction between 0 and 1, got {}",
            args.request_log_sample
        );
    }
    let batch = (args.batch_window_ms > 0.0).then(|| BatchOptions {
        window: Duration::from_secs_f64(args.batch_window_ms / 1000.0),
        max_rows: args.batch_max_rows,
    });
    let request_log = args.request_log.clone().map(|path| RequestLogOptions {
        path,
        sample: args.request_log_sample,
    });
    let client = Client::from_env(args.tracking_uri.clone())?;
    let mut models = Vec::new();
    for spec in &args.model {
        let r = ModelRef::parse(spec)?;
        if r.is_glob() {
            bail!("--model takes one name, not a pattern: '{spec}'\nhint: use --models '{spec}'");
        }
        models.push(r);
    }
    for spec in &args.models {
        let pattern = ModelRef::parse(spec)?;
        models.extend(registry::expand(&client, &pattern)?);
    }
    models.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(w) = models.windows(2).find(|w| w[0].name == w[1].name) {
        bail!(
            "model '{}' is asked for twice; serve each name under one alias",
            w[0].name
        );
    }
    let work = std::env::temp_dir().join(format!("sextant-serve-{}", std::process::id()));
    let opts = ServeOptions {
        models,
        engine,
        addr: format!("{}:{}", args.host, args.port),
        poll_interval: Duration::from_secs_f64(args.poll_interval),
        work_dir: work.clone(),
        batch,
        request_log,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sextant-serve")
        .build()
        .context("cannot start the async runtime")?;
    let result = rt.block_on(serve(client, opts, crate::shutdown::requested()));
    let _ = std::fs::remove_dir_all(&work);
    result?;
    Ok(ExitCode::SUCCESS)
}
