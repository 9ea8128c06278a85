//! [`ObjectArtifactStore`]: the [`ArtifactStore`] over any `object_store` backend.

use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload, WriteMultipart};

use crate::{ArtifactError, ArtifactStore, ByteStream, CompletedPart, Download, FileInfo};

/// Where multipart uploads keep their parts until `complete` assembles them. Never listed.
const STAGING: &str = ".sextant-mpu";

/// Bodies up to this size are written with one request; larger ones stream in parts.
const SINGLE_PUT_LIMIT: usize = 8 * 1024 * 1024;

/// Part size when streaming to the backend (S3 needs at least 5 MiB per part).
const PART_SIZE: usize = 8 * 1024 * 1024;

/// A parsed artifact location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A local directory (created if missing).
    Local(std::path::PathBuf),
    /// An S3-compatible bucket and key prefix.
    S3 { bucket: String, prefix: String },
    /// Memory, for tests.
    Memory,
}

impl StoreLocation {
    /// Parse `DIR`, `file:///abs/dir`, `s3://bucket/prefix` or `memory://`.
    pub fn parse(s: &str) -> Result<Self, ArtifactError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ArtifactError::Config {
                message: "the artifact location is empty".into(),
            });
        }
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(ArtifactError::Config {
                    message: format!("'{s}' names no bucket; use s3://bucket/prefix"),
                });
            }
            return Ok(Self::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
            });
        }
        if s == "memory://" || s == "memory:" {
            return Ok(Self::Memory);
        }
        if let Some(path) = s.strip_prefix("file://") {
            return Ok(Self::Local(path.into()));
        }
        if let Some((scheme, _)) = s.split_once("://") {
            return Err(ArtifactError::Config {
                message: format!(
                    "unsupported artifact location scheme '{scheme}'; use a folder, file:///path or s3://bucket/prefix"
                ),
            });
        }
        Ok(Self::Local(s.into()))
    }
}

fn env(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
}

/// How to reach an S3-compatible service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Settings {
    /// A custom endpoint (MinIO, moto, ...); plain HTTP allowed, path-style addressing.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
}

impl S3Settings {
    /// From the standard variables: `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` /
    /// `MLFLOW_S3_ENDPOINT_URL`, `AWS_REGION` / `AWS_DEFAULT_REGION` (default `us-east-1`),
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`.
    pub fn from_env() -> Self {
        Self {
            endpoint: env(&[
                "AWS_ENDPOINT_URL_S3",
                "AWS_ENDPOINT_URL",
                "MLFLOW_S3_ENDPOINT_URL",
            ]),
            region: env(&["AWS_REGION", "AWS_DEFAULT_REGION"])
                .unwrap_or_else(|| "us-east-1".into()),
            access_key_id: env(&["AWS_ACCESS_KEY_ID"]),
            secret_access_key: env(&["AWS_SECRET_ACCESS_KEY"]),
            session_token: env(&["AWS_SESSION_TOKEN"]),
        }
    }
}

/// Artifacts in an object store under a key prefix.
pub struct ObjectArtifactStore {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    description: String,
    /// For a local folder: the filesystem view and the canonical root, to refuse paths that go
    /// through a symbolic link out of the root ([`Self::confine`]).
    local: Option<(Arc<LocalFileSystem>, std::path::PathBuf)>,
}

/// Check a client-supplied relative path, MLflow's `validate_path_is_safe` rules and more.
pub(crate) fn safe_path(path: &str) -> Result<String, ArtifactError> {
    let bad = |reason: &str| ArtifactError::InvalidPath {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let p = path.strip_prefix("./").unwrap_or(path);
    if p.starts_with('/') || p.contains('\\') || p.contains('\0') {
        return Err(bad("only relative paths with '/' separators are allowed"));
    }
    if p.len() > 1 && p.as_bytes()[1] == b':' {
        return Err(bad("drive letters are not allowed"));
    }
    let p = p.trim_end_matches('/');
    let mut out = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" if p.is_empty() => {}
            "" => return Err(bad("empty path segments are not allowed")),
            "." | ".." => return Err(bad("'.' and '..' segments are not allowed")),
            s if s.eq_ignore_ascii_case("%2e%2e") => {
                return Err(bad("encoded '..' is not allowed"));
            }
            s => out.push(s),
        }
    }
    if out.first() == Some(&STAGING) {
        return Err(bad("this prefix is reserved for multipart uploads"));
    }
    Ok(out.join("/"))
}

fn valid_upload_id(id: &str) -> Result<(), ArtifactError> {
    if id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ArtifactError::InvalidUpload {
            upload_id: id.to_owned(),
            reason: "not an upload id this server issued".into(),
        })
    }
}

impl ObjectArtifactStore {
    /// Wrap any object store; keys are placed under `prefix`.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str, description: String) -> Self {
        Self {
            store,
            prefix: prefix.trim_matches('/').to_owned(),
            description,
            local: None,
        }
    }

    /// Open the store a location names.
    pub fn open(loc: &StoreLocation) -> Result<Self, ArtifactError> {
        match loc {
            StoreLocation::Local(dir) => {
                std::fs::create_dir_all(dir)?;
                let abs = std::fs::canonicalize(dir)?;
                let fs = Arc::new(
                    LocalFileSystem::new_with_prefix(&abs)
                        .map_err(|e| ArtifactError::Config {
                            message: format!("cannot use {}: {e}", abs.display()),
                        })?
                        .with_automatic_cleanup(true),
                );
                let mut store = Self::new(fs.clone(), "", abs.display().to_string());
                store.local = Some((fs, abs));
                Ok(store)
            }
            StoreLocation::S3 { bucket, prefix } => {
                Self::open_s3(bucket, prefix, &S3Settings::from_env())
            }
            StoreLocation::Memory => {
                Ok(Self::new(Arc::new(InMemory::new()), "", "memory://".into()))
            }
        }
    }

    /// Open an S3-compatible bucket with explicit settings.
    pub fn open_s3(
        bucket: &str,
        prefix: &str,
        settings: &S3Settings,
    ) -> Result<Self, ArtifactError> {
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(settings.region.clone());
        if let Some(ep) = &settings.endpoint {
            b = b
                .with_endpoint(ep.clone())
                .with_allow_http(true)
                .with_virtual_hosted_style_request(false);
        }
        if let Some(k) = &settings.access_key_id {
            b = b.with_access_key_id(k.clone());
        }
        if let Some(k) = &settings.secret_access_key {
            b = b.with_secret_access_key(k.clone());
        }
        if let Some(t) = &settings.session_token {
            b = b.with_token(t.clone());
        }
        let s3 = b.build().map_err(|e| ArtifactError::Config {
            message: format!("cannot use s3://{bucket}: {e}"),
        })?;
        Ok(Self::new(
            Arc::new(s3),
            prefix,
            format!("s3://{bucket}/{prefix}"),
        ))
    }

    fn key(&self, rel: &str) -> Path {
        match (self.prefix.is_empty(), rel.is_empty()) {
            (true, _) => Path::from(rel),
            (false, true) => Path::from(self.prefix.as_str()),
            (false, false) => Path::from(format!("{}/{rel}", self.prefix)),
        }
    }

    fn staging(&self, upload_id: &str) -> String {
        format!("{STAGING}/{upload_id}")
    }

    /// Keys as `Path::from` builds them, so that each segment is percent-encoded alike.
    fn staged(&self, upload_id: &str, name: &str) -> Path {
        self.key(&format!("{}/{name}", self.staging(upload_id)))
    }

    /// On a local folder, refuse `key` when its file path goes through a symbolic link that
    /// leads out of the store's root (or nowhere): a link planted in the artifacts folder must
    /// not let a request read, write or delete files elsewhere. Links that stay inside the root
    /// are followed. Object stores have no links: always fine.
    fn confine(&self, key: &Path, shown: &str) -> Result<(), ArtifactError> {
        let Some((fs, root)) = &self.local else {
            return Ok(());
        };
        // A key the local store cannot map is refused by the store itself.
        let Ok(full) = fs.path_to_filesystem(key) else {
            return Ok(());
        };
        let escape = |link: &std::path::Path| ArtifactError::InvalidPath {
            path: shown.to_owned(),
            reason: format!(
                "'{}' is a symbolic link that leads out of the artifact store; links out of the store are not followed (replace the link by the file, or remove it)",
                link.strip_prefix(root).unwrap_or(link).display()
            ),
        };
        let Ok(rel) = full.strip_prefix(root) else {
            return Err(escape(&full));
        };
        let mut p = root.clone();
        for c in rel.components() {
            p.push(c);
            match std::fs::symlink_metadata(&p) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(ArtifactError::Io(e)),
                Ok(m) if m.file_type().is_symlink() => match std::fs::canonicalize(&p) {
                    Ok(target) if target.starts_with(root) => {}
                    _ => return Err(escape(&p)),
                },
                Ok(_) => {}
            }
        }
        Ok(())
    }

    async fn write_stream(
        &self,
        key: &Path,
        mut body: ByteStream,
        shown: &str,
    ) -> Result<u64, ArtifactError> {
        self.confine(key, shown)?;
        let mut buffered: Vec<Bytes> = Vec::new();
        let mut size = 0usize;
        while size <= SINGLE_PUT_LIMIT {
            match body.next().await {
                Some(chunk) => {
                    let chunk = chunk?;
                    size += chunk.len();
                    buffered.push(chunk);
                }
                None => {
                    let payload: PutPayload = buffered.into_iter().collect();
                    self.store
                        .put(key, payload)
                        .await
                        .map_err(|e| ArtifactError::backend(shown, e))?;
                    return Ok(size as u64);
                }
            }
        }
        let upload = self
            .store
            .put_multipart(key)
            .await
            .map_err(|e| ArtifactError::backend(shown, e))?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        for b in buffered {
            w.put(b);
        }
        let result: Result<(), ArtifactError> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                size += chunk.len();
                w.wait_for_capacity(4)
                    .await
                    .map_err(|e| ArtifactError::backend(shown, e))?;
                w.put(chunk);
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => {
                w.finish()
                    .await
                    .map_err(|e| ArtifactError::backend(shown, e))?;
                Ok(size as u64)
            }
            Err(e) => {
                let _ = w.abort().await;
                Err(e)
            }
        }
    }

    /// Every object below `rel`; on a local folder, a path through a link out of the root is
    /// refused (a recursive delete must not reach files elsewhere).
    async fn list_all(&self, rel: &str) -> Result<Vec<Path>, ArtifactError> {
        let prefix = self.key(rel);
        self.confine(&prefix, rel)?;
        let all: Vec<Path> = self
            .store
            .list(Some(&prefix))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .map_err(|e| ArtifactError::backend(rel, e))?;
        for p in &all {
            self.confine(p, rel)?;
        }
        Ok(all)
    }
}

#[async_trait::async_trait]
impl ArtifactStore for ObjectArtifactStore {
    async fn put(&self, path: &str, body: ByteStream) -> Result<u64, ArtifactError> {
        let rel = safe_path(path)?;
        if rel.is_empty() {
            return Err(ArtifactError::InvalidPath {
                path: path.to_owned(),
                reason: "a file path is required".into(),
            });
        }
        self.write_stream(&self.key(&rel), body, &rel).await
    }

    async fn get(&self, path: &str) -> Result<Download, ArtifactError> {
        let rel = safe_path(path)?;
        self.confine(&self.key(&rel), &rel)?;
        let r = self
            .store
            .get(&self.key(&rel))
            .await
            .map_err(|e| ArtifactError::backend(&rel, e))?;
        let size = r.meta.size;
        let body = r
            .into_stream()
            .map_err(|e| std::io::Error::other(e.to_string()))
            .boxed();
        Ok(Download { size, body })
    }

    async fn list(&self, dir: &str) -> Result<Vec<FileInfo>, ArtifactError> {
        let rel = safe_path(dir)?;
        let prefix = self.key(&rel);
        let prefix_opt = (!rel.is_empty() || !self.prefix.is_empty()).then_some(&prefix);
        self.confine(&prefix, &rel)?;
        let listing = self
            .store
            .list_with_delimiter(prefix_opt)
            .await
            .map_err(|e| ArtifactError::backend(&rel, e))?;
        let mut out: Vec<FileInfo> = Vec::new();
        for p in listing.common_prefixes {
            if let Some(name) = p.filename() {
                if rel.is_empty() && name == STAGING {
                    continue;
                }
                // A link out of the store is not shown (it could not be read either).
                if self.confine(&p, &rel).is_err() {
                    continue;
                }
                out.push(FileInfo {
                    path: name.to_owned(),
                    is_dir: true,
                    file_size: None,
                });
            }
        }
        for m in listing.objects {
            if self.confine(&m.location, &rel).is_err() {
                continue;
            }
            if let Some(name) = m.location.filename() {
                out.push(FileInfo {
                    path: name.to_owned(),
                    is_dir: false,
                    file_size: Some(m.size),
                });
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    async fn delete(&self, path: &str) -> Result<(), ArtifactError> {
        let rel = safe_path(path)?;
        if rel.is_empty() {
            return Err(ArtifactError::InvalidPath {
                path: path.to_owned(),
                reason: "refusing to delete the whole artifact store".into(),
            });
        }
        let key = self.key(&rel);
        self.confine(&key, &rel)?;
        match self.store.head(&key).await {
            Ok(_) => {
                return self
                    .store
                    .delete(&key)
                    .await
                    .map_err(|e| ArtifactError::backend(&rel, e));
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(ArtifactError::backend(&rel, e)),
        }
        // Not a file: a directory, and everything below it.
        let below = self.list_all(&rel).await?;
        if below.is_empty() {
            return Err(ArtifactError::NotFound { path: rel });
        }
        for p in &below {
            match self.store.delete(p).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(ArtifactError::backend(&rel, e)),
            }
        }
        Ok(())
    }

    async fn create_multipart(&self, path: &str) -> Result<String, ArtifactError> {
        let rel = safe_path(path)?;
        let upload_id = uuid::Uuid::new_v4().simple().to_string();
        self.confine(&self.key(&rel), &rel)?;
        self.confine(&self.staged(&upload_id, "target"), &rel)?;
        self.store
            .put(
                &self.staged(&upload_id, "target"),
                PutPayload::from(rel.into_bytes()),
            )
            .await
            .map_err(|e| ArtifactError::backend(path, e))?;
        Ok(upload_id)
    }

    async fn upload_part(
        &self,
        path: &str,
        upload_id: &str,
        part_number: u32,
        body: ByteStream,
    ) -> Result<String, ArtifactError> {
        let rel = safe_path(path)?;
        valid_upload_id(upload_id)?;
        self.check_target(upload_id, &rel).await?;
        if part_number == 0 || part_number > 10_000 {
            return Err(ArtifactError::InvalidUpload {
                upload_id: upload_id.to_owned(),
                reason: format!("part number {part_number} is not within 1..=10000"),
            });
        }
        let key = self.staged(upload_id, &format!("part-{part_number:05}"));
        let size = self.write_stream(&key, body, &rel).await?;
        Ok(format!("{upload_id}-{part_number}-{size}"))
    }

    async fn complete_multipart(
        &self,
        path: &str,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<(), ArtifactError> {
        let rel = safe_path(path)?;
        valid_upload_id(upload_id)?;
        self.check_target(upload_id, &rel).await?;
        let mut numbers: Vec<u32> = parts.iter().map(|p| p.part_number).collect();
        numbers.sort_unstable();
        numbers.dedup();
        if numbers.is_empty() {
            return Err(ArtifactError::InvalidUpload {
                upload_id: upload_id.to_owned(),
                reason: "no parts were listed".into(),
            });
        }
        let store = Arc::clone(&self.store);
        let mut keys = Vec::with_capacity(numbers.len());
        for n in &numbers {
            let key = self.staged(upload_id, &format!("part-{n:05}"));
            if store.head(&key).await.is_err() {
                return Err(ArtifactError::InvalidUpload {
                    upload_id: upload_id.to_owned(),
                    reason: format!("part {n} was never uploaded"),
                });
            }
            keys.push(key);
        }
        let shown = rel.clone();
        let body: ByteStream = futures::stream::iter(keys)
            .then(move |k| {
                let store = Arc::clone(&store);
                async move { store.get(&k).await.map(|r| r.into_stream()) }
            })
            .try_flatten()
            .map_err(|e| std::io::Error::other(e.to_string()))
            .boxed();
        self.write_stream(&self.key(&rel), body, &shown).await?;
        self.abort_multipart(path, upload_id).await
    }

    async fn abort_multipart(&self, path: &str, upload_id: &str) -> Result<(), ArtifactError> {
        safe_path(path)?;
        valid_upload_id(upload_id)?;
        for p in self.list_all(&self.staging(upload_id)).await? {
            match self.store.delete(&p).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(ArtifactError::backend(path, e)),
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

impl ObjectArtifactStore {
    /// The upload must exist and be for this path.
    async fn check_target(&self, upload_id: &str, rel: &str) -> Result<(), ArtifactError> {
        self.confine(&self.staged(upload_id, "target"), rel)?;
        let target = match self.store.get(&self.staged(upload_id, "target")).await {
            Ok(r) => r
                .bytes()
                .await
                .map_err(|e| ArtifactError::backend(rel, e))?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(ArtifactError::InvalidUpload {
                    upload_id: upload_id.to_owned(),
                    reason: "no such upload (finished, aborted, or never started)".into(),
                });
            }
            Err(e) => return Err(ArtifactError::backend(rel, e)),
        };
        if target.as_ref() != rel.as_bytes() {
            return Err(ArtifactError::InvalidUpload {
                upload_id: upload_id.to_owned(),
                reason: format!("the upload was started for another path, not '{rel}'"),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse() {
        assert_eq!(
            StoreLocation::parse("s3://b/p/q/").unwrap(),
            StoreLocation::S3 {
                bucket: "b".into(),
                prefix: "p/q".into()
            }
        );
        assert_eq!(
            StoreLocation::parse("/tmp/x").unwrap(),
            StoreLocation::Local("/tmp/x".into())
        );
        assert_eq!(
            StoreLocation::parse("file:///tmp/x").unwrap(),
            StoreLocation::Local("/tmp/x".into())
        );
        assert!(StoreLocation::parse("gs://b").is_err());
        assert!(StoreLocation::parse("s3://").is_err());
        assert!(StoreLocation::parse("").is_err());
    }

    #[test]
    fn unsafe_paths_are_refused() {
        for p in [
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "a\\b",
            "C:/x",
            "a/./b",
            ".sextant-mpu/x",
        ] {
            assert!(safe_path(p).is_err(), "{p}");
        }
        assert_eq!(safe_path("./a/b/").unwrap(), "a/b");
        assert_eq!(safe_path("").unwrap(), "");
    }
}
