//! Artifact storage: the files runs and models log (plots, reports, model weights).
//!
//! [`ArtifactStore`] is the one interface the server uses; [`ObjectArtifactStore`] implements it
//! over the `object_store` crate, so the same code serves a local directory, any S3-compatible
//! bucket, or memory (tests). Paths are relative, `/`-separated, and validated here: nothing
//! outside the store's root can be read or written. Writes are atomic (a reader never sees half
//! an object), and multipart uploads stage their parts until `complete` assembles them.
//!
//! This crate knows nothing of HTTP or of MLflow's run/experiment model.

pub mod conformance;
mod error;
mod object;

use bytes::Bytes;
use futures::stream::BoxStream;

pub use error::ArtifactError;
pub use object::{ObjectArtifactStore, S3Settings, StoreLocation};

/// A stream of body chunks, for uploads and downloads of any size with flat memory.
pub type ByteStream = BoxStream<'static, Result<Bytes, std::io::Error>>;

/// One entry of a directory listing. `path` is the entry's basename.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileInfo {
    pub path: String,
    pub is_dir: bool,
    /// Size in bytes; `None` for directories.
    pub file_size: Option<u64>,
}

/// A finished part of a multipart upload, as the client reports it on `complete`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CompletedPart {
    pub part_number: u32,
    pub etag: String,
}

/// A downloaded object: its size and its content as a stream.
pub struct Download {
    pub size: u64,
    pub body: ByteStream,
}

/// Where the artifacts of every run and model live.
#[async_trait::async_trait]
pub trait ArtifactStore: Send + Sync + 'static {
    /// Write the object at `path` from a stream, atomically: readers see the old object or the
    /// whole new one, never a part.
    async fn put(&self, path: &str, body: ByteStream) -> Result<u64, ArtifactError>;

    /// Read the object at `path`. `NotFound` when there is no such object.
    async fn get(&self, path: &str) -> Result<Download, ArtifactError>;

    /// List the direct children of the directory `dir` ("" is the root), sorted by path.
    /// A path that does not exist, or names a file, lists as empty.
    async fn list(&self, dir: &str) -> Result<Vec<FileInfo>, ArtifactError>;

    /// Delete the object at `path`, or everything below it when it is a directory.
    /// `NotFound` when there is nothing there.
    async fn delete(&self, path: &str) -> Result<(), ArtifactError>;

    /// Start a multipart upload to `path`; returns its upload id.
    async fn create_multipart(&self, path: &str) -> Result<String, ArtifactError>;

    /// Store part `part_number` (1-based) of an upload; returns the part's etag.
    async fn upload_part(
        &self,
        path: &str,
        upload_id: &str,
        part_number: u32,
        body: ByteStream,
    ) -> Result<String, ArtifactError>;

    /// Assemble the listed parts, in part-number order, into the object at `path`, atomically,
    /// and drop the staged parts.
    async fn complete_multipart(
        &self,
        path: &str,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<(), ArtifactError>;

    /// Abandon an upload and drop its staged parts.
    async fn abort_multipart(&self, path: &str, upload_id: &str) -> Result<(), ArtifactError>;

    /// A human-readable description of where the artifacts live (for logs and `/version`).
    fn describe(&self) -> String;
}
