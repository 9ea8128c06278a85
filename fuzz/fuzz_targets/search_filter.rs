//! Every search parser on arbitrary UTF-8: no panic, and every error points inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sextant_search as s;

fuzz_target!(|input: &str| {
    let errors = [
        s::parse_run_filter(input).err(),
        s::parse_run_order_by(input).err(),
        s::parse_experiment_filter(input).err(),
        s::parse_experiment_order_by(input).err(),
        s::parse_registered_model_filter(input).err(),
        s::parse_registered_model_order_by(input).err(),
        s::parse_model_version_filter(input).err(),
        s::parse_model_version_order_by(input).err(),
        s::parse_logged_model_filter(input).err(),
        s::parse_logged_model_order_by(input).err(),
    ];
    for e in errors.into_iter().flatten() {
        if let Some(span) = e.span {
            assert!(span.start <= span.end && span.end <= input.len());
            assert!(input.is_char_boundary(span.start) && input.is_char_boundary(span.end));
        }
        let _ = e.to_string();
    }
});
