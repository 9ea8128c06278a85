//! Hashing as DVC 3 does it (`hash: md5`): the plain md5 of a file's bytes, streamed through a
//! fixed buffer so a file of any size hashes in flat memory.
//!
//! An object's name is its hash, and that name becomes a path in the cache and a key on a
//! remote. So every hash that comes from outside (a `.dvc` file, `dvc.lock`, a run-cache entry,
//! a `.dir` manifest, a remote's listing, the stat cache) is parsed into an [`Oid`] at the
//! boundary, and the cache and the transfers take nothing else: a path is never built from an
//! unchecked string (`../../etc/passwd` is not 32 lowercase hex digits).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use md5::{Digest, Md5};

use crate::error::{IoContext, Result};

/// Read buffer for hashing and copying (1 MiB, as DVC reads).
pub(crate) const CHUNK: usize = 1 << 20;

/// A validated object id: an md5 as DVC writes it (exactly 32 lowercase hex digits), followed
/// by `.dir` for a directory's manifest. The only way to name a cache object or a remote key.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Oid(String);

/// Why a string is not an object id; the value is quoted (cut to 80 characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not {expected}")]
pub struct BadHash {
    value: String,
    expected: &'static str,
}

const OID_SHAPE: &str = "an md5 hash (32 lowercase hex digits, optionally followed by .dir)";
const MD5_SHAPE: &str = "an md5 hash (32 lowercase hex digits)";

impl Oid {
    /// Parse a file's md5 or a directory's `<md5>.dir`.
    pub fn parse(s: &str) -> std::result::Result<Self, BadHash> {
        if is_md5(s.strip_suffix(".dir").unwrap_or(s)) {
            Ok(Self(s.to_string()))
        } else {
            Err(BadHash::new(s, OID_SHAPE))
        }
    }

    /// Parse a file's md5 only (a `.dir` id is refused: a manifest lists files).
    pub fn parse_file(s: &str) -> std::result::Result<Self, BadHash> {
        if is_md5(s) {
            Ok(Self(s.to_string()))
        } else {
            Err(BadHash::new(s, MD5_SHAPE))
        }
    }

    fn from_digest(digest: &[u8]) -> Self {
        Self(hex(digest))
    }

    /// The id of a directory whose manifest hashes to the file id `manifest_md5`.
    pub(crate) fn dir_of(manifest_md5: &Oid) -> Self {
        Self(format!("{}.dir", manifest_md5.md5()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A directory's manifest (`.dir`).
    pub fn is_dir(&self) -> bool {
        self.0.ends_with(".dir")
    }

    /// The 32 hex digits (without `.dir`).
    pub fn md5(&self) -> &str {
        self.0.strip_suffix(".dir").unwrap_or(&self.0)
    }

    /// The object's key below a cache or remote root: `files/md5/ab/cdef...`.
    pub fn key(&self) -> String {
        let (a, b) = self.0.split_at(2);
        format!("files/md5/{a}/{b}")
    }

    /// The id as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl BadHash {
    fn new(value: &str, expected: &'static str) -> Self {
        let value = if value.chars().count() > 80 {
            let mut v: String = value.chars().take(80).collect();
            v.push('…');
            v
        } else {
            value.to_string()
        };
        Self { value, expected }
    }
}

impl std::ops::Deref for Oid {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Oid {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Oid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Debug for Oid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl std::str::FromStr for Oid {
    type Err = BadHash;
    fn from_str(s: &str) -> std::result::Result<Self, BadHash> {
        Self::parse(s)
    }
}

impl PartialEq<str> for Oid {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Oid {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl std::borrow::Borrow<str> for Oid {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for Oid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Oid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Oid::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Lowercase hex md5 of `bytes`.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}

/// The file id (md5) of `bytes`.
pub fn md5_oid(bytes: &[u8]) -> Oid {
    Oid::from_digest(&Md5::digest(bytes))
}

/// md5 and size of the file at `path`, read in 1 MiB chunks.
pub fn md5_file(path: &Path) -> Result<(Oid, u64)> {
    let mut f = File::open(path).ctx("open", path)?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; CHUNK];
    let mut size = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).ctx("read", path),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((Oid::from_digest(&hasher.finalize()), size))
}

/// An incremental md5, for hashing while streaming (downloads).
#[derive(Default)]
pub struct Hasher(Md5);

impl Hasher {
    /// Feed bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    /// The digest, as a file id.
    pub fn finish(self) -> Oid {
        Oid::from_digest(&self.0.finalize())
    }
}

/// True for 32 lowercase hex digits, optionally followed by `.dir` (what [`Oid::parse`] takes).
pub fn is_oid(s: &str) -> bool {
    Oid::parse(s).is_ok()
}

/// True for exactly 32 lowercase hex digits.
pub fn is_md5(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_of_known_inputs() {
        // RFC 1321 test vectors.
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn streamed_file_hash_matches_one_shot_across_chunk_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..(CHUNK * 2 + 17))
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        std::fs::write(&p, &data).unwrap();
        let (md5, size) = md5_file(&p).unwrap();
        assert_eq!(md5.as_str(), md5_hex(&data));
        assert_eq!(size, data.len() as u64);
    }

    #[test]
    fn oid_shapes() {
        assert!(is_oid("d41d8cd98f00b204e9800998ecf8427e"));
        assert!(is_oid("d41d8cd98f00b204e9800998ecf8427e.dir"));
        assert!(!is_oid("D41D8CD98F00B204E9800998ECF8427E"));
        assert!(!is_oid("d41d8cd98f00b204e9800998ecf8427"));
    }

    #[test]
    fn hostile_hashes_are_refused() {
        for bad in [
            "",
            "../../../../etc/passwd",
            "d41d8cd98f00b204e9800998ecf8427e/../x",
            "d4/../../../../../../tmp/x0000000000000",
            "..1d8cd98f00b204e9800998ecf8427e",
            "d41d8cd98f00b204e9800998ecf8427e.dir.dir",
            "d41d8cd98f00b204e9800998ecf8427e ",
            "d41d8cd98f00b204e9800998ecf8427e\0",
            "d41d8cd98f00b204e9800998ecf8427ez",
            "d41d8cd98f00b204e9800998ecf842\u{e9}",
            ".dir",
            "/d41d8cd98f00b204e9800998ecf8427",
        ] {
            let e = Oid::parse(bad).unwrap_err();
            assert!(e.to_string().contains("is not an md5 hash"), "{bad:?}: {e}");
        }
        assert!(Oid::parse_file("d41d8cd98f00b204e9800998ecf8427e.dir").is_err());
        let long = "a".repeat(10_000);
        assert!(Oid::parse(&long).unwrap_err().to_string().len() < 200);
    }

    #[test]
    fn oid_parts_and_key() {
        let d = Oid::parse("d41d8cd98f00b204e9800998ecf8427e.dir").unwrap();
        assert!(d.is_dir());
        assert_eq!(d.md5(), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(d.key(), "files/md5/d4/1d8cd98f00b204e9800998ecf8427e.dir");
        let f = md5_oid(b"");
        assert_eq!(f, "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(Oid::dir_of(&f), d);
        let back: Oid = serde_json::from_str("\"d41d8cd98f00b204e9800998ecf8427e\"").unwrap();
        assert_eq!(back, f);
        assert!(serde_json::from_str::<Oid>("\"../x\"").is_err());
    }
}
