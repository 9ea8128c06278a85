//! Small filesystem helpers: atomic writes, temporary names, read-only objects.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{IoContext, Result};
use crate::state::Stat;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A unique temporary name beside `path` (same directory, so a rename is atomic).
pub(crate) fn temp_beside(path: &Path) -> PathBuf {
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let pid = *PID.get_or_init(std::process::id);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    path.with_file_name(format!(".{name}.{pid}.{n}.{nanos:x}.tmp"))
}

/// Write `bytes` to `path` through a temporary file and a rename (mode 0666 less the umask, as
/// a plain create).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_new(path, 0o666, |f| f.write_all(bytes).ctx("write", path))
}

/// Write a file atomically: a temporary file beside `path` is created with `mode` (less the
/// umask; the mode may be read-only, it only applies to later opens), filled by `fill` (whose
/// result is returned; it may `stat` the open file for the stat cache: the rename changes
/// neither inode, size nor mtime), and renamed over `path`. Missing parent folders are
/// created, found out by the create failing (no `stat` or `mkdir` per file when they exist).
/// When `fill` fails the temporary file is removed, so `path` only ever holds a finished file.
pub(crate) fn write_new<T>(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut File) -> Result<T>,
) -> Result<T> {
    let tmp = temp_beside(path);
    let mut file = with_parent(path, || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
    })
    .ctx("create", &tmp)?;
    let done = fill(&mut file).and_then(|v| {
        drop(file);
        std::fs::rename(&tmp, path).ctx("rename into", path)?;
        Ok(v)
    });
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    done
}

/// The stat signature of an open file.
pub(crate) fn stat_of(file: &File, path: &Path) -> Result<Stat> {
    Ok(Stat::of(&file.metadata().ctx("stat", path)?))
}

/// Read an open file whose size is expected to be `len` to its end, in as few reads as the
/// kernel allows (no size probing: the caller knows the size).
pub(crate) fn read_all(file: &mut File, len: u64, path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    // One byte more than expected, so a file that grew is read whole and the end is one read.
    let mut buf = vec![0u8; len as usize + 1];
    let mut n = 0;
    loop {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => {
                n += k;
                if n == buf.len() {
                    buf.resize(buf.len() * 2, 0);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).ctx("read", path),
        }
    }
    buf.truncate(n);
    Ok(buf)
}

/// Run `op`, which creates something at `path`; when it fails because the parent folder is
/// missing, create the folder (and its parents) and run `op` once more.
pub(crate) fn with_parent<T>(path: &Path, mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    match op() {
        // Another thread may have created the folder meanwhile: create_dir_all is fine with it.
        Err(e) if e.kind() == io::ErrorKind::NotFound => match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => {
                std::fs::create_dir_all(parent)?;
                op()
            }
            _ => Err(e),
        },
        other => other,
    }
}

/// Make `path` read-only for everyone (0444), as DVC protects cache objects.
pub(crate) fn make_readonly(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444)).ctx("chmod", path)
}

/// The mode of a workspace copy: 0644, or 0755 when executable.
pub(crate) fn workspace_mode(exec: bool) -> u32 {
    if exec { 0o755 } else { 0o644 }
}

/// Make a workspace copy writable again ([`workspace_mode`]).
pub(crate) fn make_writable(path: &Path, exec: bool) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(workspace_mode(exec)))
        .ctx("chmod", path)
}

/// Remove a file, treating "already gone" as success.
pub(crate) fn remove_file_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).ctx("remove", path),
        _ => Ok(()),
    }
}

/// `path` as a `/`-separated string relative to `base`, or `None` when it is not inside.
pub(crate) fn rel_posix(path: &Path, base: &Path) -> Option<String> {
    let rel = path.strip_prefix(base).ok()?;
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            std::path::Component::Normal(s) => parts.push(s.to_str()?.to_string()),
            std::path::Component::CurDir => {}
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

/// Lexically normalise `p` (resolve `.` and `..` without touching the filesystem).
pub(crate) fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn write_new_creates_missing_folders_and_sets_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/obj");
        let stat = write_new(&p, 0o444, |f| {
            f.write_all(b"hello").ctx("write", "obj")?;
            stat_of(f, &p)
        })
        .unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"hello");
        let meta = std::fs::metadata(&p).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o444);
        assert_eq!(
            stat,
            Stat::of(&meta),
            "the signature read before the rename is the file's"
        );
        // Replacing an existing (read-only) file works, as a rename does.
        write_new(&p, 0o444, |f| f.write_all(b"again").ctx("write", "obj")).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"again");
    }

    #[test]
    fn a_failed_write_leaves_neither_the_file_nor_a_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("obj");
        let err = write_new(&p, 0o644, |f| -> Result<()> {
            f.write_all(b"half").ctx("write", "obj")?;
            Err(crate::Error::Missing {
                count: 1,
                first: "x".into(),
            })
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}

#[cfg(test)]
mod read_tests {
    use super::*;

    #[test]
    fn read_all_reads_files_that_are_longer_or_shorter_than_expected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"0123456789").unwrap();
        for expected in [0, 3, 10, 64] {
            let mut f = File::open(&p).unwrap();
            assert_eq!(read_all(&mut f, expected, &p).unwrap(), b"0123456789");
        }
    }
}
