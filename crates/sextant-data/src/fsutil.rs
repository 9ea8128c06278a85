//! Small filesystem helpers: atomic writes, temporary names, read-only objects.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{IoContext, Result};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A unique temporary name beside `path` (same directory, so a rename is atomic).
pub(crate) fn temp_beside(path: &Path) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    path.with_file_name(format!(".{name}.{}.{n}.{nanos:x}.tmp", std::process::id()))
}

/// Write `bytes` to `path` through a temporary file and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).ctx("create directory", parent)?;
    }
    let tmp = temp_beside(path);
    std::fs::write(&tmp, bytes).ctx("write", &tmp)?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).ctx("rename into", path);
    }
    Ok(())
}

/// [`write_atomic`], running `prepare` on the temporary file before the rename (e.g. to make
/// it read-only), so the final name only ever holds the finished file.
pub(crate) fn write_atomic_with(
    path: &Path,
    bytes: &[u8],
    prepare: fn(&Path) -> Result<()>,
) -> Result<()> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).ctx("create directory", parent)?;
    }
    let tmp = temp_beside(path);
    std::fs::write(&tmp, bytes).ctx("write", &tmp)?;
    let done = prepare(&tmp).and_then(|()| std::fs::rename(&tmp, path).ctx("rename into", path));
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    done
}

/// Make `path` read-only for everyone (0444), as DVC protects cache objects.
pub(crate) fn make_readonly(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444)).ctx("chmod", path)
}

/// Make a workspace copy writable again (0644, or 0755 when executable).
pub(crate) fn make_writable(path: &Path, exec: bool) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = if exec { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).ctx("chmod", path)
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
