//! Sextant's services: the business rules between the API and storage.
//!
//! [`tracking::TrackingService`] validates what clients send (MLflow's names, lengths and batch
//! limits, with MLflow's messages), fills in what MLflow fills in (run names, the `Default`
//! experiment, artifact locations), and calls the [`sextant_store::MetadataStore`]. It knows
//! nothing of HTTP: errors are [`CoreError`]s, mapped to wire codes once, in the server.

pub mod names;
pub mod registry;
pub mod tracking;
pub mod validation;

use sextant_store::StoreError;

/// What a service call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The caller sent something invalid; the message says what.
    #[error("{0}")]
    InvalidParameter(String),
    /// The thing named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A thing with that identity exists already.
    #[error("{0}")]
    AlreadyExists(String),
    /// The actor may not do this (e.g. review a version they authored).
    #[error("{0}")]
    PermissionDenied(String),
    /// The change would alter something that must not change (e.g. the files of an approved
    /// version); the message names it.
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
    /// The artifact store failed.
    #[error(transparent)]
    Artifacts(sextant_artifacts::ArtifactError),
}

impl From<StoreError> for CoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => Self::NotFound(m),
            StoreError::AlreadyExists(m) => Self::AlreadyExists(m),
            StoreError::InvalidState(m) => Self::InvalidParameter(m),
            e @ StoreError::ParamsChanged { .. } => Self::InvalidParameter(e.to_string()),
            StoreError::PermissionDenied(m) => Self::PermissionDenied(m),
            other => Self::Store(other),
        }
    }
}

impl From<sextant_search::SearchError> for CoreError {
    fn from(e: sextant_search::SearchError) -> Self {
        Self::InvalidParameter(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, CoreError>;
