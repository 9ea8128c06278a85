//! The run cache on a remote: `<remote>/runs/<key[:2]>/<key>/<value>`, where
//! `dvc push --run-cache` puts it — a local folder, or an S3-compatible bucket (credentials and
//! endpoint as `sextant data` reads them: the remote's `.dvc/config` keys, then the standard
//! AWS variables).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path as ObjPath;
use sextant_data::remote::Remote;
use sextant_data::repo::Repo;

use crate::error::{Error, IoContext, Result};
use crate::lock::write_atomic;
use crate::runcache::RUNS;

/// Where a remote keeps its run cache.
pub enum RunStore {
    /// A local or mounted folder (the remote's root).
    Local(PathBuf),
    /// An object store, rooted at the remote's URL.
    Store {
        /// The remote's name (for messages).
        name: String,
        /// The bucket (and prefix).
        store: Arc<dyn ObjectStore>,
    },
}

fn err(name: &str, message: impl std::fmt::Display) -> Error {
    Error::Transfer {
        remote: name.to_string(),
        message: message.to_string(),
    }
}

fn runtime(name: &str) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| err(name, format!("cannot start the async runtime: {e}")))
}

impl RunStore {
    /// The run-cache location of `remote`.
    pub fn open(repo: &Repo, remote: &Remote) -> Result<Self> {
        let url = &remote.url;
        let Some(rest) = url.strip_prefix("s3://") else {
            if url.contains("://") && !url.starts_with("file://") {
                return Err(err(&remote.name, format!("unsupported URL {url:?}")));
            }
            return Ok(Self::Local(sextant_data::remote::local_remote_dir(
                &repo.dvc_dir,
                url,
            )));
        };
        let keys = repo.config.remote(&remote.name).unwrap_or_default();
        let get = |k: &str| {
            keys.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let mut b = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(endpoint) =
            get("endpointurl").or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
        {
            b = b
                .with_allow_http(endpoint.starts_with("http://"))
                .with_endpoint(endpoint);
        }
        if std::env::var("AWS_DEFAULT_REGION").is_err() && std::env::var("AWS_REGION").is_err() {
            b = b.with_region("us-east-1");
        }
        use object_store::aws::AmazonS3ConfigKey as K;
        for (key, cfg) in [
            ("region", K::Region),
            ("access_key_id", K::AccessKeyId),
            ("secret_access_key", K::SecretAccessKey),
            ("session_token", K::Token),
        ] {
            if let Some(v) = get(key) {
                b = b.with_config(cfg, v);
            }
        }
        let s3 = b.build().map_err(|e| err(&remote.name, e))?;
        let store: Arc<dyn ObjectStore> = if prefix.trim_matches('/').is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(object_store::prefix::PrefixStore::new(
                s3,
                prefix.trim_matches('/'),
            ))
        };
        Ok(Self::Store {
            name: remote.name.clone(),
            store,
        })
    }

    /// Copy the entry at `rel` (`runs/xx/key/value`) from the local cache root to the remote.
    pub fn put(&self, cache_root: &Path, rel: &str) -> Result<()> {
        let src = cache_root.join(rel);
        let bytes = std::fs::read(&src).ctx("read", &src)?;
        match self {
            Self::Local(dir) => {
                let dst = dir.join(rel);
                if let Some(parent) = dst.parent() {
                    std::fs::create_dir_all(parent).ctx("create directory", parent)?;
                }
                write_atomic(&dst, &bytes)
            }
            Self::Store { name, store } => runtime(name)?.block_on(async {
                store
                    .put(&ObjPath::from(rel), bytes.into())
                    .await
                    .map(|_| ())
                    .map_err(|e| err(name, format!("upload {rel}: {e}")))
            }),
        }
    }

    /// Copy every remote entry the local cache root lacks; returns how many were copied.
    pub fn pull_all(&self, cache_root: &Path) -> Result<usize> {
        let local = cache_root.join(RUNS);
        let mut copied = 0;
        match self {
            Self::Local(dir) => {
                let runs = dir.join(RUNS);
                let mut stack = vec![runs.clone()];
                while let Some(d) = stack.pop() {
                    let rd = match std::fs::read_dir(&d) {
                        Ok(rd) => rd,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(e).ctx("list", &d),
                    };
                    for e in rd {
                        let e = e.ctx("list", &d)?;
                        let p = e.path();
                        if e.file_type().ctx("stat", &p)?.is_dir() {
                            stack.push(p);
                        } else if let Ok(rel) = p.strip_prefix(&runs) {
                            // Only entry names (hex) become paths in the cache; temporary
                            // and foreign files are skipped.
                            let entry = rel.to_str().is_some_and(crate::runcache::is_entry_rel);
                            let dst = local.join(rel);
                            if entry && !dst.exists() {
                                let bytes = std::fs::read(&p).ctx("read", &p)?;
                                if let Some(parent) = dst.parent() {
                                    std::fs::create_dir_all(parent)
                                        .ctx("create directory", parent)?;
                                }
                                write_atomic(&dst, &bytes)?;
                                copied += 1;
                            }
                        }
                    }
                }
            }
            Self::Store { name, store } => {
                let rt = runtime(name)?;
                rt.block_on(async {
                    let prefix = ObjPath::from(RUNS);
                    let metas: Vec<object_store::ObjectMeta> =
                        match store.list(Some(&prefix)).try_collect().await {
                            Ok(m) => m,
                            Err(object_store::Error::NotFound { .. }) => Vec::new(),
                            Err(e) => return Err(err(name, format!("list {RUNS}/: {e}"))),
                        };
                    for m in metas {
                        let key = m.location.to_string();
                        let Some(rel) = key.strip_prefix(&format!("{RUNS}/")) else {
                            continue;
                        };
                        let dst = local.join(rel);
                        if !crate::runcache::is_entry_rel(rel) || dst.exists() {
                            continue;
                        }
                        let bytes = store
                            .get(&m.location)
                            .await
                            .map_err(|e| err(name, format!("download {key}: {e}")))?
                            .bytes()
                            .await
                            .map_err(|e| err(name, format!("download {key}: {e}")))?;
                        if let Some(parent) = dst.parent() {
                            std::fs::create_dir_all(parent).ctx("create directory", parent)?;
                        }
                        write_atomic(&dst, &bytes)?;
                        copied += 1;
                    }
                    Ok(())
                })?;
            }
        }
        Ok(copied)
    }
}
