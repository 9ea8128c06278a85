//! What can go wrong resolving, loading and serving a model, each case naming what to fix.

use std::path::PathBuf;

/// A failure of the serving library.
#[derive(Debug, thiserror::Error)]
pub enum ServingError {
    #[error(
        "'{spec}' is not a model reference: {reason}\nhint: write NAME@ALIAS, e.g. vessel-tanker@production"
    )]
    BadSpec { spec: String, reason: String },
    #[error("no registered model matches '{pattern}'")]
    NoMatch { pattern: String },
    #[error(
        "model '{name}' has no alias '{alias}'\nhint: set it with `sextant models promote {name} VERSION --alias {alias}`"
    )]
    NoAlias { name: String, alias: String },
    #[error(
        "model '{name}' version {version} is {status}, and the alias '{alias}' is protected: it is served only once approved\nhint: review it with `sextant models review {name} {version} --approve -m COMMENT`"
    )]
    NotApproved {
        name: String,
        alias: String,
        version: String,
        status: String,
    },
    #[error("the tracking server refused or failed: {0}")]
    Client(#[from] sextant_client::ClientError),
    #[error("model '{name}' version {version}: {reason}")]
    Artifacts {
        name: String,
        version: String,
        reason: String,
    },
    #[error(
        "model '{name}' version {version}: the file '{file}' {problem}; refused rather than served (approved files digest {digest})\nhint: the files changed after approval; restore them, or register the new files as a new version and review it"
    )]
    NotWhatWasApproved {
        name: String,
        version: String,
        file: String,
        problem: String,
        digest: String,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the MLmodel file is not valid: {0}")]
    MlModel(String),
    #[error(
        "ONNX Runtime is not available: {0}\nhint: set ORT_DYLIB_PATH to libonnxruntime.so, `pip install onnxruntime` into the active venv, or use --engine tract"
    )]
    OrtUnavailable(String),
    #[error(
        "the {engine} engine cannot run this model correctly: operator {operator} ({reason}); refused rather than served with wrong answers\nhint: use --engine ort"
    )]
    Unsupported {
        engine: &'static str,
        operator: String,
        reason: String,
    },
    #[error("the {engine} engine failed to load the model: {reason}")]
    Load {
        engine: &'static str,
        reason: String,
    },
    #[error("inference failed: {0}")]
    Inference(String),
    #[error("{0}")]
    BadInput(String),
    #[error("the input example fails: {0}")]
    FailEarly(String),
    #[error("model '{0}' is not served here")]
    UnknownModel(String),
    #[error("model '{0}' is not ready: {1}")]
    NotReady(String, String),
    #[error("cannot serve on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = ServingError> = std::result::Result<T, E>;
