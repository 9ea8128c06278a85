//! The user-facing parsers of sextant-pipeline on arbitrary input: `dvc.yaml` (with `vars`,
//! `${}` interpolation, `foreach` and `matrix`), `dvc.lock`, and the `${}` expression parser.
//! None may panic; a lock file that parses must write back to text that parses and writes
//! back to the same text.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sextant_pipeline::dvcyaml::PipelineFile;
use sextant_pipeline::graph::Pipeline;
use sextant_pipeline::interp;
use sextant_pipeline::lock::LockFile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for m in interp::find_matches(text) {
        let _ = interp::parse_expr(&m.inner);
    }
    // A folder that does not exist: vars files are missing, never read from the machine.
    let root = Path::new("/nonexistent/sextant-fuzz");
    if let Ok(p) = PipelineFile::parse(text, root) {
        let _ = Pipeline::new(p);
    }
    if let Ok(lock) = LockFile::parse(text, Path::new("dvc.lock")) {
        let again = LockFile::parse(&lock.to_text(), Path::new("dvc.lock"))
            .expect("a written lock file parses");
        assert_eq!(again.to_text(), lock.to_text());
        assert_eq!(again.stage_names(), lock.stage_names());
    }
});
