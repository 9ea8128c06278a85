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
