//! Prometheus metrics: requests, errors and a latency histogram per model and version.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
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
}

/// Counters for every (model, version) served.
#[derive(Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(String, String), Series>>,
}

impl Metrics {
    /// Record one request: how long it took and whether it failed.
    pub fn record(&self, model: &str, version: &str, took: Duration, ok: bool) {
        let secs = took.as_secs_f64();
        let Ok(mut map) = self.series.lock() else {
            return;
        };
        let s = map
            .entry((model.to_owned(), version.to_owned()))
            .or_default();
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
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let map = self.series.lock().map(|m| m.clone()).unwrap_or_default();
        let mut out = String::new();
        let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let _ = writeln!(
            out,
            "# HELP sextant_serve_requests_total Prediction requests.\n# TYPE sextant_serve_requests_total counter"
        );
        for ((m, v), s) in &map {
            let _ = writeln!(
                out,
                "sextant_serve_requests_total{{model=\"{}\",version=\"{}\"}} {}",
                esc(m),
                esc(v),
                s.requests
            );
        }
        let _ = writeln!(
            out,
            "# HELP sextant_serve_errors_total Prediction requests that failed.\n# TYPE sextant_serve_errors_total counter"
        );
        for ((m, v), s) in &map {
            let _ = writeln!(
                out,
                "sextant_serve_errors_total{{model=\"{}\",version=\"{}\"}} {}",
                esc(m),
                esc(v),
                s.errors
            );
        }
        let _ = writeln!(
            out,
            "# HELP sextant_serve_latency_seconds Time to answer a prediction.\n# TYPE sextant_serve_latency_seconds histogram"
        );
        for ((m, v), s) in &map {
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
        let text = m.render();
        assert!(
            text.contains("sextant_serve_requests_total{model=\"a\",version=\"1\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("sextant_serve_errors_total{model=\"a\",version=\"1\"} 1"),
            "{text}"
        );
        assert!(text.contains("le=\"0.0005\"} 1"), "{text}");
        assert!(text.contains("le=\"0.025\"} 2"), "{text}");
    }
}
