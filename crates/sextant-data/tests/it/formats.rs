//! Property tests: every parser reads back what the writer wrote, and never panics.

use std::path::Path;

use proptest::prelude::*;
use sextant_data::config::ConfigFile;
use sextant_data::hash::Oid;
use sextant_data::manifest::{Entry, Manifest};
use sextant_data::pointer::{Out, PointerFile};

fn md5() -> impl Strategy<Value = String> {
    "[0-9a-f]{32}"
}

fn name() -> impl Strategy<Value = String> {
    // Printable names including YAML- and JSON-significant characters and non-ASCII.
    "[a-zA-Z0-9 _.,:#'\"!&*?|>%@`\\[\\]{}=~<-é😀\\\\]{1,12}".prop_filter("no dot segments", |s| {
        s != "." && s != ".." && !s.starts_with('/')
    })
}

proptest! {
    #[test]
    fn pointer_round_trips(md5 in md5(), dir in any::<bool>(), size in any::<u32>(), path in name()) {
        let out = Out {
            md5: Some(Oid::parse(&if dir { format!("{md5}.dir") } else { md5 }).unwrap()),
            size: Some(u64::from(size)),
            nfiles: dir.then_some(3),
            hash: Some("md5".into()),
            path,
            ..Out::default()
        };
        let pf = PointerFile { outs: vec![out] };
        let text = pf.to_yaml();
        let back = PointerFile::parse(&text, Path::new("x.dvc")).unwrap();
        prop_assert_eq!(back, pf, "text was {}", text);
    }

    #[test]
    fn manifest_round_trips(entries in proptest::collection::vec((name(), md5()), 0..20)) {
        let m = Manifest::new(entries.into_iter().map(|(relpath, md5)| Entry { relpath, md5: Oid::parse_file(&md5).unwrap() }).collect());
        let json = m.to_json();
        let back = Manifest::parse(&json, Path::new("m.dir")).unwrap();
        prop_assert_eq!(&back, &m);
        // Same JSON as serde_json reads it (so the bytes are valid JSON with these strings).
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        prop_assert_eq!(v.as_array().map(|a| a.len()), Some(m.len()));
    }

    #[test]
    fn config_round_trips(remote in "[a-z][a-z0-9_-]{0,10}", url in "[a-zA-Z0-9/:._,-]{1,30}", key in "[a-z_]{1,12}", value in "[a-zA-Z0-9 /:._,#-]{1,20}") {
        let mut c = ConfigFile::default();
        c.set(&format!("remote \"{remote}\""), "url", &url);
        c.set(&format!("remote \"{remote}\""), &key, value.trim());
        c.set("core", "remote", &remote);
        let text = c.to_text();
        let back = ConfigFile::parse(&text, Path::new("config")).unwrap();
        prop_assert_eq!(back, c, "text was {}", text);
    }

    #[test]
    fn only_hashes_parse_as_hashes(s in "\\PC{0,40}", dir in any::<bool>()) {
        let s = if dir { format!("{s}.dir") } else { s };
        if let Ok(oid) = Oid::parse(&s) {
            prop_assert_eq!(oid.as_str(), s.as_str());
            prop_assert!(oid.md5().bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
            prop_assert_eq!(oid.md5().len(), 32);
            prop_assert!(!oid.key().contains(".."));
        }
    }

    #[test]
    fn parsers_never_panic(text in "\\PC{0,200}") {
        let _ = PointerFile::parse(&text, Path::new("x.dvc"));
        let _ = Manifest::parse(text.as_bytes(), Path::new("x.dir"));
        let _ = ConfigFile::parse(&text, Path::new("config"));
    }
}
