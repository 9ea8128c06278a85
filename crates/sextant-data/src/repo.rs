//! A DVC repository on disk: finding or creating `.dvc/`, the pointer files in it, hashing the
//! workspace (in parallel, through the stat cache), and the local commands `add`, `status` and
//! `checkout`.

use std::path::{Path, PathBuf};
use std::process::Command;

use rayon::prelude::*;
use serde::Serialize;

use crate::cache::{Cache, DEFAULT_LINK_TYPES, LinkType};
use crate::config::Config;
use crate::error::{Error, IoContext, Result};
use crate::hash::Oid;
use crate::manifest::{Entry, Manifest};
use crate::pointer::{self, Out, PointerFile};
use crate::state::{Stat, StatCache};
use crate::{Progress, fsutil, hash};

/// Contents of a fresh `.dvcignore`, as `dvc init` writes it.
pub const DVCIGNORE_TEMPLATE: &str = "# Add patterns of files dvc should ignore, which could improve\n# the performance. Learn more at\n# https://dvc.org/doc/user-guide/dvcignore\n";
/// Contents of `.dvc/.gitignore`, as `dvc init` writes it.
pub const DVC_GITIGNORE: &str = "/config.local\n/tmp\n/cache\n";

/// An opened repository.
pub struct Repo {
    /// The folder holding `.dvc/`.
    pub root: PathBuf,
    /// `<root>/.dvc`.
    pub dvc_dir: PathBuf,
    /// Merged configuration.
    pub config: Config,
    /// The local cache.
    pub cache: Cache,
    /// The repository is also a git work tree (`.gitignore` entries are written).
    pub git: bool,
}

/// One tracked output found in the workspace's pointer files.
#[derive(Debug, Clone)]
pub struct Tracked {
    /// The pointer file, relative to the root.
    pub pointer: String,
    /// The output as recorded.
    pub out: Out,
    /// Absolute path of the output.
    pub abs: PathBuf,
    /// The output's path relative to the root.
    pub rel: String,
}

/// A file seen in the workspace, with its hash once known.
#[derive(Debug, Clone)]
pub(crate) struct FileInfo {
    pub abs: PathBuf,
    /// Path relative to the repository root (stat-cache key).
    pub key: String,
    /// Path inside the tracked directory (empty for a single file).
    pub relpath: String,
    pub stat: Stat,
    pub exec: bool,
    pub md5: Option<Oid>,
    /// Already stored in the cache (hashed and copied in one pass by `add`).
    pub stored: bool,
}

/// What a path in the workspace holds, hashed.
#[derive(Debug, Clone)]
pub enum Hashed {
    /// Nothing at that path.
    Missing,
    /// A file.
    File { md5: Oid, size: u64, exec: bool },
    /// A directory with its manifest.
    Dir { manifest: Manifest, size: u64 },
}

impl Hashed {
    /// The object id this content would have.
    pub fn oid(&self) -> Option<Oid> {
        match self {
            Hashed::Missing => None,
            Hashed::File { md5, .. } => Some(md5.clone()),
            Hashed::Dir { manifest, .. } => Some(manifest.oid()),
        }
    }
}

/// The result of adding one target.
#[derive(Debug, Clone, Serialize)]
pub struct Added {
    /// The output's path relative to the root.
    pub path: String,
    /// The pointer file written.
    pub pointer: String,
    /// Object id.
    pub md5: Oid,
    /// Bytes.
    pub size: u64,
    /// Files (directories only).
    pub nfiles: Option<u64>,
    /// The pointer file did not change (the data was already tracked as is).
    pub unchanged: bool,
}

/// How an output differs from its pointer file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Change {
    /// The workspace content differs from the recorded hash.
    #[serde(rename = "modified")]
    Modified,
    /// The output is not in the workspace.
    #[serde(rename = "deleted")]
    Deleted,
    /// The workspace matches but the cache lacks objects (push impossible; pull needed).
    #[serde(rename = "not in cache")]
    NotInCache,
    /// The pointer has no hash yet.
    #[serde(rename = "new")]
    New,
}

impl Change {
    /// DVC's word for the change.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Modified => "modified",
            Change::Deleted => "deleted",
            Change::NotInCache => "not in cache",
            Change::New => "new",
        }
    }
}

/// One changed output.
#[derive(Debug, Clone, Serialize)]
pub struct OutStatus {
    /// The pointer file, relative to the root.
    pub pointer: String,
    /// The output's path relative to the root.
    pub path: String,
    /// What changed.
    pub change: Change,
}

/// What `checkout` did to one output.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckedOut {
    /// The output's path relative to the root.
    pub path: String,
    /// Files written from the cache.
    pub written: u64,
    /// Files removed (not in the recorded directory).
    pub removed: u64,
    /// Objects missing from the cache (the output is incomplete; pull first).
    pub missing: u64,
}

impl Repo {
    /// Find the repository containing `start` (a `.dvc` folder here or in a parent).
    pub fn open(start: &Path) -> Result<Self> {
        let start = absolute(start)?;
        let mut dir: &Path = &start;
        loop {
            if dir.join(".dvc").is_dir() {
                return Self::open_at(dir);
            }
            match dir.parent() {
                Some(p) => dir = p,
                None => return Err(Error::NotARepo(start)),
            }
        }
    }

    /// Open the repository, creating `.dvc/` first as `dvc init` would when there is none: at
    /// the git work tree's top level, or at `start` outside git (with `core.no_scm`).
    pub fn open_or_init(start: &Path) -> Result<(Self, bool)> {
        match Self::open(start) {
            Ok(r) => Ok((r, false)),
            Err(Error::NotARepo(_)) => {
                let start = absolute(start)?;
                let root = git_toplevel(&start).unwrap_or(start);
                Ok((Self::init(&root)?, true))
            }
            Err(e) => Err(e),
        }
    }

    /// Create `.dvc/` in `root` as `dvc init` does (and stage its files in git).
    pub fn init(root: &Path) -> Result<Self> {
        let dvc_dir = root.join(".dvc");
        if dvc_dir.exists() {
            return Err(Error::Target {
                path: dvc_dir,
                message: "already exists: this is a DVC repository".into(),
            });
        }
        let in_git = git_toplevel(root).is_some();
        std::fs::create_dir_all(dvc_dir.join("tmp")).ctx("create directory", &dvc_dir)?;
        let config = if in_git {
            ""
        } else {
            "[core]\n    no_scm = True\n"
        };
        fsutil::write_atomic(&dvc_dir.join("config"), config.as_bytes())?;
        fsutil::write_atomic(&dvc_dir.join(".gitignore"), DVC_GITIGNORE.as_bytes())?;
        let ignore = root.join(".dvcignore");
        if !ignore.exists() {
            fsutil::write_atomic(&ignore, DVCIGNORE_TEMPLATE.as_bytes())?;
        }
        if in_git {
            git(
                root,
                &["add", ".dvc/config", ".dvc/.gitignore", ".dvcignore"],
            )?;
        }
        Self::open_at(root)
    }

    fn open_at(root: &Path) -> Result<Self> {
        let dvc_dir = root.join(".dvc");
        let config = Config::load(&dvc_dir)?;
        let links = match config.get("cache", "type") {
            Some(t) => LinkType::parse_list(t).map_err(|message| Error::Config {
                path: config.path.clone(),
                line: 0,
                message: format!("cache.type: {message}"),
            })?,
            None => DEFAULT_LINK_TYPES.to_vec(),
        };
        let cache_root = match config.get("cache", "dir") {
            Some(d) => fsutil::normalize(&dvc_dir.join(d)),
            None => dvc_dir.join("cache"),
        };
        let no_scm = config
            .get("core", "no_scm")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let git = !no_scm && root.join(".git").exists();
        Ok(Self {
            root: root.to_path_buf(),
            cache: Cache::new(cache_root, links),
            dvc_dir,
            config,
            git,
        })
    }

    /// Open the stat cache in `.dvc/tmp`.
    pub fn stat_cache(&self) -> Result<StatCache> {
        StatCache::open(&self.dvc_dir)
    }

    /// Every `.dvc` pointer file in the workspace (skipping git-ignored and `.dvcignore`d
    /// folders, so tracked data directories are not walked), sorted.
    pub fn pointer_files(&self) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        let walker = ignore::WalkBuilder::new(&self.root)
            .hidden(false)
            .parents(false)
            .git_global(false)
            .require_git(false)
            .add_custom_ignore_filename(".dvcignore")
            .filter_entry(|e| !is_internal_dir(e.file_name()))
            .build();
        for entry in walker {
            let entry = entry.map_err(|e| Error::Target {
                path: self.root.clone(),
                message: format!("walking the workspace: {e}"),
            })?;
            let name = entry.file_name().to_string_lossy();
            if name.ends_with(pointer::SUFFIX)
                && name.len() > pointer::SUFFIX.len()
                && entry.file_type().is_some_and(|t| t.is_file())
            {
                out.push(entry.into_path());
            }
        }
        out.sort();
        Ok(out)
    }

    /// Every output of every pointer file (or of the given ones).
    pub fn tracked(&self, only: Option<&[PathBuf]>) -> Result<Vec<Tracked>> {
        let files = match only {
            Some(list) => list.to_vec(),
            None => self.pointer_files()?,
        };
        let mut out = Vec::new();
        for pf_path in files {
            let text = std::fs::read_to_string(&pf_path).ctx("read", &pf_path)?;
            let pf = PointerFile::parse(&text, &pf_path)?;
            let dir = pf_path.parent().unwrap_or(&self.root).to_path_buf();
            let pointer = fsutil::rel_posix(&pf_path, &self.root)
                .unwrap_or_else(|| pf_path.display().to_string());
            for o in pf.outs {
                let abs = fsutil::normalize(&dir.join(&o.path));
                let rel = fsutil::rel_posix(&abs, &self.root).ok_or_else(|| Error::Pointer {
                    path: pf_path.clone(),
                    message: format!("output {:?} is outside the repository", o.path),
                })?;
                out.push(Tracked {
                    pointer: pointer.clone(),
                    out: o,
                    abs,
                    rel,
                });
            }
        }
        Ok(out)
    }

    /// Resolve user-given targets (files or pointer files) to pointer files.
    pub fn resolve_pointer_targets(&self, targets: &[PathBuf]) -> Result<Vec<PathBuf>> {
        let cwd = std::env::current_dir().ctx("read", ".")?;
        let mut out = Vec::new();
        for t in targets {
            let abs = fsutil::normalize(&cwd.join(t));
            let pf = if abs.to_string_lossy().ends_with(pointer::SUFFIX) {
                abs.clone()
            } else {
                pointer::pointer_path_for(&abs)
            };
            if !pf.is_file() {
                return Err(Error::Target {
                    path: t.clone(),
                    message: format!("not tracked: no pointer file {}", pf.display()),
                });
            }
            out.push(pf);
        }
        Ok(out)
    }

    // ---- hashing -------------------------------------------------------------------------

    /// List the files at `abs` (one file, or a directory's files minus ignored ones).
    pub(crate) fn scan(&self, abs: &Path) -> Result<Option<(bool, Vec<FileInfo>)>> {
        let meta = match std::fs::metadata(abs) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).ctx("stat", abs),
        };
        let info = |p: &Path, meta: &std::fs::Metadata, relpath: String, exec: bool| {
            Ok(FileInfo {
                abs: p.to_path_buf(),
                key: fsutil::rel_posix(p, &self.root).ok_or_else(|| Error::Target {
                    path: p.to_path_buf(),
                    message: "file name is not valid UTF-8, or the path is outside the repository"
                        .into(),
                })?,
                relpath,
                stat: Stat::of(meta),
                exec,
                md5: None,
                stored: false,
            })
        };
        if meta.is_file() {
            use std::os::unix::fs::PermissionsExt;
            let exec = meta.permissions().mode() & 0o111 != 0;
            return Ok(Some((false, vec![info(abs, &meta, String::new(), exec)?])));
        }
        if !meta.is_dir() {
            return Err(Error::Target {
                path: abs.to_path_buf(),
                message: "neither a file nor a directory".into(),
            });
        }
        // Walk first (names and types come from the directory listings), then `stat` the
        // files on all cores.
        let mut found = Vec::new();
        let walker = ignore::WalkBuilder::new(abs)
            .standard_filters(false)
            .hidden(false)
            .parents(true)
            .follow_links(true)
            .add_custom_ignore_filename(".dvcignore")
            .filter_entry(|e| !is_internal_dir(e.file_name()))
            .build();
        for entry in walker {
            let entry = entry.map_err(|e| Error::Target {
                path: abs.to_path_buf(),
                message: format!("walking the directory: {e}"),
            })?;
            if entry.file_type().is_some_and(|t| t.is_file()) {
                found.push(entry.into_path());
            }
        }
        let files = found
            .into_par_iter()
            .map(|p| {
                let meta = std::fs::metadata(&p).ctx("stat", &p)?;
                let relpath = fsutil::rel_posix(&p, abs).ok_or_else(|| Error::Target {
                    path: p.clone(),
                    message: "file name is not valid UTF-8".into(),
                })?;
                // Directory manifests record no executable bit (DVC's do not either).
                info(&p, &meta, relpath, false)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some((true, files)))
    }

    /// Fill in every file's md5: from the stat cache when the stat signature matches, else by
    /// reading the file (in parallel on all cores).
    pub(crate) fn hash_files(
        &self,
        files: &mut [&mut FileInfo],
        state: &mut StatCache,
        progress: &dyn Progress,
    ) -> Result<()> {
        self.hash_files_with(files, state, progress, false)
    }

    /// [`Self::hash_files`], optionally storing large files in the cache in the same pass
    /// (`add`: one read instead of a hash pass and a copy pass).
    fn hash_files_with(
        &self,
        files: &mut [&mut FileInfo],
        state: &mut StatCache,
        progress: &dyn Progress,
        ingest: bool,
    ) -> Result<()> {
        let mut todo: Vec<&mut FileInfo> = Vec::new();
        for f in files.iter_mut() {
            match state.get(&f.key, f.stat) {
                Some(m) => f.md5 = Some(m.clone()),
                None => todo.push(&mut **f),
            }
        }
        if todo.is_empty() {
            return Ok(());
        }
        let total: u64 = todo.iter().map(|f| f.stat.size).sum();
        progress.start("hashing", total);
        // Large files first so one big file does not start last on an idle pool.
        todo.sort_by_key(|f| std::cmp::Reverse(f.stat.size));
        // Unless the cache hardlinks, `add` copies every file into the cache: read each once,
        // hashing and writing it in the same pass.
        let copies = ingest && self.cache.links().first() != Some(&LinkType::Hardlink);
        todo.par_iter_mut().try_for_each(|f| -> Result<()> {
            let (md5, _) = if copies {
                f.stored = true;
                self.cache.ingest(&f.abs)?
            } else {
                hash::md5_file(&f.abs)?
            };
            f.md5 = Some(md5);
            progress.inc(f.stat.size);
            Ok(())
        })?;
        progress.finish();
        for f in todo {
            if let Some(m) = &f.md5 {
                state.put(f.key.clone(), f.stat, m.clone());
            }
        }
        Ok(())
    }

    /// Hash what is at `abs` now.
    pub fn hash_path(
        &self,
        abs: &Path,
        state: &mut StatCache,
        progress: &dyn Progress,
    ) -> Result<Hashed> {
        let Some((is_dir, mut files)) = self.scan(abs)? else {
            return Ok(Hashed::Missing);
        };
        let mut refs: Vec<&mut FileInfo> = files.iter_mut().collect();
        self.hash_files(&mut refs, state, progress)?;
        Ok(build_hashed(is_dir, &files))
    }

    // ---- add -----------------------------------------------------------------------------

    /// Track `targets`: hash them (all files of all targets in parallel), store them in the
    /// cache, write their pointer files and `.gitignore` entries, and link the workspace per
    /// `cache.type`.
    pub fn add(&self, targets: &[PathBuf], progress: &dyn Progress) -> Result<Vec<Added>> {
        let cwd = std::env::current_dir().ctx("read", ".")?;
        let mut scanned: Vec<(PathBuf, bool, Vec<FileInfo>)> = Vec::new();
        for t in targets {
            let abs = fsutil::normalize(&cwd.join(t));
            self.check_add_target(t, &abs)?;
            match self.scan(&abs)? {
                Some((is_dir, files)) => scanned.push((abs, is_dir, files)),
                None => {
                    return Err(Error::Target {
                        path: t.clone(),
                        message: "does not exist".into(),
                    });
                }
            }
        }
        let mut state = self.stat_cache()?;
        {
            let mut refs: Vec<&mut FileInfo> = scanned
                .iter_mut()
                .flat_map(|(_, _, f)| f.iter_mut())
                .collect();
            self.hash_files_with(&mut refs, &mut state, progress, true)?;
        }
        // Store every file object not stored while hashing (in parallel), then manifests.
        let all: Vec<&FileInfo> = scanned
            .iter()
            .flat_map(|(_, _, f)| f.iter())
            .filter(|f| !f.stored)
            .collect();
        let total: u64 = all.iter().map(|f| f.stat.size).sum();
        progress.start("caching", total);
        all.par_iter().try_for_each(|f| -> Result<()> {
            if let Some(md5) = &f.md5 {
                self.cache.store_file(&f.abs, md5)?;
            }
            progress.inc(f.stat.size);
            Ok(())
        })?;
        progress.finish();

        let mut results = Vec::new();
        let mut ignores = Vec::new();
        for (abs, is_dir, files) in &scanned {
            let hashed = build_hashed(*is_dir, files);
            let (oid, size, nfiles, exec) = match &hashed {
                Hashed::File { md5, size, exec } => (md5.clone(), *size, None, *exec),
                Hashed::Dir { manifest, size } => {
                    let oid = manifest.oid();
                    self.cache.store_bytes(&oid, &manifest.to_json())?;
                    (oid, *size, Some(manifest.len() as u64), false)
                }
                Hashed::Missing => continue,
            };
            let pf_path = pointer::pointer_path_for(abs);
            let name = abs
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| Error::Target {
                    path: abs.clone(),
                    message: "file name is not valid UTF-8".into(),
                })?
                .to_string();
            // Keep user-set fields (desc, remote, push, ...) of an existing pointer.
            let previous = std::fs::read_to_string(&pf_path)
                .ok()
                .and_then(|t| PointerFile::parse(&t, &pf_path).ok())
                .and_then(|p| p.outs.into_iter().find(|o| o.path == name));
            let out = Out {
                md5: Some(oid.clone()),
                size: Some(size),
                nfiles,
                isexec: exec,
                hash: Some("md5".into()),
                path: name,
                ..previous
                    .clone()
                    .map(|p| Out {
                        md5: None,
                        size: None,
                        nfiles: None,
                        isexec: false,
                        hash: None,
                        ..p
                    })
                    .unwrap_or_default()
            };
            let text = PointerFile { outs: vec![out] }.to_yaml();
            let unchanged = std::fs::read_to_string(&pf_path).is_ok_and(|t| t == text);
            if !unchanged {
                fsutil::write_atomic(&pf_path, text.as_bytes())?;
            }
            self.relink_after_add(files, &mut state)?;
            ignores.push(abs.clone());
            results.push(Added {
                path: fsutil::rel_posix(abs, &self.root).unwrap_or_default(),
                pointer: fsutil::rel_posix(&pf_path, &self.root).unwrap_or_default(),
                md5: oid,
                size,
                nfiles,
                unchanged,
            });
        }
        if self.git {
            crate::gitignore::ignore_paths(&self.root, &ignores)?;
        }
        state.flush()?;
        Ok(results)
    }

    fn check_add_target(&self, given: &Path, abs: &Path) -> Result<()> {
        let bad = |message: &str| {
            Err(Error::Target {
                path: given.to_path_buf(),
                message: message.to_string(),
            })
        };
        if !abs.starts_with(&self.root) || abs == self.root {
            return bad(
                "is not inside the repository (or is its root); add files or folders below it",
            );
        }
        if abs.starts_with(&self.dvc_dir) || abs.components().any(|c| c.as_os_str() == ".git") {
            return bad("is inside .dvc or .git");
        }
        if abs.to_string_lossy().ends_with(pointer::SUFFIX) {
            return bad("is a pointer file; give the data path instead");
        }
        Ok(())
    }

    /// With hardlink or symlink links, replace workspace files by links into the cache (a copy
    /// or reflink needs nothing: the workspace file already has the content).
    fn relink_after_add(&self, files: &[FileInfo], state: &mut StatCache) -> Result<()> {
        let Some(first) = self.cache.links().first() else {
            return Ok(());
        };
        if matches!(first, LinkType::Copy | LinkType::Reflink) {
            return Ok(());
        }
        for f in files {
            let Some(md5) = &f.md5 else { continue };
            if *first == LinkType::Hardlink
                && let Ok(m) = std::fs::metadata(self.cache.object_path(md5))
                && Stat::of(&m).inode == f.stat.inode
            {
                continue;
            }
            self.cache.link_out(md5, &f.abs, f.exec)?;
            if let Ok(m) = std::fs::metadata(&f.abs) {
                state.put(f.key.clone(), Stat::of(&m), md5.clone());
            }
        }
        Ok(())
    }

    // ---- status --------------------------------------------------------------------------

    /// Which outputs differ from their pointer files, or lack objects in the cache.
    pub fn status(
        &self,
        only: Option<&[PathBuf]>,
        progress: &dyn Progress,
    ) -> Result<Vec<OutStatus>> {
        let tracked = self.tracked(only)?;
        let mut state = self.stat_cache()?;
        // Scan every output first, then hash whatever the stat cache does not know in one
        // parallel pass (a big file and a big directory hash at the same time).
        let mut scanned: Vec<Option<(bool, Vec<FileInfo>)>> = Vec::with_capacity(tracked.len());
        for t in &tracked {
            scanned.push(match t.out.md5 {
                Some(_) => self.scan(&t.abs)?,
                None => None,
            });
        }
        {
            let mut refs: Vec<&mut FileInfo> = scanned
                .iter_mut()
                .flatten()
                .flat_map(|(_, files)| files.iter_mut())
                .collect();
            self.hash_files(&mut refs, &mut state, progress)?;
        }
        let mut out = Vec::new();
        for (t, scan) in tracked.iter().zip(&scanned) {
            if !t.out.uses_cache() && t.out.md5.is_none() {
                continue;
            }
            let change = match &t.out.md5 {
                None => Some(Change::New),
                Some(recorded) => {
                    let now = match scan {
                        Some((is_dir, files)) => build_hashed(*is_dir, files),
                        None => Hashed::Missing,
                    };
                    match now.oid() {
                        None => Some(Change::Deleted),
                        Some(oid) if &oid != recorded => Some(Change::Modified),
                        Some(_) if t.out.uses_cache() && !self.all_in_cache(recorded)? => {
                            Some(Change::NotInCache)
                        }
                        Some(_) => None,
                    }
                }
            };
            if let Some(change) = change {
                out.push(OutStatus {
                    pointer: t.pointer.clone(),
                    path: t.rel.clone(),
                    change,
                });
            }
        }
        state.flush()?;
        Ok(out)
    }

    /// Object `oid` and, for a directory, every file it lists are in the cache.
    pub fn all_in_cache(&self, oid: &Oid) -> Result<bool> {
        if !self.cache.contains(oid) {
            return Ok(false);
        }
        if oid.is_dir() {
            let m = self.cache.manifest(oid)?;
            let oids: Vec<&Oid> = m.entries().iter().map(|e| &e.md5).collect();
            return Ok(self.cache.contains_all(&oids));
        }
        Ok(true)
    }

    // ---- checkout ------------------------------------------------------------------------

    /// Make the workspace match the pointer files. Files whose current content is not in the
    /// cache are not overwritten unless `force`.
    pub fn checkout(
        &self,
        only: Option<&[PathBuf]>,
        force: bool,
        progress: &dyn Progress,
    ) -> Result<Vec<CheckedOut>> {
        let tracked = self.tracked(only)?;
        let mut state = self.stat_cache()?;
        let mut results = Vec::new();
        let mut ignores = Vec::new();
        for t in &tracked {
            let Some(oid) = &t.out.md5 else { continue };
            if !t.out.uses_cache() {
                continue;
            }
            let r = if t.out.is_dir() {
                self.checkout_dir(t, oid, force, &mut state, progress)?
            } else {
                self.checkout_file(t, oid, force, &mut state, progress)?
            };
            ignores.push(t.abs.clone());
            results.push(r);
        }
        if self.git {
            crate::gitignore::ignore_paths(&self.root, &ignores)?;
        }
        state.flush()?;
        Ok(results)
    }

    fn checkout_file(
        &self,
        t: &Tracked,
        oid: &Oid,
        force: bool,
        state: &mut StatCache,
        progress: &dyn Progress,
    ) -> Result<CheckedOut> {
        let mut r = CheckedOut {
            path: t.rel.clone(),
            ..CheckedOut::default()
        };
        if t.abs.is_dir() {
            self.guard_dir_removal(&t.abs, force, state, progress)?;
            std::fs::remove_dir_all(&t.abs).ctx("remove", &t.abs)?;
        }
        match self.hash_path(&t.abs, state, progress)? {
            Hashed::File { md5, .. } if md5 == *oid => return Ok(r),
            Hashed::File { md5, .. } if !force && !self.cache.contains(&md5) => {
                return Err(Error::WouldLoseChanges {
                    path: t.abs.clone(),
                });
            }
            _ => {}
        }
        match self.cache.link_out_stat(oid, &t.abs, t.out.isexec) {
            Ok((_, stat)) => {
                state.put(t.rel.clone(), stat, oid.clone());
                r.written = 1;
            }
            Err(Error::Missing { .. }) => r.missing = 1,
            Err(e) => return Err(e),
        }
        Ok(r)
    }

    fn guard_dir_removal(
        &self,
        abs: &Path,
        force: bool,
        state: &mut StatCache,
        progress: &dyn Progress,
    ) -> Result<()> {
        if force {
            return Ok(());
        }
        if let Some((_, mut files)) = self.scan(abs)? {
            let mut refs: Vec<&mut FileInfo> = files.iter_mut().collect();
            self.hash_files(&mut refs, state, progress)?;
            if let Some(f) = files
                .iter()
                .find(|f| f.md5.as_ref().is_none_or(|m| !self.cache.contains(m)))
            {
                return Err(Error::WouldLoseChanges {
                    path: f.abs.clone(),
                });
            }
        }
        Ok(())
    }

    fn checkout_dir(
        &self,
        t: &Tracked,
        oid: &Oid,
        force: bool,
        state: &mut StatCache,
        progress: &dyn Progress,
    ) -> Result<CheckedOut> {
        let mut r = CheckedOut {
            path: t.rel.clone(),
            ..CheckedOut::default()
        };
        if !self.cache.contains(oid) {
            r.missing = 1;
            return Ok(r);
        }
        let manifest = self.cache.manifest(oid)?;
        if t.abs.is_file() {
            let (md5, _) = hash::md5_file(&t.abs)?;
            if !force && !self.cache.contains(&md5) {
                return Err(Error::WouldLoseChanges {
                    path: t.abs.clone(),
                });
            }
            std::fs::remove_file(&t.abs).ctx("remove", &t.abs)?;
        }
        let mut present = match self.scan(&t.abs)? {
            Some((_, files)) => files,
            None => Vec::new(),
        };
        {
            let mut refs: Vec<&mut FileInfo> = present.iter_mut().collect();
            self.hash_files(&mut refs, state, progress)?;
        }
        let wanted: std::collections::HashMap<&str, &str> = manifest
            .entries()
            .iter()
            .map(|e| (e.relpath.as_str(), e.md5.as_str()))
            .collect();
        // Files that are not in the recorded directory, or differ: refuse before touching
        // anything if their content would be lost.
        if !force {
            for f in &present {
                let keep = wanted
                    .get(f.relpath.as_str())
                    .is_some_and(|m| f.md5.as_deref() == Some(*m));
                if !keep && f.md5.as_ref().is_none_or(|m| !self.cache.contains(m)) {
                    return Err(Error::WouldLoseChanges {
                        path: f.abs.clone(),
                    });
                }
            }
        }
        let have: std::collections::HashMap<&str, Option<&str>> = present
            .iter()
            .map(|f| (f.relpath.as_str(), f.md5.as_deref()))
            .collect();
        for f in &present {
            if !wanted.contains_key(f.relpath.as_str()) {
                fsutil::remove_file_if_exists(&f.abs)?;
                r.removed += 1;
            }
        }
        let todo: Vec<&Entry> = manifest
            .entries()
            .iter()
            .filter(|e| have.get(e.relpath.as_str()).copied().flatten() != Some(e.md5.as_str()))
            .collect();
        progress.start("checkout", todo.len() as u64);
        let outcomes: Vec<Result<Option<(&Entry, Stat)>>> = todo
            .par_iter()
            .map(|e| {
                let res = match self
                    .cache
                    .link_out_stat(&e.md5, &t.abs.join(&e.relpath), false)
                {
                    Ok((_, stat)) => Ok(Some((*e, stat))),
                    Err(Error::Missing { .. }) => Ok(None),
                    Err(err) => Err(err),
                };
                progress.inc(1);
                res
            })
            .collect();
        progress.finish();
        for o in outcomes {
            match o? {
                Some((e, stat)) => {
                    state.put(format!("{}/{}", t.rel, e.relpath), stat, e.md5.clone());
                    r.written += 1;
                }
                None => r.missing += 1,
            }
        }
        if r.removed > 0 {
            remove_empty_dirs(&t.abs);
        }
        std::fs::create_dir_all(&t.abs).ctx("create directory", &t.abs)?;
        Ok(r)
    }

    // ---- objects -------------------------------------------------------------------------

    /// Object ids the given outputs need, manifests included, for directories whose manifest
    /// is in the cache (`need_manifests` lists the directory ids whose manifest is not).
    pub fn objects_for(&self, tracked: &[Tracked]) -> Result<UsedObjects> {
        let mut used = UsedObjects::default();
        for t in tracked {
            if !t.out.uses_cache() {
                continue;
            }
            let Some(oid) = &t.out.md5 else { continue };
            self.add_used(oid, &mut used)?;
        }
        used.files.sort();
        used.files.dedup();
        used.dirs.sort();
        used.dirs.dedup();
        Ok(used)
    }

    pub(crate) fn add_used(&self, oid: &Oid, used: &mut UsedObjects) -> Result<()> {
        if oid.is_dir() {
            used.dirs.push(oid.clone());
            if self.cache.contains(oid) {
                let m = self.cache.manifest(oid)?;
                used.files.extend(m.entries().iter().map(|e| e.md5.clone()));
            } else {
                used.unknown_dirs.push(oid.clone());
            }
        } else {
            used.files.push(oid.clone());
        }
        Ok(())
    }
}

/// Objects needed by a set of outputs.
#[derive(Debug, Default, Clone)]
pub struct UsedObjects {
    /// File objects.
    pub files: Vec<Oid>,
    /// Directory manifests.
    pub dirs: Vec<Oid>,
    /// Directory manifests not in the local cache (their files are not listed yet).
    pub unknown_dirs: Vec<Oid>,
}

/// What the scanned `files` hash to; every file has been hashed before (one without a hash
/// counts as absent).
fn build_hashed(is_dir: bool, files: &[FileInfo]) -> Hashed {
    if !is_dir {
        return match files.first() {
            Some(FileInfo {
                md5: Some(md5),
                stat,
                exec,
                ..
            }) => Hashed::File {
                md5: md5.clone(),
                size: stat.size,
                exec: *exec,
            },
            _ => Hashed::Missing,
        };
    }
    let size = files.iter().map(|f| f.stat.size).sum();
    let manifest = Manifest::new(
        files
            .iter()
            .filter_map(|f| {
                Some(Entry {
                    relpath: f.relpath.clone(),
                    md5: f.md5.clone()?,
                })
            })
            .collect(),
    );
    Hashed::Dir { manifest, size }
}

fn is_internal_dir(name: &std::ffi::OsStr) -> bool {
    name == ".git" || name == ".dvc" || name == ".hg"
}

fn remove_empty_dirs(dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_empty_dirs(&e.path());
                let _ = std::fs::remove_dir(e.path());
            }
        }
    }
}

fn absolute(p: &Path) -> Result<PathBuf> {
    let cwd = std::env::current_dir().ctx("read", ".")?;
    Ok(fsutil::normalize(&cwd.join(p)))
}

/// The git work tree's top level containing `dir`, if any.
pub(crate) fn git_toplevel(dir: &Path) -> Option<PathBuf> {
    let out = Command::new("git")
        .args(["rev-parse", "--show-toplevel"])
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?;
    Some(PathBuf::from(s.trim_end_matches('\n')))
}

/// Run git in `dir`, returning stdout.
pub(crate) fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| Error::Git {
            args: args.join(" "),
            message: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(Error::Git {
            args: args.join(" "),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
