//! `.gitignore` entries for tracked outputs, written as DVC (scmrepo) writes them: `/name` in
//! the `.gitignore` of the output's parent folder, special characters escaped, appended once,
//! and only when git does not ignore the path already.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{IoContext, Result};
use crate::fsutil;

/// Escape gitignore's special characters (`\ [ ] ! * # ?`) as pathspec does.
pub fn escape(name: &str) -> String {
    let mut s = String::with_capacity(name.len() + 2);
    for c in name.chars() {
        if "\\[]!*#?".contains(c) {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

/// Make git ignore each of `paths` (absolute, inside `root`).
pub fn ignore_paths(root: &Path, paths: &[PathBuf]) -> Result<()> {
    if paths.is_empty() {
        return Ok(());
    }
    let already = git_ignored(root, paths);
    let mut by_file: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    for p in paths {
        if already.contains(p) {
            continue;
        }
        let (Some(parent), Some(name)) = (p.parent(), p.file_name().and_then(|n| n.to_str()))
        else {
            continue;
        };
        by_file
            .entry(parent.join(".gitignore"))
            .or_default()
            .push(format!("/{}", escape(name)));
    }
    for (file, entries) in by_file {
        let mut text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).ctx("read", &file),
        };
        let before = text.len();
        for entry in entries {
            if text.lines().any(|l| l == entry) {
                continue;
            }
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&entry);
            text.push('\n');
        }
        if text.len() != before {
            fsutil::write_atomic(&file, text.as_bytes())?;
        }
    }
    Ok(())
}

/// The subset of `paths` git already ignores (empty when git cannot tell).
fn git_ignored(root: &Path, paths: &[PathBuf]) -> Vec<PathBuf> {
    let Ok(mut child) = Command::new("git")
        .args(["check-ignore", "--stdin", "-z"])
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    else {
        return Vec::new();
    };
    if let Some(mut stdin) = child.stdin.take() {
        for p in paths {
            let _ = stdin.write_all(p.as_os_str().as_encoded_bytes());
            let _ = stdin.write_all(b"\0");
        }
    }
    let Ok(out) = child.wait_with_output() else {
        return Vec::new();
    };
    out.stdout
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let p = PathBuf::from(String::from_utf8_lossy(s).into_owned());
            if p.is_absolute() { p } else { root.join(p) }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_like_pathspec() {
        assert_eq!(super::escape("#hash"), "\\#hash");
        assert_eq!(super::escape("a[1]*?!\\b"), "a\\[1\\]\\*\\?\\!\\\\b");
        assert_eq!(super::escape("we: ird.txt"), "we: ird.txt");
    }
}
