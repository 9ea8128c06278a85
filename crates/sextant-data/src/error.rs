//! The one error type of this crate: every variant names the file, object or remote involved.

use std::path::PathBuf;

/// Everything that can go wrong in data versioning.
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
    /// No `.dvc/` directory here or in any parent.
    #[error("not a DVC repository (no .dvc directory in {0} or any parent)")]
    NotARepo(PathBuf),
    /// A `.dvc` pointer file could not be parsed or has invalid fields.
    #[error("{path}: {message}")]
    Pointer { path: PathBuf, message: String },
    /// A `.dir` manifest could not be parsed.
    #[error("directory manifest {path}: {message}")]
    Manifest { path: PathBuf, message: String },
    /// `.dvc/config` (or `config.local`) could not be parsed, or holds an invalid value.
    #[error("{path}:{line}: {message}")]
    Config {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A path given on the command line is unusable (outside the repository, missing, ...).
    #[error("{path}: {message}")]
    Target { path: PathBuf, message: String },
    /// The named remote is not configured.
    #[error("remote {0:?} is not configured in .dvc/config")]
    NoSuchRemote(String),
    /// No remote named and no `core.remote` default.
    #[error("no remote given and no default remote set (core.remote in .dvc/config)")]
    NoDefaultRemote,
    /// A remote URL we cannot use.
    #[error("remote {name:?}: unsupported URL {url:?}: {message}")]
    RemoteUrl {
        name: String,
        url: String,
        message: String,
    },
    /// The object store refused or failed an operation.
    #[error("remote {remote}: {op} {key}: {source}")]
    Remote {
        remote: String,
        op: &'static str,
        key: String,
        #[source]
        source: Box<object_store::Error>,
    },
    /// A downloaded object's content does not hash to its name: refused, never cached.
    #[error(
        "remote {remote}: object {key} is corrupted: its content hashes to {actual}, not {expected}; it was not added to the cache"
    )]
    Corrupted {
        remote: String,
        key: String,
        expected: String,
        actual: String,
    },
    /// Objects needed but present neither in the cache nor where they were looked for.
    #[error("{count} object(s) missing, first: {first}")]
    Missing { count: usize, first: String },
    /// Some transfers failed after retries; the others completed.
    #[error("{failed} of {total} transfer(s) failed; first: {first}")]
    Transfers {
        failed: usize,
        total: usize,
        first: Box<Error>,
    },
    /// The persistent stat cache (SQLite in `.dvc/tmp`) failed.
    #[error("stat cache {path}: {source}")]
    State {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// Checkout would discard workspace changes that are not in the cache.
    #[error(
        "{path}: has changes that are not in the cache and would be lost (add them first, or use --force)"
    )]
    WouldLoseChanges { path: PathBuf },
    /// Running `git` failed.
    #[error("git {args}: {message}")]
    Git { args: String, message: String },
}

impl Error {
    /// Not worth retrying: a corrupted or missing object stays so, and a local file error is
    /// not the remote's transient failure.
    pub(crate) fn is_permanent(&self) -> bool {
        matches!(
            self,
            Error::Corrupted { .. } | Error::Missing { .. } | Error::Io { .. }
        )
    }
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
