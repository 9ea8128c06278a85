//! Every user-facing parser of sextant-data on arbitrary input: `.dvc` pointer files, `.dir`
//! manifests and `.dvc/config`. None may panic; whatever parses must write back to text that
//! parses to the same value.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sextant_data::config::ConfigFile;
use sextant_data::manifest::Manifest;
use sextant_data::pointer::PointerFile;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Manifest::parse(data, Path::new("x.dir")) {
        let again = Manifest::parse(&m.to_json(), Path::new("x.dir")).expect("a written manifest parses");
        assert_eq!(again, m);
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(p) = PointerFile::parse(text, Path::new("x.dvc")) {
        let again = PointerFile::parse(&p.to_yaml(), Path::new("x.dvc")).expect("a written pointer parses");
        assert_eq!(again, p);
    }
    if let Ok(c) = ConfigFile::parse(text, Path::new("config")) {
        let _ = ConfigFile::parse(&c.to_text(), Path::new("config"));
    }
});
