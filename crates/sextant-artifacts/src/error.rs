//! What can go wrong with artifacts. Messages name the path and what to do.

/// An artifact operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// Nothing is stored at that path.
    #[error("no artifact at '{path}'")]
    NotFound { path: String },
    /// The path could escape the store's root or is malformed.
    #[error("invalid artifact path '{path}': {reason}")]
    InvalidPath { path: String, reason: String },
    /// A multipart upload id or part list that does not match a started upload.
    #[error("invalid multipart upload '{upload_id}': {reason}")]
    InvalidUpload { upload_id: String, reason: String },
    /// The artifact location cannot be used (bad URI, missing bucket settings, ...).
    #[error("artifact store configuration: {message}")]
    Config { message: String },
    /// The storage backend failed.
    #[error("artifact storage failed: {source}")]
    Backend {
        #[source]
        source: object_store::Error,
    },
    /// Reading the uploaded body failed.
    #[error("reading the upload failed: {0}")]
    Io(#[from] std::io::Error),
}

impl ArtifactError {
    pub(crate) fn backend(path: &str, e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { .. } => Self::NotFound {
                path: path.to_owned(),
            },
            source => Self::Backend { source },
        }
    }
}
