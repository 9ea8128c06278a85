//! `sextant serve`: registered ONNX models as a REST service, many per process, hot-swapped.
//!
//! This crate owns everything between the registry and a prediction:
//!
//! - **resolution** ([`registry`]): `NAME@ALIAS` (or a `GLOB@ALIAS`) to a version through the
//!   tracking server, the version's review state (a protected alias serves approved versions
//!   only), and the download of its `MLmodel` directory or plain `model.onnx`;
//! - **engines** ([`engine`]): ONNX Runtime loaded at run time from `ORT_DYLIB_PATH` or an
//!   installed `onnxruntime` Python package, and pure-Rust tract as the fallback; an engine that
//!   cannot run a model correctly refuses it at load, naming the operator;
//! - **fail early** ([`model`]): the stored input example is run and checked against the
//!   signature before a model is served or swapped in;
//! - **hot swap** ([`slot`]): aliases are polled, a new version loads in the background and
//!   replaces the old one atomically; a failing version leaves the old one serving;
//! - **the HTTP API** ([`http`]): MLflow's scoring protocol, KServe V2, `/metrics`, a demo page;
//! - **micro-batching** ([`batch`]): concurrent requests to one model stacked into one engine
//!   call within a small window (off by default);
//! - **the request log** ([`reqlog`]): sampled inputs and outputs as JSON lines, written off the
//!   request path, for the drift monitor.
//!
//! It does not own the registry (the tracking server does) nor argument parsing (the binary).

pub mod batch;
pub mod engine;
pub mod error;
pub mod http;
pub mod metrics;
pub mod mlmodel;
pub mod model;
pub mod registry;
pub mod reqlog;
pub mod scoring;
pub mod server;
pub mod slot;
pub mod tensor;

pub use error::{Result, ServingError};
