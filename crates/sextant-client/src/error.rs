//! What can go wrong talking to a tracking server, each case with what to do next.

use std::path::PathBuf;

/// A failed call to the tracking server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "no tracking server given\nhint: pass --tracking-uri http://HOST:PORT or set MLFLOW_TRACKING_URI"
    )]
    NoTrackingUri,
    #[error("invalid tracking URI '{uri}': {reason}")]
    InvalidUri { uri: String, reason: String },
    #[error(
        "cannot reach the tracking server at {base}: {reason}\nhint: start it with `sextant server`, or check --tracking-uri / MLFLOW_TRACKING_URI"
    )]
    Unreachable { base: String, reason: String },
    /// The server answered with an error status; `error_code` is MLflow's (e.g.
    /// `RESOURCE_DOES_NOT_EXIST`), empty when the answer had none.
    #[error("{message} ({method} {url}: HTTP {status}{})", if error_code.is_empty() { String::new() } else { format!(", {error_code}") })]
    Api {
        method: String,
        url: String,
        status: u16,
        error_code: String,
        message: String,
    },
    /// 401: the server wants credentials, or did not accept the ones sent.
    #[error("{}", unauthenticated_text(base, message, *sent))]
    Unauthenticated {
        base: String,
        message: String,
        /// Which variables the rejected credentials came from (`None`: none were sent).
        sent: Option<&'static str>,
    },
    /// 403: the server knows who is asking and refuses them this (or refuses the request as
    /// such, e.g. from another network without auth: its message says why).
    #[error("{}", forbidden_text(method, url, error_code, message, sent.as_deref()))]
    PermissionDenied {
        method: String,
        url: String,
        error_code: String,
        message: String,
        /// Who the credentials sent name (`None`: none were sent).
        sent: Option<String>,
    },
    #[error("the server's answer to {what} is not what the API promises: {reason}")]
    Decode { what: String, reason: String },
    #[error(
        "the run's artifact location '{uri}' is not served through the tracking server\nhint: start the server with artifact proxying (`sextant server` always proxies; `mlflow server` needs --serve-artifacts)"
    )]
    UnsupportedArtifactUri { uri: String },
    #[error(
        "experiment '{name}' is deleted\nhint: restore it (MlflowClient().restore_experiment) or choose another name"
    )]
    DeletedExperiment { name: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn unauthenticated_text(base: &str, message: &str, sent: Option<&str>) -> String {
    match sent {
        None => format!(
            "the tracking server at {base} requires authentication: {message}\n\
             hint: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or \
             MLFLOW_TRACKING_TOKEN (a token from `sextant token create`)"
        ),
        Some(vars) => format!(
            "the tracking server at {base} did not accept the credentials from {vars}: \
             {message}\n\
             hint: check {vars}; a token may have expired or been revoked (`sextant token list`)"
        ),
    }
}

fn forbidden_text(
    method: &str,
    url: &str,
    error_code: &str,
    message: &str,
    sent: Option<&str>,
) -> String {
    let code = if error_code.is_empty() {
        String::new()
    } else {
        format!(", {error_code}")
    };
    let hint = match sent {
        Some(who) => format!(
            "\nhint: {who} lacks the permission for this; an admin can grant it (see \
             docs/security.md)"
        ),
        None => String::new(),
    };
    format!("{message} ({method} {url}: HTTP 403{code}){hint}")
}

impl ClientError {
    /// The HTTP status of a refusal by the server.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            Self::Unauthenticated { .. } => Some(401),
            Self::PermissionDenied { .. } => Some(403),
            _ => None,
        }
    }

    /// MLflow's error code, if the server refused the call.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            Self::Api { error_code, .. } | Self::PermissionDenied { error_code, .. } => {
                Some(error_code)
            }
            _ => None,
        }
    }

    /// The thing asked for does not exist (`RESOURCE_DOES_NOT_EXIST`, or a plain 404).
    pub fn is_not_found(&self) -> bool {
        match self {
            Self::Api {
                status, error_code, ..
            } => {
                error_code == "RESOURCE_DOES_NOT_EXIST" || (*status == 404 && error_code.is_empty())
            }
            _ => false,
        }
    }

    /// The thing to create exists already (`RESOURCE_ALREADY_EXISTS`).
    pub fn is_already_exists(&self) -> bool {
        self.error_code() == Some("RESOURCE_ALREADY_EXISTS")
    }

    /// The server refused the request as invalid (HTTP 4xx): the caller's mistake, not the
    /// server's or the network's.
    pub fn is_refusal(&self) -> bool {
        self.status().is_some_and(|s| (400..500).contains(&s))
    }
}
