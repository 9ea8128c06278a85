//! Data versioning on DVC 3's own file formats, so a team can switch between `dvc` and
//! `sextant data` on the same repository in either direction.
//!
//! This crate owns the formats and the local and remote operations on them:
//!
//! - [`hash`]: md5 hashing, and [`hash::Oid`], the validated object id every cache path and
//!   remote key is built from (a hash read from any file is parsed into one first, so a
//!   hostile `../` value never becomes a path);
//! - [`pointer`]: `.dvc` pointer files, written byte-for-byte as DVC 3 writes them;
//! - [`manifest`]: `<md5>.dir` directory manifests, serialised exactly as DVC does, so a
//!   directory's hash agrees between the tools;
//! - [`cache`]: the content-addressed cache `.dvc/cache/files/md5/xx/yyyy…` (read-only objects,
//!   atomic inserts, links per `cache.type`);
//! - [`config`]: `.dvc/config` and `config.local`;
//! - [`state`]: the stat cache in `.dvc/tmp` that lets `status` skip re-reading unchanged files;
//! - [`repo`]: `init`, `add`, `status`, `checkout` over a workspace, hashing on all cores;
//! - [`remote`]: `push`, `pull`/`fetch` against local folders and S3 buckets, many transfers at
//!   once, md5-verified downloads, resumable;
//! - [`gc`]: removing unused cache objects.
//!
//! It knows nothing of the command line (no clap, no terminal output: progress goes through
//! the [`Progress`] trait) and nothing of the tracking server.
//!
//! ```no_run
//! use sextant_data::{NoProgress, repo::Repo};
//! let (repo, _created) = Repo::open_or_init(std::path::Path::new("."))?;
//! repo.add(&["data".into()], &NoProgress)?;
//! assert!(repo.status(None, &NoProgress)?.is_empty());
//! # Ok::<(), sextant_data::Error>(())
//! ```

pub mod cache;
pub mod config;
mod error;
pub(crate) mod fsutil;
pub mod gc;
pub mod gitignore;
pub mod hash;
pub mod manifest;
pub mod pointer;
pub mod remote;
pub mod repo;
pub mod state;

pub use error::{Error, Result};

/// Use `n` threads for hashing and local copies (default: one per core). Call before any work.
pub fn set_hashing_threads(n: usize) {
    // Fails only when the pool already exists, which keeps the earlier choice.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(n.max(1))
        .build_global();
}

/// Progress of long work (hashing, transfers), reported by the library and shown by the caller.
pub trait Progress: Sync {
    /// A phase begins with `total` units (bytes or objects).
    fn start(&self, what: &str, total: u64);
    /// `n` more units are done.
    fn inc(&self, n: u64);
    /// The phase ended.
    fn finish(&self);
}

/// Progress that shows nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: &str, _: u64) {}
    fn inc(&self, _: u64) {}
    fn finish(&self) {}
}
