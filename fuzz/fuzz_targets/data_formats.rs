//! Every user-facing parser of sextant-data on arbitrary input: object ids (the hashes that
//! become cache paths and remote keys), `.dvc` pointer files, `.dir` manifests and
//! `.dvc/config`. None may panic; whatever parses must write back to text that parses to the
//! same value, and every hash that parses names a path inside the cache.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sextant_data::config::ConfigFile;
use sextant_data::hash::Oid;
use sextant_data::manifest::Manifest;
use sextant_data::pointer::PointerFile;

/// A parsed id is 32 lowercase hex digits (plus `.dir`) and its cache key stays in its folder.
fn check_oid(oid: &Oid) {
    assert_eq!(oid.md5().len(), 32);
    assert!(oid.md5().bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    assert_eq!(oid.as_str().len(), if oid.is_dir() { 36 } else { 32 });
    let key = oid.key();
    assert!(key.starts_with("files/md5/") && !key.contains("..") && key.matches('/').count() == 3);
    assert_eq!(Oid::parse(oid.as_str()).as_ref(), Ok(oid));
}

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Manifest::parse(data, Path::new("x.dir")) {
        for e in m.entries() {
            check_oid(&e.md5);
            assert!(!e.md5.is_dir());
        }
        let again = Manifest::parse(&m.to_json(), Path::new("x.dir")).expect("a written manifest parses");
        assert_eq!(again, m);
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(oid) = Oid::parse(text) {
        check_oid(&oid);
    }
    if let Ok(oid) = Oid::parse_file(text) {
        check_oid(&oid);
        assert!(!oid.is_dir());
    }
    if let Ok(p) = PointerFile::parse(text, Path::new("x.dvc")) {
        for o in &p.outs {
            if let Some(oid) = &o.md5 {
                check_oid(oid);
            }
        }
        let again = PointerFile::parse(&p.to_yaml(), Path::new("x.dvc")).expect("a written pointer parses");
        assert_eq!(again, p);
    }
    if let Ok(c) = ConfigFile::parse(text, Path::new("config")) {
        let _ = ConfigFile::parse(&c.to_text(), Path::new("config"));
    }
});
