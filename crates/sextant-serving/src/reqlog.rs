//! The request log (`--request-log PATH`, `--request-log-sample FRACTION`): sampled
//! predictions, inputs and outputs, appended to a file as JSON lines for the drift monitor.
//!
//! Written off the request path: a request that is sampled hands its record to a bounded
//! channel and returns; one writer thread turns records into JSON and appends them. When the
//! writer falls behind (the channel is full) or the file cannot be written, records are dropped
//! and counted (`sextant_serve_request_log_dropped_total`) rather than slowing requests. One
//! line per prediction (the format is documented in docs/serving.md):
//!
//! ```json
//! {"time":"2026-11-29T01:02:03.456Z","time_ms":1795914123456,"model":"fraud","version":"3",
//!  "protocol":"mlflow","rows":1,"latency_ms":0.31,"inputs":{"X":[[0.1,2.0]]},
//!  "outputs":{"variable":[[1.5]]},"input_columns":["amount","age"]}
//! ```

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use sextant_types::date::UtcDateTime;

use crate::error::{Result, ServingError};
use crate::metrics::Metrics;
use crate::model::ServedModel;
use crate::tensor::{IoSpec, Tensor};

/// Records waiting for the writer, at most; more are dropped (and counted).
const CAPACITY: usize = 8192;

/// Where the request log goes and how much of the traffic it keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestLogOptions {
    pub path: PathBuf,
    /// The fraction of predictions logged, 0 to 1.
    pub sample: f64,
}

/// One logged prediction.
pub struct Record {
    pub time: SystemTime,
    pub model: Arc<ServedModel>,
    /// `mlflow` or `v2`: the protocol the request came in.
    pub protocol: &'static str,
    pub latency: Duration,
    pub inputs: Vec<Tensor>,
    pub outputs: Vec<Tensor>,
}

enum Msg {
    Record(Box<Record>),
    Stop,
}

/// An open request log: sampling, the channel to its writer thread, and the thread.
pub struct RequestLog {
    tx: SyncSender<Msg>,
    /// A prediction is logged when the hash of its sequence number is below this.
    threshold: u64,
    all: bool,
    counter: AtomicU64,
    seed: u64,
    metrics: Arc<Metrics>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for RequestLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestLog").finish_non_exhaustive()
    }
}

impl RequestLog {
    /// Open `opts.path` for appending (created if missing) and start the writer thread.
    pub fn open(opts: &RequestLogOptions, metrics: Arc<Metrics>) -> Result<Arc<Self>> {
        let io = |source| ServingError::Io {
            path: opts.path.clone(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&opts.path)
            .map_err(io)?;
        let (tx, rx) = sync_channel(CAPACITY);
        let (m, path) = (Arc::clone(&metrics), opts.path.clone());
        let writer = std::thread::Builder::new()
            .name("sextant-request-log".into())
            .spawn(move || write_loop(&rx, BufWriter::new(file), &m, &path))
            .map_err(io)?;
        metrics.enable_request_log();
        let sample = if opts.sample.is_finite() {
            opts.sample.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        tracing::info!(path = %opts.path.display(), sample, "request log on");
        Ok(Arc::new(Self {
            tx,
            threshold: (sample * u64::MAX as f64) as u64,
            all: sample >= 1.0,
            counter: AtomicU64::new(0),
            seed,
            metrics,
            writer: Mutex::new(Some(writer)),
        }))
    }

    /// Whether this prediction is to be logged (a fair coin of the sample fraction).
    pub fn sampled(&self) -> bool {
        if self.all {
            return true;
        }
        if self.threshold == 0 {
            return false;
        }
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        splitmix64(n ^ self.seed) < self.threshold
    }

    /// Hand a record to the writer; never blocks (a full queue drops it, counted).
    pub fn submit(&self, record: Record) {
        if self.tx.try_send(Msg::Record(Box::new(record))).is_err() {
            self.metrics.request_log_dropped();
        }
    }

    /// Write what is queued, flush and stop the writer (at shutdown).
    pub fn close(&self) {
        let handle = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(h) = handle {
            let _ = self.tx.send(Msg::Stop);
            let _ = h.join();
        }
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn write_loop(rx: &Receiver<Msg>, mut out: BufWriter<File>, metrics: &Metrics, path: &Path) {
    let mut failing = false;
    let report = |e: std::io::Error, failing: &mut bool| {
        if !*failing {
            tracing::error!(path = %path.display(), error = %e, "cannot write the request log; records are dropped (counted in /metrics) until it works again");
        }
        *failing = true;
    };
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            let Msg::Record(r) = msg else {
                if let Err(e) = out.flush() {
                    report(e, &mut failing);
                }
                return;
            };
            let mut line = match serde_json::to_vec(&to_json(&r)) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(error = %e, "a request log record cannot be serialized");
                    metrics.request_log_dropped();
                    continue;
                }
            };
            line.push(b'\n');
            match out.write_all(&line) {
                Ok(()) => {
                    metrics.request_log_written();
                    failing = false;
                }
                Err(e) => {
                    metrics.request_log_dropped();
                    report(e, &mut failing);
                }
            }
            next = rx.try_recv().ok();
        }
        // The queue is empty: what was written reaches the file now.
        if let Err(e) = out.flush() {
            report(e, &mut failing);
        }
    }
    let _ = out.flush();
}

fn named(specs: &[IoSpec], values: &[Tensor]) -> Map<String, Value> {
    specs
        .iter()
        .zip(values)
        .map(|(s, t)| (s.name.clone(), t.to_json()))
        .collect()
}

/// One line of the log.
pub fn to_json(r: &Record) -> Value {
    let m = &r.model;
    let ms = r
        .time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut v = json!({
        "time": UtcDateTime::from_millis(ms).rfc3339_millis(),
        "time_ms": ms,
        "model": m.name,
        "version": m.version,
        "protocol": r.protocol,
        "rows": r.inputs.first().map_or(0, Tensor::rows),
        "latency_ms": (r.latency.as_secs_f64() * 1e6).round() / 1e3,
        "inputs": named(m.engine.inputs(), &r.inputs),
        "outputs": named(m.outputs(), &r.outputs),
    });
    // One graph input fed by the signature's columns: their names say what each position is.
    if m.engine.inputs().len() == 1
        && let Some(cols) = m.signature.as_ref().and_then(|s| s.input_columns())
    {
        let names: Vec<Value> = cols
            .iter()
            .filter_map(|c| c.name().map(|n| Value::from(n.to_owned())))
            .collect();
        if names.len() == cols.len() {
            v["input_columns"] = Value::Array(names);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_with(sample: f64) -> (Arc<RequestLog>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let opts = RequestLogOptions {
            path: dir.path().join("requests.jsonl"),
            sample,
        };
        (RequestLog::open(&opts, Arc::default()).unwrap(), dir)
    }

    #[test]
    fn sampling_keeps_about_the_fraction_asked() {
        let (all, _d1) = log_with(1.0);
        assert!((0..1000).all(|_| all.sampled()));
        let (none, _d2) = log_with(0.0);
        assert!(!(0..1000).any(|_| none.sampled()));
        let (tenth, _d3) = log_with(0.1);
        let kept = (0..20_000).filter(|_| tenth.sampled()).count();
        // 2000 expected; 5 standard deviations is +-212.
        assert!((1788..=2212).contains(&kept), "{kept} of 20000 kept at 0.1");
        for l in [all, none, tenth] {
            l.close();
        }
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_path() {
        let opts = RequestLogOptions {
            path: PathBuf::from("/nonexistent-dir-for-sextant/requests.jsonl"),
            sample: 1.0,
        };
        let e = RequestLog::open(&opts, Arc::default()).unwrap_err();
        assert!(
            e.to_string().contains("/nonexistent-dir-for-sextant/"),
            "{e}"
        );
    }
}
