//! What can go wrong before, during or after running the command, each with what to do next.

use std::path::PathBuf;

use sextant_client::ClientError;

/// A failure of `sextant run` itself (the command's own failure is not an error: it is the
/// run's status and exit code).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(
        "no command to run\nhint: put the command after `--`, e.g. `sextant run -- python train.py`"
    )]
    NoCommand,
    #[error("--param '{arg}': expected KEY=VALUE\nhint: e.g. --param lr=0.01")]
    ParamSyntax { arg: String },
    #[error("--tag '{arg}': expected KEY=VALUE\nhint: e.g. --tag team=vision")]
    TagSyntax { arg: String },
    #[error("{what} '{key}' is not a valid MLflow key: {reason}")]
    InvalidKey {
        what: &'static str,
        key: String,
        reason: &'static str,
    },
    #[error(
        "param '{key}' is {len} characters long; MLflow's limit is {limit}\nhint: shorten it, or log it as an artifact with --output"
    )]
    ParamTooLong {
        key: String,
        len: usize,
        limit: usize,
    },
    #[error(
        "cannot tell the format of '{}' from its name\nhint: name it {expected}", path.display()
    )]
    UnknownFormat {
        path: PathBuf,
        expected: &'static str,
    },
    #[error("cannot read {what} '{}': {source}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} '{}' is not valid {format}: {reason}", path.display())]
    Parse {
        what: &'static str,
        path: PathBuf,
        format: &'static str,
        reason: String,
    },
    #[error(
        "cannot start `{program}`: {source}\nhint: check that the command exists and is executable (it is looked up in PATH)"
    )]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot set up {what}: {source}")]
    Setup {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "run '{run_id}' is deleted\nhint: restore it first, or attach to another run (--run-id / SEXTANT_RUN_ID)"
    )]
    DeletedRun { run_id: String },
    #[error(
        "run '{run_id}' does not exist on {server}\nhint: check --run-id / SEXTANT_RUN_ID and --tracking-uri"
    )]
    NoSuchRun { run_id: String, server: String },
    #[error(
        "the run key '{key}' points at run '{run_id}', which is gone or deleted\nhint: restore that run, or use a new --run-key"
    )]
    StaleRunKey { key: String, run_id: String },
    #[error(transparent)]
    Client(#[from] ClientError),
}
