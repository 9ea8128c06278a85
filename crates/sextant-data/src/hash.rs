//! Hashing as DVC 3 does it (`hash: md5`): the plain md5 of a file's bytes, streamed through a
//! fixed buffer so a file of any size hashes in flat memory.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use md5::{Digest, Md5};

use crate::error::{IoContext, Result};

/// Read buffer for hashing and copying (1 MiB, as DVC reads).
pub(crate) const CHUNK: usize = 1 << 20;

/// Lowercase hex md5 of `bytes`.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}

/// md5 and size of the file at `path`, read in 1 MiB chunks.
pub fn md5_file(path: &Path) -> Result<(String, u64)> {
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
    Ok((hex(&hasher.finalize()), size))
}

/// An incremental md5, for hashing while streaming (downloads).
#[derive(Default)]
pub struct Hasher(Md5);

impl Hasher {
    /// Feed bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    /// The lowercase hex digest.
    pub fn finish(self) -> String {
        hex(&self.0.finalize())
    }
}

/// True for 32 lowercase hex digits, optionally followed by `.dir`.
pub fn is_oid(s: &str) -> bool {
    is_md5(s.strip_suffix(".dir").unwrap_or(s))
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
        assert_eq!(md5, md5_hex(&data));
        assert_eq!(size, data.len() as u64);
    }

    #[test]
    fn oid_shapes() {
        assert!(is_oid("d41d8cd98f00b204e9800998ecf8427e"));
        assert!(is_oid("d41d8cd98f00b204e9800998ecf8427e.dir"));
        assert!(!is_oid("D41D8CD98F00B204E9800998ECF8427E"));
        assert!(!is_oid("d41d8cd98f00b204e9800998ecf8427"));
    }
}
