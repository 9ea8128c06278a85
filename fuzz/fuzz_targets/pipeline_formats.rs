//! The user-facing parsers of sextant-pipeline on arbitrary input: `dvc.yaml` (with `vars`,
//! `${}` interpolation, `foreach` and `matrix`), `dvc.lock`, run-cache entries, run-cache entry
//! names from a remote, and the `${}` expression parser. None may panic; a lock file or
//! run-cache entry that parses writes back to text that parses to the same, and every hash in
//! it is a valid object id (a hostile `md5` never gets past the parser).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sextant_data::hash::Oid;
use sextant_pipeline::dvcyaml::PipelineFile;
use sextant_pipeline::graph::Pipeline;
use sextant_pipeline::interp;
use sextant_pipeline::lock::{LockEntry, LockFile};
use sextant_pipeline::runcache;

fn check_hashes(e: &LockEntry) {
    for item in e.deps.iter().chain(&e.outs) {
        if let Some(oid) = &item.md5 {
            assert_eq!(Oid::parse(oid.as_str()).as_ref(), Ok(oid));
            assert!(!oid.key().contains(".."));
        }
    }
}

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
        for name in lock.stage_names() {
            if let Some(e) = lock.entry(&name) {
                check_hashes(&e);
            }
        }
        let again = LockFile::parse(&lock.to_text(), Path::new("dvc.lock"))
            .expect("a written lock file parses");
        assert_eq!(again.to_text(), lock.to_text());
        assert_eq!(again.stage_names(), lock.stage_names());
    }
    if let Ok(entry) = runcache::parse_entry(text) {
        check_hashes(&entry);
        let again = runcache::parse_entry(&runcache::entry_text(&entry))
            .expect("a written run-cache entry parses");
        assert_eq!(runcache::entry_text(&again), runcache::entry_text(&entry));
    }
    if runcache::is_entry_rel(text) {
        assert!(!text.contains("..") && text.split('/').count() == 3);
    }
});
