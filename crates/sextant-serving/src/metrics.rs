//! Prometheus metrics: requests, errors and a latency histogram per model and version; the
//! micro-batcher's engine calls; the request log's written and dropped records.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Histogram bucket upper bounds, in seconds.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default, Clone)]
struct Series {
    requests: u64,
    errors: u64,
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    /// Engine calls made by the micro-batcher, the requests they answered and their rows.
    batches: u64,
    batched_requests: u64,
    batched_rows: u64,
}

/// Counters for every (model, version) served.
#[derive(Default)]
pub struct Metrics {
    /// model -> version -> series (nested so a lookup by `&str` allocates nothing).
    series: Mutex<BTreeMap<String, BTreeMap<String, Series>>>,
    request_log: AtomicBool,
    log_written: AtomicU64,
    log_dropped: AtomicU64,
}

impl Metrics {
    fn with_series(&self, model: &str, version: &str, f: impl FnOnce(&mut Series)) {
        let Ok(mut map) = self.series.lock() else {
            return;
        };
        if let Some(s) = map.get_mut(model).and_then(|v| v.get_mut(version)) {
            f(s);
            return;
        }
        let s = map
            .entry(model.to_owned())
            .or_default()
            .entry(version.to_owned())
            .or_default();
        f(s);
    }

    /// Record one request: how long it took and whether it failed.
    pub fn record(&self, model: &str, version: &str, took: Duration, ok: bool) {
        let secs = took.as_secs_f64();
        self.with_series(model, version, |s| {
            s.requests += 1;
            if !ok {
                s.errors += 1;
            }
            s.sum += secs;
            for (b, le) in s.buckets.iter_mut().zip(BUCKETS) {
                if secs <= le {
                    *b += 1;
                }
            }
        });
    }

    /// Record one engine call of the micro-batcher, answering `requests` requests.
    pub fn record_batch(&self, model: &str, version: &str, requests: usize, rows: usize) {
        self.with_series(model, version, |s| {
            s.batches += 1;
            s.batched_requests += requests as u64;
            s.batched_rows += rows as u64;
        });
    }

    /// The request log is on: its counters are exported.
    pub fn enable_request_log(&self) {
        self.request_log.store(true, Ordering::Relaxed);
    }

    pub fn request_log_written(&self) {
        self.log_written.fetch_add(1, Ordering::Relaxed);
    }

    pub fn request_log_dropped(&self) {
        self.log_dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let map = self.series.lock().map(|m| m.clone()).unwrap_or_default();
        let flat: Vec<(String, String, Series)> = map
            .into_iter()
            .flat_map(|(m, vs)| vs.into_iter().map(move |(v, s)| (m.clone(), v, s)))
            .collect();
        let mut out = String::new();
        let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let counter = |out: &mut String, name: &str, help: &str, get: fn(&Series) -> u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (m, v, s) in &flat {
                let _ = writeln!(
                    out,
                    "{name}{{model=\"{}\",version=\"{}\"}} {}",
                    esc(m),
                    esc(v),
                    get(s)
                );
            }
        };
        counter(
            &mut out,
            "sextant_serve_requests_total",
            "Prediction requests.",
            |s| s.requests,
        );
        counter(
            &mut out,
            "sextant_serve_errors_total",
            "Prediction requests that failed.",
            |s| s.errors,
        );
        let _ = writeln!(
            out,
            "# HELP sextant_serve_latency_seconds Time to answer a prediction.\n# TYPE sextant_serve_latency_seconds histogram"
        );
        for (m, v, s) in &flat {
            let (m, v) = (esc(m), esc(v));
            for (b, le) in s.buckets.iter().zip(BUCKETS) {
                let _ = writeln!(
                    out,
                    "sextant_serve_latency_seconds_bucket{{model=\"{m}\",version=\"{v}\",le=\"{le}\"}} {b}"
                );
            }
            let _ = writeln!(
                out,
                "sextant_serve_latency_seconds_bucket{{model=\"{m}\",version=\"{v}\",le=\"+Inf\"}} {}",
                s.requests
            );
            let _ = writeln!(
                out,
                "sextant_serve_latency_seconds_sum{{model=\"{m}\",version=\"{v}\"}} {}",
                s.sum
            );
            let _ = writeln!(
                out,
                "sextant_serve_latency_seconds_count{{model=\"{m}\",version=\"{v}\"}} {}",
                s.requests
            );
        }
        counter(
            &mut out,
            "sextant_serve_batches_total",
            "Engine calls made by the micro-batcher (--batch-window-ms).",
            |s| s.batches,
        );
        counter(
            &mut out,
            "sextant_serve_batched_requests_total",
            "Requests answered by the micro-batcher's engine calls.",
            |s| s.batched_requests,
        );
        counter(
            &mut out,
            "sextant_serve_batched_rows_total",
            "Rows in the micro-batcher's engine calls.",
            |s| s.batched_rows,
        );
        if self.request_log.load(Ordering::Relaxed) {
            let _ = writeln!(
                out,
                "# HELP sextant_serve_request_log_records_total Requests written to the request log.\n# TYPE sextant_serve_request_log_records_total counter\nsextant_serve_request_log_records_total {}",
                self.log_written.load(Ordering::Relaxed)
            );
            let _ = writeln!(
                out,
                "# HELP sextant_serve_request_log_dropped_total Sampled requests not logged (the writer fell behind or failed).\n# TYPE sextant_serve_request_log_dropped_total counter\nsextant_serve_request_log_dropped_total {}",
                self.log_dropped.load(Ordering::Relaxed)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_buckets() {
        let m = Metrics::default();
        m.record("a", "1", Duration::from_micros(300), true);
        m.record("a", "1", Duration::from_millis(20), false);
        m.record("a", "2", Duration::from_millis(1), true);
        let text = m.render();
        assert!(
            text.contains("sextant_serve_requests_total{model=\"a\",version=\"1\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("sextant_serve_requests_total{model=\"a\",version=\"2\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("sextant_serve_errors_total{model=\"a\",version=\"1\"} 1"),
            "{text}"
        );
        assert!(text.contains("le=\"0.0005\"} 1"), "{text}");
        assert!(text.contains("le=\"0.025\"} 2"), "{text}");
        assert!(!text.contains("request_log"), "{text}");
    }

    #[test]
    fn batches_and_the_request_log_are_counted() {
        let m = Metrics::default();
        m.record_batch("a", "1", 3, 12);
        m.record_batch("a", "1", 1, 1);
        m.enable_request_log();
        m.request_log_written();
        m.request_log_dropped();
        m.request_log_dropped();
        let text = m.render();
        assert!(
            text.contains("sextant_serve_batches_total{model=\"a\",version=\"1\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("sextant_serve_batched_requests_total{model=\"a\",version=\"1\"} 4"),
            "{text}"
        );
        assert!(
            text.contains("sextant_serve_batched_rows_total{model=\"a\",version=\"1\"} 13"),
            "{text}"
        );
        assert!(
            text.contains("sextant_serve_request_log_records_total 1"),
            "{text}"
        );
        assert!(
            text.contains("sextant_serve_request_log_dropped_total 2"),
            "{text}"
        );
    }
}
