//! Remotes: local folders and S3-compatible buckets with DVC 3's layout
//! (`<url>/files/md5/<2 hex>/<30 hex>`): plain file operations for folders, `object_store`
//! for buckets.
//!
//! Transfers run many at once (`jobs`): on a thread pool for a folder, as concurrent requests
//! for a bucket, each request retried with exponential backoff on transient errors. Every
//! downloaded object is hashed (in memory when small, while it streams into a temporary file
//! in the cache when large) and enters the cache (by rename) only when its md5 matches its
//! name; a corrupted object is refused and reported, never cached. Objects already at the destination are
//! skipped, so an interrupted push or pull resumes where it stopped. Directory manifests go
//! last on push, so a manifest on a remote means its files are there too.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, PutPayload, WriteMultipart};
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use crate::cache::{OBJECT_MODE, object_key};
use crate::error::{Error, IoContext, Result};
use crate::hash::Oid;
use crate::repo::{Repo, Tracked, UsedObjects};
use crate::{Progress, fsutil, hash};

/// Files above this size are uploaded in parts (flat memory).
const MULTIPART_THRESHOLD: u64 = 64 << 20;
/// Part size for multipart uploads.
const PART_SIZE: usize = 16 << 20;
/// Objects up to this size are downloaded into memory, verified, then written at once.
const SMALL_OBJECT: u64 = 8 << 20;
/// Attempts per object before giving up.
const ATTEMPTS: u32 = 5;

/// A configured remote, opened.
pub struct Remote {
    /// Its name in `.dvc/config`.
    pub name: String,
    /// Its URL as configured.
    pub url: String,
    backend: Backend,
}

/// Where a remote's objects live.
enum Backend {
    /// A local or mounted folder: plain file operations, many at once on a thread pool.
    Local(PathBuf),
    /// An object store (S3-compatible): concurrent requests, each retried with backoff.
    Store(Arc<dyn ObjectStore>),
}

/// Which way objects go.
#[derive(Debug, Clone, Copy)]
enum Direction {
    /// From the cache to the remote.
    Upload,
    /// From the remote into the cache, verified.
    Download,
}

/// What a push, pull or fetch did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct TransferReport {
    /// The remote's name.
    pub remote: String,
    /// Objects copied.
    pub transferred: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// Objects already at the destination (not sent again).
    pub skipped: u64,
    /// Objects found neither locally nor on the remote.
    pub missing: Vec<Oid>,
    /// Objects that failed after retries (or were refused as corrupted), with the reason.
    pub failed: Vec<Failure>,
}

impl TransferReport {
    /// Count each object's outcome (transferred, missing, or failed with the reason) and return
    /// the objects that arrived.
    fn record(&mut self, results: Vec<(Oid, Result<u64>)>) -> Vec<Oid> {
        let mut ok = Vec::new();
        for (oid, r) in results {
            match r {
                Ok(n) => {
                    self.transferred += 1;
                    self.bytes += n;
                    ok.push(oid);
                }
                Err(Error::Missing { .. }) => self.missing.push(oid),
                Err(e) => self.failed.push(Failure {
                    oid,
                    error: e.to_string(),
                }),
            }
        }
        ok
    }
}

/// One object that could not be transferred.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// The object id.
    pub oid: Oid,
    /// Why.
    pub error: String,
}

/// The remote side of one output.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteStatus {
    /// The output's path relative to the root.
    pub path: String,
    /// `new` (in the cache, not on the remote), `deleted` (on the remote, not in the cache) or
    /// `missing` (in neither).
    pub status: &'static str,
}

impl Remote {
    /// Open remote `name` (or the default `core.remote`) of `repo`.
    pub fn open(repo: &Repo, name: Option<&str>) -> Result<Self> {
        let name = match name {
            Some(n) => n.to_string(),
            None => repo
                .config
                .get("core", "remote")
                .ok_or(Error::NoDefaultRemote)?
                .to_string(),
        };
        let keys = repo
            .config
            .remote(&name)
            .ok_or_else(|| Error::NoSuchRemote(name.clone()))?;
        let get = |k: &str| {
            keys.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        let url = get("url")
            .ok_or_else(|| Error::RemoteUrl {
                name: name.clone(),
                url: String::new(),
                message: "no url".into(),
            })?
            .to_string();
        let bad = |message: String| Error::RemoteUrl {
            name: name.clone(),
            url: url.clone(),
            message,
        };
        let backend = if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("no bucket name".into()));
            }
            let mut b = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_retry(object_store::RetryConfig {
                    backoff: object_store::BackoffConfig {
                        init_backoff: Duration::from_millis(100),
                        max_backoff: Duration::from_secs(15),
                        base: 2.0,
                    },
                    max_retries: 8,
                    retry_timeout: Duration::from_secs(180),
                });
            if let Some(endpoint) = get("endpointurl")
                .map(str::to_string)
                .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
            {
                b = b
                    .with_allow_http(endpoint.starts_with("http://"))
                    .with_endpoint(endpoint);
            }
            if std::env::var("AWS_DEFAULT_REGION").is_err() && std::env::var("AWS_REGION").is_err()
            {
                b = b.with_region("us-east-1");
            }
            for (key, cfg) in [
                ("region", object_store::aws::AmazonS3ConfigKey::Region),
                (
                    "access_key_id",
                    object_store::aws::AmazonS3ConfigKey::AccessKeyId,
                ),
                (
                    "secret_access_key",
                    object_store::aws::AmazonS3ConfigKey::SecretAccessKey,
                ),
                ("session_token", object_store::aws::AmazonS3ConfigKey::Token),
            ] {
                if let Some(v) = get(key) {
                    b = b.with_config(cfg, v);
                }
            }
            let s3 = b.build().map_err(|e| bad(e.to_string()))?;
            Backend::Store(if prefix.trim_matches('/').is_empty() {
                Arc::new(s3)
            } else {
                Arc::new(object_store::prefix::PrefixStore::new(
                    s3,
                    prefix.trim_matches('/'),
                ))
            })
        } else if url.contains("://") && !url.starts_with("file://") {
            return Err(bad(
                "only local folders, file:// and s3:// remotes are supported".into(),
            ));
        } else {
            // Its folders are created by the first push that needs them, as DVC does.
            Backend::Local(local_remote_dir(&repo.dvc_dir, &url))
        };
        Ok(Self { name, url, backend })
    }

    fn key(oid: &Oid) -> ObjPath {
        ObjPath::from(object_key(oid))
    }

    fn remote_err(&self, op: &'static str, oid: &Oid, source: object_store::Error) -> Error {
        self.remote_key_err(op, object_key(oid), source)
    }

    fn remote_key_err(&self, op: &'static str, key: String, source: object_store::Error) -> Error {
        Error::Remote {
            remote: self.name.clone(),
            op,
            key,
            source: Box::new(source),
        }
    }

    /// Which of `oids` the remote has: a `stat` or HEAD request each for a few, one listing per
    /// hash prefix for many.
    pub async fn has(&self, oids: &[Oid], jobs: usize) -> Result<HashSet<Oid>> {
        let store = match &self.backend {
            Backend::Local(dir) => return self.local_has(dir, oids),
            Backend::Store(store) => store,
        };
        if oids.len() <= 64 {
            let found: Vec<Option<Oid>> = futures::stream::iter(oids.iter().cloned())
                .map(|oid| async move {
                    let key = Self::key(&oid);
                    let not_found =
                        |e: &object_store::Error| matches!(e, object_store::Error::NotFound { .. });
                    match retry(not_found, || store.head(&key)).await {
                        Ok(_) => Ok(Some(oid)),
                        Err(object_store::Error::NotFound { .. }) => Ok(None),
                        Err(e) => Err(self.remote_err("check", &oid, e)),
                    }
                })
                .buffer_unordered(jobs.max(1))
                .try_collect()
                .await?;
            return Ok(found.into_iter().flatten().collect());
        }
        let wanted: HashSet<&Oid> = oids.iter().collect();
        let listed: Vec<Vec<Oid>> = futures::stream::iter(prefixes(oids))
            .map(|p| async move {
                let prefix = ObjPath::from(format!("files/md5/{p}"));
                let metas: Vec<object_store::ObjectMeta> = store
                    .list(Some(&prefix))
                    .try_collect()
                    .await
                    .map_err(|e| self.remote_key_err("list", format!("files/md5/{p}/"), e))?;
                // A listed name that is not an object id is not ours: ignored.
                Ok::<_, Error>(
                    metas
                        .into_iter()
                        .filter_map(|m| {
                            m.location
                                .filename()
                                .and_then(|f| Oid::parse(&format!("{p}{f}")).ok())
                        })
                        .collect(),
                )
            })
            .buffer_unordered(jobs.clamp(1, 16))
            .try_collect()
            .await?;
        Ok(listed
            .into_iter()
            .flatten()
            .filter(|o| wanted.contains(o))
            .collect())
    }

    /// [`Self::has`] for a local folder.
    fn local_has(&self, dir: &Path, oids: &[Oid]) -> Result<HashSet<Oid>> {
        use rayon::prelude::*;
        if oids.len() <= 64 {
            return Ok(oids
                .iter()
                .filter(|o| dir.join(object_key(o)).is_file())
                .cloned()
                .collect());
        }
        let wanted: HashSet<&str> = oids.iter().map(Oid::as_str).collect();
        let listed: Vec<Vec<Oid>> = prefixes(oids)
            .into_par_iter()
            .map(|p| {
                let folder = dir.join("files").join("md5").join(p);
                let entries = match std::fs::read_dir(&folder) {
                    Ok(rd) => rd,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(e) => return Err(e).ctx("list", &folder),
                };
                let mut found = Vec::new();
                for entry in entries {
                    let entry = entry.ctx("list", &folder)?;
                    if let Some(name) = entry.file_name().to_str() {
                        let name = format!("{p}{name}");
                        if wanted.contains(name.as_str())
                            && let Ok(oid) = Oid::parse(&name)
                        {
                            found.push(oid);
                        }
                    }
                }
                Ok(found)
            })
            .collect::<Result<_>>()?;
        Ok(listed.into_iter().flatten().collect())
    }

    /// Copy `oids` between the cache of `repo` and this remote, `jobs` at a time: for a local
    /// folder on a pool of `jobs` threads doing plain file operations (no async hops per
    /// object), for an object store as concurrent requests with retries. One result per object.
    async fn transfer(
        &self,
        repo: &Repo,
        direction: Direction,
        oids: Vec<Oid>,
        jobs: usize,
        progress: &dyn Progress,
    ) -> Vec<(Oid, Result<u64>)> {
        let jobs = jobs.max(1);
        match &self.backend {
            Backend::Local(dir) => {
                use rayon::prelude::*;
                let one = |oid: Oid| {
                    let obj = repo.cache.object_path(&oid);
                    let r = match direction {
                        Direction::Upload => upload_local(dir, &obj, &oid),
                        Direction::Download => self.download_local(dir, &oid, &obj),
                    };
                    progress.inc(1);
                    (oid, r)
                };
                match rayon::ThreadPoolBuilder::new().num_threads(jobs).build() {
                    Ok(pool) => pool.install(|| oids.into_par_iter().map(one).collect()),
                    Err(e) => {
                        tracing::debug!(error = %e, "no thread pool; transferring one by one");
                        oids.into_iter().map(one).collect()
                    }
                }
            }
            Backend::Store(store) => {
                futures::stream::iter(oids)
                    .map(|oid| async move {
                        let obj = repo.cache.object_path(&oid);
                        let (obj_ref, oid_ref, store) = (&obj, &oid, store.as_ref());
                        let r = retry(Error::is_permanent, || async move {
                            match direction {
                                Direction::Upload => self.upload(store, obj_ref, oid_ref).await,
                                Direction::Download => self.download(store, oid_ref, obj_ref).await,
                            }
                        })
                        .await;
                        progress.inc(1);
                        (oid, r)
                    })
                    .buffer_unordered(jobs)
                    .collect()
                    .await
            }
        }
    }

    /// Refuse `oid` unless its content hashed to `actual`.
    fn verify(&self, oid: &Oid, actual: Oid) -> Result<()> {
        let expected = oid.md5();
        if actual.as_str() == expected {
            return Ok(());
        }
        Err(Error::Corrupted {
            remote: self.name.clone(),
            key: object_key(oid),
            expected: expected.to_string(),
            actual: actual.into_string(),
        })
    }

    fn not_on_remote(&self, oid: &Oid) -> Error {
        Error::Missing {
            count: 1,
            first: format!("{oid} (not on remote {})", self.name),
        }
    }

    /// Upload one object to an object store (in parts when large).
    async fn upload(&self, store: &dyn ObjectStore, src: &Path, oid: &Oid) -> Result<u64> {
        let size = tokio::fs::metadata(src).await.ctx("stat", src)?.len();
        if size > MULTIPART_THRESHOLD {
            self.upload_multipart(store, src, oid).await?;
        } else {
            let bytes = tokio::fs::read(src).await.ctx("read", src)?;
            store
                .put(&Self::key(oid), PutPayload::from(bytes))
                .await
                .map_err(|e| self.remote_err("upload", oid, e))?;
        }
        Ok(size)
    }

    async fn upload_multipart(&self, store: &dyn ObjectStore, src: &Path, oid: &Oid) -> Result<()> {
        use tokio::io::AsyncReadExt;
        let upload = store
            .put_multipart(&Self::key(oid))
            .await
            .map_err(|e| self.remote_err("upload", oid, e))?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut f = tokio::fs::File::open(src).await.ctx("open", src)?;
        let mut buf = vec![0u8; hash::CHUNK];
        loop {
            let n = f.read(&mut buf).await.ctx("read", src)?;
            if n == 0 {
                break;
            }
            w.wait_for_capacity(4)
                .await
                .map_err(|e| self.remote_err("upload", oid, e))?;
            w.write(&buf[..n]);
        }
        w.finish()
            .await
            .map_err(|e| self.remote_err("upload", oid, e))?;
        Ok(())
    }

    /// Download `oid` from an object store into the cache at `dst`, verifying its md5 before
    /// it gets its name: a small object in memory, a large one while it streams to disk.
    async fn download(&self, store: &dyn ObjectStore, oid: &Oid, dst: &Path) -> Result<u64> {
        let res = match store.get(&Self::key(oid)).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Err(self.not_on_remote(oid)),
            Err(e) => return Err(self.remote_err("download", oid, e)),
        };
        if res.meta.size <= SMALL_OBJECT {
            let bytes = res
                .bytes()
                .await
                .map_err(|e| self.remote_err("download", oid, e))?;
            self.verify(oid, hash::md5_oid(&bytes))?;
            let target = dst.to_path_buf();
            return tokio::task::spawn_blocking(move || {
                fsutil::write_new(&target, OBJECT_MODE, |f| {
                    f.write_all(&bytes).ctx("write", &target)
                })
                .map(|()| bytes.len() as u64)
            })
            .await
            .map_err(|e| Error::Io {
                op: "write",
                path: dst.to_path_buf(),
                source: std::io::Error::other(e),
            })?;
        }
        let parent = dst.parent().unwrap_or(dst);
        tokio::fs::create_dir_all(parent)
            .await
            .ctx("create directory", parent)?;
        let tmp = fsutil::temp_beside(dst);
        let result = async {
            let mut file = tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(OBJECT_MODE)
                .open(&tmp)
                .await
                .ctx("create", &tmp)?;
            let mut hasher = hash::Hasher::default();
            let mut n = 0u64;
            let mut stream = res.into_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| self.remote_err("download", oid, e))?;
                hasher.update(&chunk);
                n += chunk.len() as u64;
                file.write_all(&chunk).await.ctx("write", &tmp)?;
            }
            file.flush().await.ctx("write", &tmp)?;
            drop(file);
            self.verify(oid, hasher.finish())?;
            tokio::fs::rename(&tmp, dst).await.ctx("rename into", dst)?;
            Ok(n)
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
    }

    /// Copy object `oid` of the local remote folder `dir` into the cache at `dst`, verifying
    /// its md5 before it gets its name (a small object from memory, a large one streamed).
    fn download_local(&self, dir: &Path, oid: &Oid, dst: &Path) -> Result<u64> {
        use std::io::Read;
        let src = dir.join(object_key(oid));
        let mut input = match std::fs::File::open(&src) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(self.not_on_remote(oid));
            }
            other => other.ctx("open", &src)?,
        };
        let len = input.metadata().ctx("stat", &src)?.len();
        fsutil::write_new(dst, OBJECT_MODE, |out| {
            if len <= SMALL_OBJECT {
                let bytes = fsutil::read_all(&mut input, len, &src)?;
                self.verify(oid, hash::md5_oid(&bytes))?;
                out.write_all(&bytes).ctx("write", dst)?;
                return Ok(bytes.len() as u64);
            }
            let mut hasher = hash::Hasher::default();
            let mut buf = vec![0u8; hash::CHUNK];
            let mut size = 0u64;
            loop {
                let n = match input.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e).ctx("read", &src),
                };
                hasher.update(&buf[..n]);
                out.write_all(&buf[..n]).ctx("write", dst)?;
                size += n as u64;
            }
            self.verify(oid, hasher.finish())?;
            Ok(size)
        })
    }
}

/// Copy cache object `src` to the local remote folder `dir` (read-only, as DVC protects
/// remote objects; a temporary name, then a rename).
fn upload_local(dir: &Path, src: &Path, oid: &Oid) -> Result<u64> {
    let dst = dir.join(object_key(oid));
    let mut input = std::fs::File::open(src).ctx("open", src)?;
    fsutil::write_new(&dst, OBJECT_MODE, |out| {
        std::io::copy(&mut input, out).ctx("copy to the remote", &dst)
    })
}

/// The distinct two-digit prefixes (cache folders) of `oids`.
fn prefixes(oids: &[Oid]) -> BTreeSet<&str> {
    oids.iter().map(|o| &o[..2]).collect()
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64 << attempt.min(6))
}

/// Run `f` until it succeeds, fails with an error `permanent` says is not worth retrying, or
/// has failed [`ATTEMPTS`] times, sleeping with exponential backoff in between.
async fn retry<T, E, F, Fut>(permanent: impl Fn(&E) -> bool, mut f: F) -> std::result::Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, E>>,
{
    let mut attempt = 0;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if permanent(&e) || attempt + 1 >= ATTEMPTS => return Err(e),
            Err(e) => {
                tracing::debug!(attempt, error = %e, "remote call failed; retrying");
                attempt += 1;
                tokio::time::sleep(backoff(attempt)).await;
            }
        }
    }
}

/// A local remote's folder: absolute, `file://`, or relative to the `.dvc` folder (as DVC
/// resolves paths in its config).
pub fn local_remote_dir(dvc_dir: &Path, url: &str) -> PathBuf {
    let path = url.strip_prefix("file://").unwrap_or(url);
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        fsutil::normalize(&dvc_dir.join(p))
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .ctx("start the async runtime", ".")
}

/// Push the objects of `tracked` from the cache to `remote`.
pub fn push(
    repo: &Repo,
    remote: &Remote,
    tracked: &[Tracked],
    jobs: usize,
    progress: &dyn Progress,
) -> Result<TransferReport> {
    let used = repo.objects_for(tracked)?;
    let rt = runtime()?;
    rt.block_on(async {
        let mut report = TransferReport {
            remote: remote.name.clone(),
            missing: used.unknown_dirs.clone(),
            ..TransferReport::default()
        };
        let mut candidates: Vec<Oid> = Vec::new();
        for oid in used.files.iter().chain(used.dirs.iter()) {
            if repo.cache.contains(oid) {
                candidates.push(oid.clone());
            } else if !used.unknown_dirs.contains(oid) {
                report.missing.push(oid.clone());
            }
        }
        let present = remote.has(&candidates, jobs).await?;
        let (dirs, files): (Vec<Oid>, Vec<Oid>) = candidates
            .into_iter()
            .filter(|o| !present.contains(o))
            .partition(|o| o.is_dir());
        report.skipped = present.len() as u64;
        let total = (files.len() + dirs.len()) as u64;
        progress.start(&format!("push to {}", remote.name), total);
        // Files first; a manifest only once every file of the push is there.
        for batch in [files, dirs] {
            if batch.first().is_some_and(|o| o.is_dir()) && !report.failed.is_empty() {
                for oid in batch {
                    report.failed.push(Failure {
                        oid,
                        error: "not pushed: files of this directory failed".into(),
                    });
                }
                continue;
            }
            let results = remote
                .transfer(repo, Direction::Upload, batch, jobs, progress)
                .await;
            report.record(results);
        }
        progress.finish();
        Ok(report)
    })
}

/// Download the objects of `tracked` that the cache lacks (manifests first, to learn the files
/// of directories), verifying each.
pub fn fetch(
    repo: &Repo,
    remote: &Remote,
    tracked: &[Tracked],
    jobs: usize,
    progress: &dyn Progress,
) -> Result<TransferReport> {
    let rt = runtime()?;
    rt.block_on(async {
        let mut report = TransferReport {
            remote: remote.name.clone(),
            ..TransferReport::default()
        };
        let mut used = repo.objects_for(tracked)?;
        if !used.unknown_dirs.is_empty() {
            let dirs = std::mem::take(&mut used.unknown_dirs);
            progress.start("fetch directory manifests", dirs.len() as u64);
            let got = download_all(repo, remote, dirs, jobs, progress, &mut report).await;
            progress.finish();
            for oid in got {
                let mut more = UsedObjects::default();
                // A manifest that downloads and verifies but does not parse is reported.
                match repo.add_used(&oid, &mut more) {
                    Ok(()) => used.files.extend(more.files),
                    Err(e) => report.failed.push(Failure {
                        oid,
                        error: e.to_string(),
                    }),
                }
            }
            used.files.sort();
            used.files.dedup();
        }
        let needed: Vec<Oid> = used
            .files
            .iter()
            .chain(used.dirs.iter())
            .filter(|o| !repo.cache.contains(o))
            .cloned()
            .collect();
        // Manifests fetched above to learn directories were transferred, not skipped.
        report.skipped = (used.files.len() + used.dirs.len())
            .saturating_sub(needed.len())
            .saturating_sub(report.transferred as usize) as u64;
        progress.start(&format!("fetch from {}", remote.name), needed.len() as u64);
        download_all(repo, remote, needed, jobs, progress, &mut report).await;
        progress.finish();
        Ok(report)
    })
}

async fn download_all(
    repo: &Repo,
    remote: &Remote,
    oids: Vec<Oid>,
    jobs: usize,
    progress: &dyn Progress,
    report: &mut TransferReport,
) -> Vec<Oid> {
    let results = remote
        .transfer(repo, Direction::Download, oids, jobs, progress)
        .await;
    report.record(results)
}

/// Compare each output's objects between the cache and `remote`.
pub fn status(
    repo: &Repo,
    remote: &Remote,
    tracked: &[Tracked],
    jobs: usize,
) -> Result<Vec<RemoteStatus>> {
    let rt = runtime()?;
    rt.block_on(async {
        let mut per_out: Vec<(String, Vec<Oid>)> = Vec::new();
        let mut all: Vec<Oid> = Vec::new();
        for t in tracked {
            let Some(oid) = &t.out.md5 else { continue };
            if !t.out.uses_cache() {
                continue;
            }
            let mut u = UsedObjects::default();
            repo.add_used(oid, &mut u)?;
            let mut objs = u.files;
            objs.extend(u.dirs);
            all.extend(objs.iter().cloned());
            per_out.push((t.rel.clone(), objs));
        }
        all.sort();
        all.dedup();
        let on_remote = remote.has(&all, jobs).await?;
        let mut out = Vec::new();
        for (path, objs) in per_out {
            let local: HashMap<&str, bool> = objs
                .iter()
                .map(|o| (o.as_str(), repo.cache.contains(o)))
                .collect();
            let missing_remote: Vec<&Oid> =
                objs.iter().filter(|o| !on_remote.contains(*o)).collect();
            if missing_remote.is_empty() {
                continue;
            }
            let status = if missing_remote.iter().all(|o| local[o.as_str()]) {
                "new"
            } else if objs.iter().all(|o| !local[o.as_str()]) && missing_remote.len() < objs.len() {
                "deleted"
            } else if missing_remote.iter().any(|o| local[o.as_str()]) {
                "new"
            } else {
                "missing"
            };
            out.push(RemoteStatus { path, status });
        }
        Ok(out)
    })
}
