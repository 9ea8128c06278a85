//! Pipelines on DVC 3's own formats, so a team can run `sextant repro` and `dvc repro` on the
//! same repository and switch in either direction.
//!
//! This crate owns the pipeline side of a DVC repository:
//!
//! - [`dvcyaml`]: `dvc.yaml` — stages, `vars`, `${}` interpolation ([`interp`]),
//!   `foreach`/`do` and `matrix` with DVC's generated names (`train@tanker`, `train@0`,
//!   `grid@knn-1`);
//! - [`lock`]: `dvc.lock` schema 2.0, read from DVC and written as DVC writes it, every update
//!   atomic under a short file lock;
//! - [`graph`]: validation (cycles, outputs written twice, a stage depending on its own
//!   output) and the order stages run in;
//! - [`status`]: which stages are stale and why (command, dependency, param, output);
//! - [`runcache`]: DVC's run cache (`.dvc/cache/runs/...`), keyed exactly as DVC keys it;
//! - [`repro`]: bringing stages up to date, several at once, resumable after a kill.
//!
//! Hashing, the cache and remotes are `sextant-data`'s. This crate knows nothing of the
//! command line and prints nothing: progress goes through [`repro::Reporter`].
//!
//! ```no_run
//! use sextant_pipeline::{repro, status::Workspace};
//! let ws = Workspace::open(std::path::Path::new("."))?.expect("a dvc.yaml");
//! let opts = repro::Options { jobs: 2, ..Default::default() };
//! let outcome = repro::repro(&ws, &opts, &repro::Silent)?;
//! assert!(outcome.error.is_none());
//! # Ok::<(), sextant_pipeline::Error>(())
//! ```

pub mod dvcyaml;
mod error;
pub mod graph;
pub mod interp;
pub mod lock;
pub mod params;
pub mod remote_runs;
pub mod repro;
pub mod runcache;
pub mod status;
pub mod value;

pub use error::{Error, Result};
