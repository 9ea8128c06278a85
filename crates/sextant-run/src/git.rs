//! The state of the git work tree a command runs in, read with the `git` command line: commit,
//! branch, remote, whether the tree differs from the commit, the diff and the untracked files.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What `git` says about the work tree at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GitState {
    /// The top of the work tree.
    pub root: PathBuf,
    /// `HEAD`'s commit (none in a repository without commits).
    pub commit: Option<String>,
    /// The checked-out branch (none when `HEAD` is detached, as in most CI checkouts).
    pub branch: Option<String>,
    /// The `origin` remote's URL (else the first remote's), with any credentials removed.
    pub remote_url: Option<String>,
    /// The tree differs from the commit: changed, staged, deleted or untracked (not ignored)
    /// files — what `git status` reports as not clean.
    pub dirty: bool,
    /// `git diff HEAD --binary`: every change to tracked files, staged or not.
    pub diff: Vec<u8>,
    /// Untracked, not ignored files, relative to the top of the tree (the first
    /// [`MAX_UNTRACKED_LISTED`]).
    pub untracked: Vec<String>,
    /// How many untracked files there are in all.
    pub untracked_count: usize,
}

/// At most this many untracked files are listed (a data folder nobody ignored can hold millions).
pub const MAX_UNTRACKED_LISTED: usize = 10_000;

fn git(cwd: &Path, args: &[&str]) -> Option<Vec<u8>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(cwd)
        .args(args)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

fn git_line(cwd: &Path, args: &[&str]) -> Option<String> {
    let out = git(cwd, args)?;
    let s = String::from_utf8_lossy(&out).trim().to_owned();
    (!s.is_empty()).then_some(s)
}

/// The git state of `cwd`, or `None` when it is not inside a work tree (or git is missing).
pub fn inspect(cwd: &Path) -> Option<GitState> {
    let root = PathBuf::from(git_line(cwd, &["rev-parse", "--show-toplevel"])?);
    let commit = git_line(cwd, &["rev-parse", "--verify", "--quiet", "HEAD"]);
    let branch = git_line(cwd, &["symbolic-ref", "--quiet", "--short", "HEAD"]);
    let remote = git_line(cwd, &["remote", "get-url", "origin"]).or_else(|| {
        let first = git_line(cwd, &["remote"])?.lines().next()?.to_owned();
        git_line(cwd, &["remote", "get-url", &first])
    });
    let status = git(
        cwd,
        &["status", "--porcelain=v1", "-z", "--untracked-files=all"],
    )
    .unwrap_or_default();
    let mut untracked = Vec::new();
    let mut untracked_count = 0;
    let mut dirty = false;
    let mut entries = status.split(|b| *b == 0).filter(|e| !e.is_empty());
    while let Some(e) = entries.next() {
        dirty = true;
        let text = String::from_utf8_lossy(e);
        if let Some(path) = text.strip_prefix("?? ") {
            untracked_count += 1;
            if untracked.len() < MAX_UNTRACKED_LISTED {
                untracked.push(path.to_owned());
            }
        } else if matches!(e.first(), Some(b'R' | b'C')) {
            // A rename or copy is followed by its source path.
            entries.next();
        }
    }
    let diff = if dirty && commit.is_some() {
        git(cwd, &["diff", "HEAD", "--binary"]).unwrap_or_default()
    } else {
        Vec::new()
    };
    Some(GitState {
        root,
        commit,
        branch,
        remote_url: remote.map(|u| strip_credentials(&u)),
        dirty,
        diff,
        untracked,
        untracked_count,
    })
}

/// A remote URL without a `user:password@` part (CI checkouts often embed a token there).
/// `git@host:org/repo.git` has a user, not a secret, and is kept as it is.
pub fn strip_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://{host}{path}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_leave_the_machine() {
        assert_eq!(
            strip_credentials("https://ci:ghp_secret@github.com/org/repo.git"),
            "https://github.com/org/repo.git"
        );
        assert_eq!(
            strip_credentials("https://github.com/org/repo.git"),
            "https://github.com/org/repo.git"
        );
        assert_eq!(
            strip_credentials("git@github.com:org/repo.git"),
            "git@github.com:org/repo.git"
        );
        assert_eq!(
            strip_credentials("ssh://git@host:22/a@b"),
            "ssh://host:22/a@b"
        );
    }

    fn sh(dir: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "git {args:?}");
    }

    #[test]
    fn a_dirty_tree_is_seen_with_its_diff_and_untracked_files() {
        if Command::new("git").arg("--version").output().is_err() {
            return; // no git on this machine: nothing to inspect
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(inspect(d), None);
        sh(d, &["init", "-q", "-b", "main"]);
        std::fs::write(d.join("a.txt"), "one\n").unwrap();
        sh(d, &["add", "a.txt"]);
        sh(d, &["commit", "-q", "-m", "first"]);
        sh(
            d,
            &[
                "remote",
                "add",
                "origin",
                "https://tok@example.invalid/r.git",
            ],
        );
        let clean = inspect(d).unwrap();
        assert!(!clean.dirty);
        assert_eq!(clean.branch.as_deref(), Some("main"));
        assert_eq!(clean.commit.as_ref().map(String::len), Some(40));
        assert_eq!(
            clean.remote_url.as_deref(),
            Some("https://example.invalid/r.git")
        );
        assert!(clean.diff.is_empty());

        std::fs::write(d.join("a.txt"), "one\ntwo\n").unwrap();
        std::fs::write(d.join("new.txt"), "n\n").unwrap();
        let dirty = inspect(d).unwrap();
        assert!(dirty.dirty);
        let diff = String::from_utf8(dirty.diff).unwrap();
        assert!(diff.contains("+two"), "{diff}");
        assert_eq!(dirty.untracked, vec!["new.txt".to_owned()]);
    }
}
