//! The content-addressed cache: `.dvc/cache/files/md5/<2 hex>/<30 hex>`, objects read-only,
//! every insert a temporary file plus a rename (a killed process never leaves a half object
//! under a real name). Links between the cache and the workspace follow `cache.type`.

use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::manifest::Manifest;

/// How a workspace file relates to its cache object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// Copy-on-write clone (btrfs, XFS, APFS): instant, independent.
    Reflink,
    /// Same inode as the cache object (read-only in the workspace).
    Hardlink,
    /// A symbolic link into the cache (read-only in the workspace).
    Symlink,
    /// An independent, writable copy.
    Copy,
}

impl LinkType {
    /// Parse DVC's `cache.type` list, e.g. `reflink,copy`.
    pub fn parse_list(s: &str) -> std::result::Result<Vec<LinkType>, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            out.push(match part {
                "reflink" => LinkType::Reflink,
                "hardlink" => LinkType::Hardlink,
                "symlink" => LinkType::Symlink,
                "copy" => LinkType::Copy,
                other => {
                    return Err(format!(
                        "unknown link type {other:?} (expected reflink, hardlink, symlink or copy)"
                    ));
                }
            });
        }
        if out.is_empty() {
            return Err("empty cache.type".into());
        }
        Ok(out)
    }

    /// The name DVC uses.
    pub fn name(self) -> &'static str {
        match self {
            LinkType::Reflink => "reflink",
            LinkType::Hardlink => "hardlink",
            LinkType::Symlink => "symlink",
            LinkType::Copy => "copy",
        }
    }
}

/// DVC's default `cache.type`.
pub const DEFAULT_LINK_TYPES: &[LinkType] = &[LinkType::Reflink, LinkType::Copy];

/// A local cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
    links: Vec<LinkType>,
}

impl Cache {
    /// A cache rooted at `root` (the folder holding `files/md5`).
    pub fn new(root: PathBuf, links: Vec<LinkType>) -> Self {
        Self { root, links }
    }

    /// The cache's root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The configured link types, in order of preference.
    pub fn links(&self) -> &[LinkType] {
        &self.links
    }

    /// Where object `oid` lives.
    pub fn object_path(&self, oid: &str) -> PathBuf {
        self.root.join(object_key(oid))
    }

    /// The object is present.
    pub fn contains(&self, oid: &str) -> bool {
        self.object_path(oid).is_file()
    }

    /// Store the workspace file `src` as object `oid` (already hashed), linking per
    /// `cache.type`: a reflink or a hardlink when allowed and possible, else a copy.
    pub fn store_file(&self, src: &Path, oid: &str) -> Result<()> {
        let dst = self.object_path(oid);
        if dst.is_file() {
            return Ok(());
        }
        let parent = dst.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(parent).ctx("create directory", parent)?;
        let tmp = fsutil::temp_beside(&dst);
        let mut stored = false;
        for link in &self.links {
            let ok = match link {
                LinkType::Reflink => try_reflink(src, &tmp),
                LinkType::Hardlink => std::fs::hard_link(src, &tmp).is_ok(),
                // A symlink points into the cache; the cache itself holds a real copy.
                LinkType::Symlink | LinkType::Copy => {
                    std::fs::copy(src, &tmp).ctx("copy into the cache", src)?;
                    true
                }
            };
            if ok {
                stored = true;
                break;
            }
        }
        if !stored {
            std::fs::copy(src, &tmp).ctx("copy into the cache", src)?;
        }
        fsutil::make_readonly(&tmp)?;
        std::fs::rename(&tmp, &dst).ctx("rename into", &dst)?;
        Ok(())
    }

    /// Hash `src` and store it in one pass (for large files that must be copied: the file is
    /// read once, each chunk hashed and written). With a reflink first in `cache.type` and a
    /// filesystem that supports it, the clone is made first and only the hash reads the file.
    pub fn ingest(&self, src: &Path) -> Result<(String, u64)> {
        use std::io::{Read, Write};
        let staging = self.root.join("files").join("md5");
        std::fs::create_dir_all(&staging).ctx("create directory", &staging)?;
        let tmp = fsutil::temp_beside(&staging.join("ingest"));
        let cleanup = |e: Error| {
            let _ = std::fs::remove_file(&tmp);
            e
        };
        let reflinked = self.links.first() == Some(&LinkType::Reflink) && try_reflink(src, &tmp);
        let (md5, size) = if reflinked {
            crate::hash::md5_file(src).map_err(cleanup)?
        } else {
            let mut input = std::fs::File::open(src).ctx("open", src)?;
            let mut out = std::fs::File::create(&tmp).ctx("create", &tmp)?;
            let mut hasher = crate::hash::Hasher::default();
            let mut buf = vec![0u8; 8 << 20];
            let mut size = 0u64;
            loop {
                let n = match input.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        return Err(cleanup(Error::Io {
                            op: "read",
                            path: src.to_path_buf(),
                            source: e,
                        }));
                    }
                };
                hasher.update(&buf[..n]);
                out.write_all(&buf[..n]).map_err(|e| {
                    cleanup(Error::Io {
                        op: "write",
                        path: tmp.clone(),
                        source: e,
                    })
                })?;
                size += n as u64;
            }
            (hasher.finish(), size)
        };
        let dst = self.object_path(&md5);
        if dst.is_file() {
            let _ = std::fs::remove_file(&tmp);
            return Ok((md5, size));
        }
        let parent = dst.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(parent)
            .ctx("create directory", parent)
            .map_err(cleanup)?;
        fsutil::make_readonly(&tmp).map_err(cleanup)?;
        std::fs::rename(&tmp, &dst)
            .ctx("rename into", &dst)
            .map_err(cleanup)?;
        Ok((md5, size))
    }

    /// Store `bytes` as object `oid` (a `.dir` manifest).
    pub fn store_bytes(&self, oid: &str, bytes: &[u8]) -> Result<()> {
        let dst = self.object_path(oid);
        if dst.is_file() {
            return Ok(());
        }
        fsutil::write_atomic(&dst, bytes)?;
        // A concurrent writer may have won the rename; the content is the same either way.
        fsutil::make_readonly(&dst)
    }

    /// Read the manifest of directory object `oid`.
    pub fn manifest(&self, oid: &str) -> Result<Manifest> {
        let p = self.object_path(oid);
        let bytes = std::fs::read(&p).ctx("read", &p)?;
        Manifest::parse(&bytes, &p)
    }

    /// Materialise object `oid` at `dst` in the workspace (replacing whatever is there) with the
    /// first link type that works. Returns the link type used.
    pub fn link_out(&self, oid: &str, dst: &Path, exec: bool) -> Result<LinkType> {
        let src = self.object_path(oid);
        if !src.is_file() {
            return Err(Error::Missing {
                count: 1,
                first: format!("{oid} (for {})", dst.display()),
            });
        }
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).ctx("create directory", parent)?;
        }
        let tmp = fsutil::temp_beside(dst);
        for link in &self.links {
            let ok = match link {
                LinkType::Reflink => try_reflink(&src, &tmp),
                LinkType::Hardlink => std::fs::hard_link(&src, &tmp).is_ok(),
                LinkType::Symlink => std::os::unix::fs::symlink(&src, &tmp).is_ok(),
                LinkType::Copy => {
                    std::fs::copy(&src, &tmp).ctx("copy from the cache", &src)?;
                    true
                }
            };
            if ok {
                if matches!(link, LinkType::Reflink | LinkType::Copy) {
                    fsutil::make_writable(&tmp, exec)?;
                }
                if let Err(e) = std::fs::rename(&tmp, dst) {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(e).ctx("rename into", dst);
                }
                return Ok(*link);
            }
            let _ = std::fs::remove_file(&tmp);
        }
        Err(Error::Target {
            path: dst.to_path_buf(),
            message: format!(
                "no link type of cache.type ({}) works here; add copy to cache.type",
                self.links
                    .iter()
                    .map(|l| l.name())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        })
    }

    /// Every object id in the cache (for `gc`).
    pub fn list(&self) -> Result<Vec<String>> {
        let base = self.root.join("files").join("md5");
        let mut out = Vec::new();
        let rd = match std::fs::read_dir(&base) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e).ctx("list", &base),
        };
        for prefix in rd {
            let prefix = prefix.ctx("list", &base)?;
            let pname = prefix.file_name().to_string_lossy().into_owned();
            if pname.len() != 2 || !prefix.path().is_dir() {
                continue;
            }
            for obj in std::fs::read_dir(prefix.path()).ctx("list", prefix.path())? {
                let obj = obj.ctx("list", prefix.path())?;
                let oid = format!("{pname}{}", obj.file_name().to_string_lossy());
                if crate::hash::is_oid(&oid) {
                    out.push(oid);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Delete object `oid` (read-only files are removable: the directory is writable).
    pub fn remove(&self, oid: &str) -> Result<()> {
        fsutil::remove_file_if_exists(&self.object_path(oid))
    }
}

/// Set once a reflink failed: the filesystem does not support them, so later files skip the
/// attempt (each costs a create and an unlink).
static NO_REFLINK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn try_reflink(src: &Path, dst: &Path) -> bool {
    use std::sync::atomic::Ordering;
    if NO_REFLINK.load(Ordering::Relaxed) {
        return false;
    }
    let ok = reflink_copy::reflink(src, dst).is_ok();
    if !ok {
        NO_REFLINK.store(true, Ordering::Relaxed);
        let _ = std::fs::remove_file(dst);
    }
    ok
}

/// The object's key below a cache or remote root: `files/md5/ab/cdef...`.
pub fn object_key(oid: &str) -> String {
    let (a, b) = oid.split_at(2.min(oid.len()));
    format!("files/md5/{a}/{b}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_read_only_objects() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("cache"), DEFAULT_LINK_TYPES.to_vec());
        let src = dir.path().join("a.txt");
        std::fs::write(&src, b"hello\n").unwrap();
        let oid = "b1946ac92492d2347c6235b4d2611184";
        cache.store_file(&src, oid).unwrap();
        let obj = dir
            .path()
            .join("cache/files/md5/b1/946ac92492d2347c6235b4d2611184");
        assert_eq!(cache.object_path(oid), obj);
        assert_eq!(std::fs::read(&obj).unwrap(), b"hello\n");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&obj).unwrap().permissions().mode() & 0o777,
            0o444
        );
        assert_eq!(cache.list().unwrap(), vec![oid.to_string()]);
        // Checkout by copy gives a writable, independent file.
        let out = dir.path().join("out/a.txt");
        assert_eq!(cache.link_out(oid, &out, false).unwrap(), LinkType::Copy);
        assert_eq!(
            std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
            0o644
        );
    }

    #[test]
    fn ingest_hashes_and_stores_in_one_pass() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("cache"), DEFAULT_LINK_TYPES.to_vec());
        let src = dir.path().join("big.bin");
        let data: Vec<u8> = (0..(9 << 20) + 5).map(|i: usize| (i % 253) as u8).collect();
        std::fs::write(&src, &data).unwrap();
        let (md5, size) = cache.ingest(&src).unwrap();
        assert_eq!(md5, crate::hash::md5_hex(&data));
        assert_eq!(size, data.len() as u64);
        assert_eq!(std::fs::read(cache.object_path(&md5)).unwrap(), data);
        // Ingesting again leaves exactly the one object and no temporary files.
        cache.ingest(&src).unwrap();
        assert_eq!(cache.list().unwrap(), vec![md5]);
        let staged: Vec<_> = std::fs::read_dir(dir.path().join("cache/files/md5"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_type().unwrap().is_file())
            .collect();
        assert!(staged.is_empty(), "temporary files left: {staged:?}");
    }

    #[test]
    fn link_type_lists() {
        assert_eq!(
            LinkType::parse_list("hardlink, copy").unwrap(),
            vec![LinkType::Hardlink, LinkType::Copy]
        );
        assert!(LinkType::parse_list("teleport").is_err());
    }
}
