//! Every params and metrics file parser of `sextant run` on arbitrary UTF-8: no panic, and every
//! key that comes out is one MLflow accepts (or was reported as skipped).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sextant_run::files::{Format, parse_metrics, parse_params};
use sextant_run::keys;

fuzz_target!(|input: &str| {
    for f in [
        Format::Json,
        Format::JsonLines,
        Format::Yaml,
        Format::Toml,
        Format::Csv,
    ] {
        if let Ok(points) = parse_metrics(input, f, 0) {
            for m in &points.metrics {
                assert!(keys::check(&m.key).is_ok(), "{:?}", m.key);
            }
        }
        let _ = parse_params(input, f);
    }
});
