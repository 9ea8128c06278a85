//! Garbage collection: cache objects that no pointer file (or `dvc.lock` output) of the chosen
//! revisions needs.

use std::collections::HashSet;
use std::path::Path;

use serde::Serialize;

use crate::error::Result;
use crate::hash::Oid;
use crate::pointer::PointerFile;
use crate::repo::{Repo, UsedObjects, git};

/// Which revisions keep their objects.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scope {
    /// Every branch's tip (besides the workspace).
    pub all_branches: bool,
    /// Every tag.
    pub all_tags: bool,
    /// Every commit.
    pub all_commits: bool,
}

/// What `gc` found (and removed, with `force`).
#[derive(Debug, Clone, Serialize)]
pub struct GcReport {
    /// Objects kept because something needs them.
    pub kept: usize,
    /// Unused objects (removed when `removed` is true).
    pub unused: Vec<Oid>,
    /// Bytes of the unused objects.
    pub unused_bytes: u64,
    /// The unused objects were deleted.
    pub removed: bool,
}

/// Find (and with `force`, delete) cache objects unused by the workspace and `scope`.
pub fn gc(repo: &Repo, scope: Scope, force: bool) -> Result<GcReport> {
    let mut used = repo.objects_for(&repo.tracked(None)?)?;
    // Pipeline outputs recorded in the workspace's dvc.lock are in use too.
    if let Ok(text) = std::fs::read_to_string(repo.root.join("dvc.lock")) {
        for oid in lock_oids(&text) {
            repo.add_used(&oid, &mut used)?;
        }
    }
    for rev in revisions(&repo.root, scope)? {
        for oid in pointer_oids_at(&repo.root, &rev)? {
            repo.add_used(&oid, &mut used)?;
        }
    }
    let UsedObjects { files, dirs, .. } = used;
    let keep: HashSet<Oid> = files.into_iter().chain(dirs).collect();
    let mut unused = Vec::new();
    let mut bytes = 0;
    let mut kept = 0;
    for oid in repo.cache.list()? {
        if keep.contains(&oid) {
            kept += 1;
        } else {
            bytes += std::fs::metadata(repo.cache.object_path(&oid))
                .map(|m| m.len())
                .unwrap_or(0);
            unused.push(oid);
        }
    }
    if force {
        for oid in &unused {
            repo.cache.remove(oid)?;
        }
    }
    Ok(GcReport {
        kept,
        unused,
        unused_bytes: bytes,
        removed: force,
    })
}

fn revisions(root: &Path, scope: Scope) -> Result<Vec<String>> {
    let mut revs = Vec::new();
    let lines = |s: String| {
        s.lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
    };
    if scope.all_commits {
        revs.extend(lines(git(root, &["rev-list", "--all"])?));
    } else {
        if scope.all_branches {
            revs.extend(lines(git(
                root,
                &["for-each-ref", "--format=%(objectname)", "refs/heads"],
            )?));
        }
        if scope.all_tags {
            revs.extend(lines(git(
                root,
                &["for-each-ref", "--format=%(objectname)", "refs/tags"],
            )?));
        }
    }
    revs.sort();
    revs.dedup();
    Ok(revs)
}

/// Object ids named by the `.dvc` files committed at `rev`.
fn pointer_oids_at(root: &Path, rev: &str) -> Result<Vec<Oid>> {
    let mut out = Vec::new();
    let listing = git(root, &["ls-tree", "-r", "-z", "--name-only", rev])?;
    for path in listing.split('\0').filter(|p| *p == "dvc.lock") {
        out.extend(lock_oids(&git(root, &["show", &format!("{rev}:{path}")])?));
    }
    for path in listing
        .split('\0')
        .filter(|p| p.ends_with(".dvc") && !p.starts_with(".dvc/"))
    {
        let text = git(root, &["show", &format!("{rev}:{path}")])?;
        // Old revisions may hold pointer files this version rejects (DVC 2): skip them.
        if let Ok(pf) = PointerFile::parse(&text, Path::new(path)) {
            out.extend(
                pf.outs
                    .into_iter()
                    .filter(|o| o.uses_cache())
                    .filter_map(|o| o.md5),
            );
        }
    }
    Ok(out)
}

/// The object ids of the outputs a `dvc.lock` records (`stages.*.outs[*].md5`); a file that
/// does not parse names none, and a value that is not a hash names no object.
fn lock_oids(text: &str) -> Vec<Oid> {
    let Ok(doc) = serde_yaml::from_str::<serde_yaml::Value>(text) else {
        return Vec::new();
    };
    let Some(stages) = doc.get("stages").and_then(|s| s.as_mapping()) else {
        return Vec::new();
    };
    stages
        .values()
        .filter_map(|e| e.get("outs").and_then(|o| o.as_sequence()))
        .flatten()
        .filter_map(|o| o.get("md5").and_then(|m| m.as_str()))
        .filter_map(|m| Oid::parse(m).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn lock_outputs_are_in_use() {
        let text = "schema: '2.0'\nstages:\n  a:\n    cmd: x\n    outs:\n    - path: o\n      hash: md5\n      md5: 0cc175b9c0f1b6a831c399e269772661\n      size: 1\n";
        assert_eq!(super::lock_oids(text), ["0cc175b9c0f1b6a831c399e269772661"]);
        assert!(super::lock_oids(": :").is_empty());
    }
}
