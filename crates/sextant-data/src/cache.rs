//! The content-addressed cache: `.dvc/cache/files/md5/<2 hex>/<30 hex>`, objects read-only,
//! every insert a temporary file plus a rename (a killed process never leaves a half object
//! under a real name). Links between the cache and the workspace follow `cache.type`.

use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::hash::Oid;
use crate::manifest::Manifest;
use crate::state::Stat;

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

/// Mode of cache objects: read-only for everyone, as DVC protects them.
pub(crate) const OBJECT_MODE: u32 = 0o444;

/// Files up to this size are read into memory whole by [`Cache::ingest`].
const SMALL_FILE: u64 = 8 << 20;

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
    pub fn object_path(&self, oid: &Oid) -> PathBuf {
        self.root.join(object_key(oid))
    }

    /// The object is present.
    pub fn contains(&self, oid: &Oid) -> bool {
        self.object_path(oid).is_file()
    }

    /// Every object of `oids` is present: a `stat` each for a few, one listing per prefix
    /// folder for many (a directory of 20,000 files lists 256 folders instead of 20,000 paths).
    pub fn contains_all(&self, oids: &[&Oid]) -> bool {
        use rayon::prelude::*;
        if oids.len() < 1024 {
            return oids.par_iter().all(|o| self.contains(o));
        }
        let mut by_prefix: std::collections::HashMap<&str, Vec<&str>> = Default::default();
        for o in oids {
            // An `Oid` is at least 32 ASCII characters.
            by_prefix.entry(&o[..2]).or_default().push(&o[2..]);
        }
        by_prefix.par_iter().all(|(prefix, rests)| {
            let dir = self.root.join("files").join("md5").join(prefix);
            let Ok(rd) = std::fs::read_dir(&dir) else {
                return false;
            };
            // Names only: a temporary file never has an object's name.
            let names: std::collections::HashSet<std::ffi::OsString> =
                rd.flatten().map(|e| e.file_name()).collect();
            rests
                .iter()
                .all(|r| names.contains(std::ffi::OsStr::new(r)))
        })
    }

    /// Store the workspace file `src` as object `oid` (already hashed), linking per
    /// `cache.type`: a reflink or a hardlink when allowed and possible, else a copy.
    pub fn store_file(&self, src: &Path, oid: &Oid) -> Result<()> {
        let dst = self.object_path(oid);
        if dst.is_file() {
            return Ok(());
        }
        for link in &self.links {
            let tmp = fsutil::temp_beside(&dst);
            let linked = match link {
                LinkType::Reflink => try_reflink(src, &tmp),
                LinkType::Hardlink => {
                    fsutil::with_parent(&dst, || std::fs::hard_link(src, &tmp)).is_ok()
                }
                // A symlink points into the cache; the cache itself holds a real copy.
                LinkType::Symlink | LinkType::Copy => break,
            };
            if linked {
                return fsutil::make_readonly(&tmp)
                    .and_then(|()| std::fs::rename(&tmp, &dst).ctx("rename into", &dst))
                    .inspect_err(|_| {
                        let _ = std::fs::remove_file(&tmp);
                    });
            }
        }
        let mut input = std::fs::File::open(src).ctx("open", src)?;
        fsutil::write_new(&dst, OBJECT_MODE, |out| {
            std::io::copy(&mut input, out)
                .map(|_| ())
                .ctx("copy into the cache", src)
        })
    }

    /// Hash `src` and store it in one pass: a small file is read once, hashed and written from
    /// memory; a large one is copied in the kernel in chunks while this thread hashes the copy
    /// (flat memory, and the cached bytes are the hashed bytes). With a reflink first in `cache.type` and a filesystem that
    /// supports it, the clone is made first and only the hash reads the file.
    pub fn ingest(&self, src: &Path) -> Result<(Oid, u64)> {
        use std::io::Write;
        if self.links.first() == Some(&LinkType::Reflink) && !reflinks_refused() {
            let tmp = self.staging_name();
            if try_reflink(src, &tmp) {
                return crate::hash::md5_file(src)
                    .and_then(|(md5, size)| self.adopt(&tmp, &md5).map(|()| (md5, size)))
                    .inspect_err(|_| {
                        let _ = std::fs::remove_file(&tmp);
                    });
            }
        }
        let mut input = std::fs::File::open(src).ctx("open", src)?;
        let len = input.metadata().ctx("stat", src)?.len();
        if len <= SMALL_FILE {
            let bytes = fsutil::read_all(&mut input, len, src)?;
            let md5 = crate::hash::md5_oid(&bytes);
            let dst = self.object_path(&md5);
            if !dst.is_file() {
                fsutil::write_new(&dst, OBJECT_MODE, |f| {
                    f.write_all(&bytes).ctx("write", &dst)
                })?;
            }
            return Ok((md5, bytes.len() as u64));
        }
        let tmp = self.staging_name();
        let out = fsutil::with_parent(&tmp, || {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(OBJECT_MODE)
                .open(&tmp)
        })
        .ctx("create", &tmp)?;
        copy_hashing(&mut input, src, out, &tmp)
            .and_then(|(md5, size)| self.adopt(&tmp, &md5).map(|()| (md5, size)))
            .inspect_err(|_| {
                let _ = std::fs::remove_file(&tmp);
            })
    }

    /// A temporary name in the cache for a file whose hash is not known yet.
    fn staging_name(&self) -> PathBuf {
        fsutil::temp_beside(&self.root.join("files").join("md5").join("ingest"))
    }

    /// Give the finished temporary file `tmp` its object name `oid` (read-only), or drop it
    /// when the object is already there.
    fn adopt(&self, tmp: &Path, oid: &Oid) -> Result<()> {
        let dst = self.object_path(oid);
        if dst.is_file() {
            let _ = std::fs::remove_file(tmp);
            return Ok(());
        }
        // A reflinked clone still has the workspace file's mode; a copy is read-only already.
        fsutil::make_readonly(tmp)?;
        fsutil::with_parent(&dst, || std::fs::rename(tmp, &dst)).ctx("rename into", &dst)
    }

    /// Store `bytes` as object `oid` (a `.dir` manifest).
    pub fn store_bytes(&self, oid: &Oid, bytes: &[u8]) -> Result<()> {
        use std::io::Write;
        let dst = self.object_path(oid);
        if dst.is_file() {
            return Ok(());
        }
        // A concurrent writer may win the rename; the content is the same either way.
        fsutil::write_new(&dst, OBJECT_MODE, |f| f.write_all(bytes).ctx("write", &dst))
    }

    /// Read the manifest of directory object `oid`.
    pub fn manifest(&self, oid: &Oid) -> Result<Manifest> {
        let p = self.object_path(oid);
        let bytes = std::fs::read(&p).ctx("read", &p)?;
        Manifest::parse(&bytes, &p)
    }

    /// Materialise object `oid` at `dst` in the workspace (replacing whatever is there) with the
    /// first link type that works. Returns the link type used.
    pub fn link_out(&self, oid: &Oid, dst: &Path, exec: bool) -> Result<LinkType> {
        self.link_out_stat(oid, dst, exec).map(|(link, _)| link)
    }

    /// [`Self::link_out`], also returning the stat signature of the file now at `dst` (for the
    /// stat cache, without another `stat`). Parent folders are created only when missing, and
    /// a missing object is found by the link or copy failing: [`Error::Missing`].
    pub(crate) fn link_out_stat(
        &self,
        oid: &Oid,
        dst: &Path,
        exec: bool,
    ) -> Result<(LinkType, Stat)> {
        let src = self.object_path(oid);
        let missing = || Error::Missing {
            count: 1,
            first: format!("{oid} (for {})", dst.display()),
        };
        let not_found = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
        for link in &self.links {
            let tmp = fsutil::temp_beside(dst);
            let linked = match link {
                LinkType::Copy => {
                    let mut input = match std::fs::File::open(&src) {
                        Err(e) if not_found(&e) => return Err(missing()),
                        other => other.ctx("open", &src)?,
                    };
                    let stat = fsutil::write_new(dst, fsutil::workspace_mode(exec), |out| {
                        std::io::copy(&mut input, out).ctx("copy from the cache", &src)?;
                        fsutil::stat_of(out, dst)
                    })?;
                    return Ok((LinkType::Copy, stat));
                }
                LinkType::Reflink => try_reflink(&src, &tmp),
                LinkType::Hardlink => {
                    match fsutil::with_parent(dst, || std::fs::hard_link(&src, &tmp)) {
                        Ok(()) => true,
                        Err(e) if not_found(&e) && !src.is_file() => return Err(missing()),
                        Err(_) => false,
                    }
                }
                LinkType::Symlink => {
                    if !src.is_file() {
                        return Err(missing());
                    }
                    fsutil::with_parent(dst, || std::os::unix::fs::symlink(&src, &tmp)).is_ok()
                }
            };
            if !linked {
                continue; // a failed link leaves nothing behind
            }
            let placed = (if *link == LinkType::Reflink {
                fsutil::make_writable(&tmp, exec)
            } else {
                Ok(())
            })
            .and_then(|()| std::fs::rename(&tmp, dst).ctx("rename into", dst));
            if let Err(e) = placed {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            let meta = std::fs::metadata(dst).ctx("stat", dst)?;
            return Ok((*link, Stat::of(&meta)));
        }
        if !src.is_file() {
            return Err(missing());
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
    pub fn list(&self) -> Result<Vec<Oid>> {
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
                let name = format!("{pname}{}", obj.file_name().to_string_lossy());
                if let Ok(oid) = Oid::parse(&name) {
                    out.push(oid);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Delete object `oid` (read-only files are removable: the directory is writable).
    pub fn remove(&self, oid: &Oid) -> Result<()> {
        fsutil::remove_file_if_exists(&self.object_path(oid))
    }
}

/// Copy `input` to `out` (the temporary object at `tmp`) and hash the copy: a second thread
/// copies chunk after chunk inside the kernel (`copy_file_range`, no round trip through this
/// process's memory), and this thread hashes each chunk of the copy as soon as it is written.
/// What is hashed is what the cache holds, whatever happens to the source meanwhile (a source
/// edited during the copy shows up as modified afterwards, never as a wrong object), and a large
/// file costs about the time of its md5. Returns the md5 and the size.
fn copy_hashing(
    input: &mut std::fs::File,
    src: &Path,
    out: std::fs::File,
    tmp: &Path,
) -> Result<(Oid, u64)> {
    use std::io::Read;
    let mut copy = std::fs::File::open(tmp).ctx("open", tmp)?;
    let (done_tx, done_rx) = std::sync::mpsc::channel::<u64>();
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> std::io::Result<()> {
            let mut out = out;
            loop {
                let n = std::io::copy(&mut (&mut *input).take(PIPE_CHUNK), &mut out)?;
                if n == 0 || done_tx.send(n).is_err() {
                    return Ok(());
                }
            }
        });
        let mut hasher = crate::hash::Hasher::default();
        let mut buf = vec![0u8; crate::hash::CHUNK];
        let mut size = 0u64;
        let mut hashed = Ok(());
        'chunks: for n in &done_rx {
            let mut left = n;
            while left > 0 {
                let want = left.min(buf.len() as u64) as usize;
                match copy.read(&mut buf[..want]) {
                    Ok(0) => {
                        hashed = Err(std::io::Error::other("the copy is shorter than written"));
                        break 'chunks;
                    }
                    Ok(k) => {
                        hasher.update(&buf[..k]);
                        left -= k as u64;
                        size += k as u64;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        hashed = Err(e);
                        break 'chunks;
                    }
                }
            }
        }
        drop(done_rx); // a writer still copying stops at its next chunk
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the copying thread panicked")));
        written.ctx("copy into the cache", src)?;
        hashed.ctx("read", tmp)?;
        Ok((hasher.finish(), size))
    })
}

/// Chunk size of [`copy_hashing`].
const PIPE_CHUNK: u64 = 4 << 20;

/// Set once a reflink failed: the filesystem does not support them, so later files skip the
/// attempt (each costs a create and an unlink).
static NO_REFLINK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn reflinks_refused() -> bool {
    NO_REFLINK.load(std::sync::atomic::Ordering::Relaxed)
}

/// Clone `src` to `dst` (creating `dst`'s folder when missing). A refusal by the filesystem
/// turns reflinks off for the rest of the process; a missing file does not.
fn try_reflink(src: &Path, dst: &Path) -> bool {
    if reflinks_refused() {
        return false;
    }
    match fsutil::with_parent(dst, || reflink_copy::reflink(src, dst)) {
        Ok(()) => true,
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                NO_REFLINK.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            let _ = std::fs::remove_file(dst);
            false
        }
    }
}

/// The object's key below a cache or remote root: `files/md5/ab/cdef...`.
pub fn object_key(oid: &Oid) -> String {
    oid.key()
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
        let oid = &Oid::parse("b1946ac92492d2347c6235b4d2611184").unwrap();
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
        assert_eq!(cache.list().unwrap(), vec![oid.clone()]);
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
        assert_eq!(md5, crate::hash::md5_oid(&data));
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
    fn contains_all_by_stat_and_by_listing() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("cache"), DEFAULT_LINK_TYPES.to_vec());
        let oids: Vec<Oid> = (0..1100u32)
            .map(|i| crate::hash::md5_oid(&i.to_le_bytes()))
            .collect();
        for (i, oid) in oids.iter().enumerate() {
            cache.store_bytes(oid, &(i as u32).to_le_bytes()).unwrap();
        }
        let all: Vec<&Oid> = oids.iter().collect();
        assert!(cache.contains_all(&all), "listing");
        assert!(cache.contains_all(&all[..10]), "stat");
        cache.remove(&oids[500]).unwrap();
        assert!(!cache.contains_all(&all), "listing sees the missing object");
        assert!(!cache.contains_all(&all[495..505]), "stat sees it");
        let mut absent = all.clone();
        let unknown = Oid::parse("ffffffffffffffffffffffffffffffff").unwrap();
        absent[0] = &unknown;
        absent.remove(500);
        assert!(
            !cache.contains_all(&absent),
            "an unknown prefix folder or name"
        );
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
