//! Command-line definitions (clap derive). Raw arguments only; `commands::*` resolve them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::env;

/// Sextant: experiment tracking and the whole MLOps loop in one fast binary.
///
/// Sextant speaks MLflow's REST API: point the unmodified `mlflow` client at it with
/// MLFLOW_TRACKING_URI=http://127.0.0.1:5000 and it works as it did against `mlflow server`.
#[derive(Debug, Parser)]
#[command(name = "sextant", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More log output (-v debug, -vv trace). SEXTANT_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the tracking server (a drop-in for `mlflow server`).
    Server(ServerArgs),
    /// Review, protect and promote registered models; read their audit log.
    Models(ModelsArgs),
    /// Run any command as a tracked run: code, environment, params, logs, metrics, outputs.
    Run(Box<RunArgs>),
}

/// The model registry's review workflow: every new version starts "pending review"; reviewers
/// approve or reject it with a comment; protected aliases (e.g. production) only ever point at
/// approved versions; every decision and alias move is in the audit log.
///
/// Examples:
///   export MLFLOW_TRACKING_URI=http://127.0.0.1:5000
///   sextant models list
///   sextant models show fraud-detector
///   sextant models protect fraud-detector --alias production
///   sextant models review fraud-detector 3 --approve -m "AUC 0.93 on the holdout set"
///   sextant models promote fraud-detector 3 --alias production
///   sextant models log fraud-detector
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ModelsArgs {
    /// The tracking server (a `sextant server`).
    #[arg(long, global = true, env = env::MLFLOW_TRACKING_URI)]
    pub tracking_uri: Option<String>,
    /// Who you are, recorded in the audit log. [default: $USER]
    #[arg(long, global = true, env = env::SEXTANT_USER)]
    pub user: Option<String>,
    /// Print the server's JSON instead of a table (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: ModelsCommand,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Every registered model: versions, review counts, aliases.
    List,
    /// One model: its versions with review status, stage and aliases.
    Show {
        /// Registered model name.
        name: String,
    },
    /// Approve or reject a version, with a comment saying why.
    ///
    /// A version whose recorded checks failed is approved only with --override-failed-checks,
    /// and the audit log shows the override.
    ///
    /// Example: sextant models review fraud-detector 3 --approve -m "AUC 0.93 on the holdout set"
    Review {
        name: String,
        #[arg(id = "model_version", value_name = "VERSION")]
        version: String,
        /// Approve the version.
        #[arg(long, required_unless_present = "reject", conflicts_with = "reject")]
        approve: bool,
        /// Reject the version.
        #[arg(long)]
        reject: bool,
        /// Why (required).
        #[arg(long, short = 'm')]
        message: String,
        /// Approve even though recorded checks failed (audited).
        #[arg(long)]
        override_failed_checks: bool,
    },
    /// Point an alias at a version (a protected alias only takes approved versions).
    ///
    /// Example: sextant models promote fraud-detector 3 --alias production
    Promote {
        name: String,
        #[arg(id = "model_version", value_name = "VERSION")]
        version: String,
        /// The alias to move, e.g. production.
        #[arg(long)]
        alias: String,
    },
    /// Protect an alias so it may only point at approved versions (--unprotect lifts it).
    ///
    /// Example: sextant models protect fraud-detector --alias production
    Protect {
        name: String,
        #[arg(long)]
        alias: String,
        /// Remove the protection instead.
        #[arg(long)]
        unprotect: bool,
    },
    /// Record the result of an automated check on a version.
    ///
    /// Example: sextant models check fraud-detector 3 --name fairness --failed --details "gap 0.08"
    Check {
        name: String,
        #[arg(id = "model_version", value_name = "VERSION")]
        version: String,
        /// The check's name.
        #[arg(long = "name", id = "check_name")]
        check: String,
        /// The check passed.
        #[arg(long, required_unless_present = "failed", conflicts_with = "failed")]
        passed: bool,
        /// The check failed (blocks approval unless overridden).
        #[arg(long)]
        failed: bool,
        /// What the check found.
        #[arg(long)]
        details: Option<String>,
    },
    /// Link an artifact of the version's run as its review report.
    ///
    /// Example: sextant models report fraud-detector 3 reports/eval.html
    Report {
        name: String,
        #[arg(id = "model_version", value_name = "VERSION")]
        version: String,
        /// Path inside the run's artifacts.
        path: String,
    },
    /// The audit log: every decision, check, alias move and protection change, oldest first.
    #[command(disable_version_flag = true)]
    Log {
        name: String,
        /// Only this version's entries.
        #[arg(long = "version", id = "only_version", value_name = "VERSION")]
        version: Option<String>,
    },
}

/// Run the tracking server: MLflow's REST API, the artifact proxy, health and version.
///
/// With no flags it keeps everything in ./sextant-data: an embedded SQLite database
/// (sextant.db) and an artifacts folder. Existing `mlflow server` command lines work: the
/// flags below keep MLflow's names and meaning.
///
/// Examples:
///   sextant server
///   sextant server --host 0.0.0.0 --port 5000
///   sextant server --backend-store-uri postgresql://mlflow:pw@db:5432/mlflow \
///                  --artifacts-destination s3://bucket/mlflow
#[derive(Debug, Args)]
#[command(verbatim_doc_comment, disable_help_flag = true)]
pub struct ServerArgs {
    /// Print help (`-h` is `--host`, as in `mlflow server`).
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,

    /// Address to listen on (0.0.0.0 to listen on every interface).
    #[arg(long, short = 'h', env = env::SEXTANT_HOST, default_value = "127.0.0.1")]
    pub host: String,

    /// Port to listen on (0 picks a free one and prints it).
    #[arg(long, short = 'p', env = env::SEXTANT_PORT, default_value_t = 5000)]
    pub port: u16,

    /// Folder for the default SQLite store and artifacts.
    #[arg(long, env = env::SEXTANT_DATA_DIR, default_value = "sextant-data")]
    pub data_dir: PathBuf,

    /// Metadata store: sqlite:///relative.db, sqlite:////absolute.db or
    /// postgresql://user:password@host:port/database. [default: sqlite:///<data-dir>/sextant.db]
    #[arg(long, env = env::SEXTANT_BACKEND_STORE_URI)]
    pub backend_store_uri: Option<String>,

    /// Where artifacts are stored: a local folder, file:///path, or s3://bucket/prefix (endpoint
    /// and credentials from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// AWS_DEFAULT_REGION). [default: <data-dir>/artifacts]
    #[arg(long, env = env::SEXTANT_ARTIFACTS_DESTINATION)]
    pub artifacts_destination: Option<String>,

    /// MLflow's flag for the artifact root of new experiments. Sextant always proxies artifacts
    /// (clients only ever talk to the server), so a storage location given here is used as the
    /// artifacts destination when --artifacts-destination is not set.
    #[arg(long)]
    pub default_artifact_root: Option<String>,

    /// Serve artifacts through the server (MLflow's flag; always on in Sextant).
    #[arg(long)]
    pub serve_artifacts: bool,

    /// Accepted for `mlflow server` compatibility; Sextant always serves artifacts.
    #[arg(long, hide = true)]
    pub no_serve_artifacts: bool,

    /// Accepted for `mlflow server` compatibility and ignored: Sextant is one async process
    /// that uses every core.
    #[arg(long, short = 'w', hide = true)]
    pub workers: Option<String>,

    /// Who requests are from when they do not say (the `X-Sextant-User` header): recorded as
    /// the actor of registry changes made through the MLflow API, e.g. alias moves.
    #[arg(long, env = env::SEXTANT_USER)]
    pub user: Option<String>,

    /// Seconds to let in-flight requests finish after SIGTERM/Ctrl-C.
    #[arg(long, default_value_t = 30)]
    pub shutdown_grace: u64,
}

/// Run any command as a tracked run, with everything needed to reproduce it.
///
/// The command runs as it would without Sextant (same terminal output, same exit code; 128 +
/// the signal when a signal ends it) while the run records: the command line, working folder,
/// start/end time, duration and status (FINISHED, FAILED, KILLED on a signal); git commit,
/// branch, remote and dirty state with the uncommitted diff; params from --param and params
/// files; OS, CPU, memory, Python packages and lock-file hashes; stdout and stderr; system
/// metrics every few seconds; metrics files and a live JSON-lines file; outputs. The command
/// gets MLFLOW_TRACKING_URI and MLFLOW_RUN_ID, so its own mlflow calls log into the same run.
/// Every name recorded is listed in docs/run.md.
///
/// Examples:
///   export MLFLOW_TRACKING_URI=http://127.0.0.1:5000
///   sextant run -- python train.py --epochs 3
///   sextant run --experiment nightly --params params.yaml --param lr=0.01 \
///       --metrics eval.json --live-metrics metrics.jsonl --output model/ -- ./train.sh
///   sextant run --run-key "$CI_PIPELINE_ID" --stage test -- pytest -x   # one run per pipeline
///   sextant run --json -- make test | tail -1                           # {"run_id": ..., "status": ...}
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct RunArgs {
    /// The tracking server.
    #[arg(long, env = env::MLFLOW_TRACKING_URI)]
    pub tracking_uri: Option<String>,
    /// The experiment, by name (created if missing). [default: the Default experiment]
    #[arg(long, short = 'e', env = env::MLFLOW_EXPERIMENT_NAME)]
    pub experiment: Option<String>,
    /// The run's name (mlflow.runName).
    #[arg(long)]
    pub name: Option<String>,
    /// Attach to this existing run instead of creating one (the command is one stage of it).
    #[arg(long, env = env::SEXTANT_RUN_ID)]
    pub run_id: Option<String>,
    /// Fill the run this stable key names (e.g. a CI pipeline id), created on first use; every
    /// stage given the same key, on any machine, ends in that one run.
    #[arg(long, env = env::SEXTANT_RUN_KEY)]
    pub run_key: Option<String>,
    /// The stage's name when attached (logs under stages/NAME/). [default: from the command]
    #[arg(long)]
    pub stage: Option<String>,
    /// A param, KEY=VALUE (repeatable; wins over params files).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// A params file: YAML, JSON or TOML; nested keys are flattened with dots (repeatable).
    #[arg(long = "params", value_name = "FILE")]
    pub param_files: Vec<PathBuf>,
    /// A tag on the run, KEY=VALUE (repeatable).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
    /// Record this environment variable's value (repeatable).
    #[arg(long = "env-var", value_name = "NAME")]
    pub env_vars: Vec<String>,
    /// A metrics file the command writes (JSON, YAML, CSV, JSON lines), read when it ends
    /// (repeatable).
    #[arg(long = "metrics", value_name = "FILE")]
    pub metrics: Vec<PathBuf>,
    /// A JSON-lines file the command appends to (`{"step": 3, "loss": 0.2}`), followed while it
    /// runs (repeatable).
    #[arg(long = "live-metrics", value_name = "FILE")]
    pub live_metrics: Vec<PathBuf>,
    /// A file or folder uploaded as artifacts when the command ends, even if it failed
    /// (repeatable).
    #[arg(long = "output", value_name = "PATH")]
    pub outputs: Vec<PathBuf>,
    /// The Python interpreter whose packages are recorded (pip freeze), when the command is
    /// not itself `python ...` (e.g. a shell script that runs .venv/bin/python).
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// Seconds between system-metric samples (0 turns them off).
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    pub sample_interval: f64,
    /// Seconds between uploads of the logs while the command runs.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub upload_interval: f64,
    /// Who runs it (mlflow.user). [default: $LOGNAME / $USER]
    #[arg(long, env = env::SEXTANT_USER)]
    pub user: Option<String>,
    /// At the end, print {"run_id", "experiment_id", "status", "exit_code", ...} as one JSON line
    /// on stdout.
    #[arg(long)]
    pub json: bool,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        // clap's own consistency checks (unique ids, conflicting flags) for every subcommand.
        super::Cli::command().debug_assert();
    }
}
