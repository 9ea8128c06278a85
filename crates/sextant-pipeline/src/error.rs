//! The one error type of this crate: every variant names the file, stage or path involved.

use std::path::PathBuf;

/// Everything that can go wrong reading, checking or running a pipeline.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem operation failed on `path`.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `dvc.yaml` (or a vars/params file) is not valid YAML/JSON/TOML.
    #[error("{path}: {message}")]
    Syntax { path: PathBuf, message: String },
    /// `dvc.yaml` is valid YAML but not a valid pipeline: an unknown key, a wrong type, a bad
    /// `${}` reference... `at` says where (`stages.train.cmd`).
    #[error("failed to parse '{at}' in '{file}': {message}")]
    Definition {
        file: String,
        at: String,
        message: String,
    },
    /// `dvc.lock` is not a schema 2.0 lock file, or an entry is malformed.
    #[error("{path}: {message}")]
    Lock { path: PathBuf, message: String },
    /// The stages do not form a valid graph (cycle, duplicated output, ...).
    #[error("{0}")]
    Graph(String),
    /// A dependency exists neither on disk nor as the output of a stage.
    #[error(
        "dependency '{path}' of stage '{stage}' does not exist, and no stage has it as an output"
    )]
    MissingDependency { stage: String, path: String },
    /// A params file or key a stage names is missing.
    #[error("stage '{stage}': {message}")]
    Params { stage: String, message: String },
    /// A stage named on the command line is not in `dvc.yaml`.
    #[error("stage '{0}' is not in dvc.yaml")]
    NoSuchStage(String),
    /// A stage's command could not be started or failed.
    #[error("stage '{stage}': command `{cmd}` {what}")]
    CommandFailed {
        stage: String,
        cmd: String,
        what: String,
    },
    /// A stage finished but did not produce an output it declares.
    #[error("stage '{stage}': output '{path}' does not exist after the command ran")]
    MissingOutput { stage: String, path: String },
    /// Processing a stage panicked (a bug in sextant): the stage failed, the repro did not hang.
    #[error(
        "stage '{stage}': internal error: {message}; hint: this is a bug in sextant, please report it with the pipeline that triggers it"
    )]
    Panicked { stage: String, message: String },
    /// Stages failed in a parallel repro (the others were completed or not started).
    #[error("failed to reproduce {}: {first}", names.join(", "))]
    Failed {
        names: Vec<String>,
        first: Box<Error>,
    },
    /// Outputs could not be pushed to or fetched from a remote.
    #[error("remote {remote}: {message}")]
    Transfer { remote: String, message: String },
    /// The data layer (cache, hashing, remotes) failed.
    #[error(transparent)]
    Data(#[from] sextant_data::Error),
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attach an operation and a path to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            op,
            path: path.into(),
            source,
        })
    }
}
