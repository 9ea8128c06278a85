//! `sextant data ...`: data versioning on DVC's formats (the work is in `sextant-data`).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use sextant_data::remote::{self, Remote, TransferReport};
use sextant_data::repo::Repo;
use sextant_data::{Progress, gc};

use crate::cli::{DataArgs, DataCommand, DataRemoteCommand};
use crate::printer::outln;

/// Run one `sextant data` command.
pub fn run(args: DataArgs, quiet: bool) -> Result<ExitCode> {
    let bars = Bars::new(!quiet && !args.json);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    if let Some(j) = args.jobs {
        // Hashing threads; transfers use `jobs` directly.
        sextant_data::set_hashing_threads(j);
    }
    let jobs = args.jobs.unwrap_or(4 * cores).max(1);
    let cwd = std::env::current_dir().context("reading the current directory")?;
    match args.command {
        DataCommand::Init => {
            let root = git_root(&cwd).unwrap_or(cwd);
            let repo = Repo::init(&root)?;
            say(args.json, &serde_json::json!({"root": repo.root}), || {
                format!("Initialized a DVC repository in {}", repo.root.display())
            });
            Ok(ExitCode::SUCCESS)
        }
        DataCommand::Add { paths } => {
            let (repo, created) = Repo::open_or_init(&cwd)?;
            if created && !args.json {
                eprintln!(
                    "Initialized a DVC repository in {} (as `dvc init` would)",
                    repo.root.display()
                );
            }
            let added = repo.add(&paths, &bars)?;
            if args.json {
                outln!("{}", serde_json::to_string_pretty(&added)?);
            } else {
                let mut to_stage = Vec::new();
                for a in &added {
                    let what = match a.nfiles {
                        Some(n) => format!("{n} files, {}", human_bytes(a.size)),
                        None => human_bytes(a.size),
                    };
                    let note = if a.unchanged { " (unchanged)" } else { "" };
                    outln!("added {} ({what}) -> {}{note}", a.path, a.pointer);
                    to_stage.push(shell_quote(&a.pointer));
                }
                if repo.git && !to_stage.is_empty() {
                    let mut ignores: Vec<String> = added
                        .iter()
                        .map(|a| match a.path.rsplit_once('/') {
                            Some((dir, _)) => format!("{dir}/.gitignore"),
                            None => ".gitignore".into(),
                        })
                        .collect();
                    ignores.sort();
                    ignores.dedup();
                    to_stage.extend(ignores.iter().map(|p| shell_quote(p)));
                    eprintln!(
                        "\nhint: to track the changes with git, run:\n\n\tgit add {}\n",
                        to_stage.join(" ")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DataCommand::Status {
            targets,
            cloud,
            remote,
        } => {
            let repo = Repo::open(&cwd)?;
            let only = pointer_targets(&repo, &targets)?;
            if cloud || remote.is_some() {
                let rem = Remote::open(&repo, remote.as_deref()).map_err(with_remote_hint)?;
                let tracked = repo.tracked(only.as_deref())?;
                let st = remote::status(&repo, &rem, &tracked, jobs)?;
                if args.json {
                    let m: BTreeMap<&str, &str> =
                        st.iter().map(|s| (s.path.as_str(), s.status)).collect();
                    outln!("{}", serde_json::to_string_pretty(&m)?);
                } else if st.is_empty() {
                    outln!("Cache and remote '{}' are in sync.", rem.name);
                } else {
                    for s in &st {
                        outln!("\t{:<20}{}", format!("{}:", s.status), s.path);
                    }
                }
                return Ok(ExitCode::SUCCESS);
            }
            let st = repo.status(only.as_deref(), &bars)?;
            // Stale pipeline stages too (as `dvc status`), unless targets narrow it to data.
            let stages = if targets.is_empty() {
                super::pipeline::stale_stages(&cwd)?
            } else {
                Vec::new()
            };
            if args.json {
                // DVC's `status --json` shape: {"x.dvc": [{"changed outs": {"x": "modified"}}]}
                let mut m: BTreeMap<String, BTreeMap<String, &str>> = BTreeMap::new();
                for s in &st {
                    m.entry(s.pointer.clone())
                        .or_default()
                        .insert(s.path.clone(), s.change.as_str());
                }
                let mut v: BTreeMap<String, serde_json::Value> = m
                    .into_iter()
                    .map(|(k, outs)| (k, serde_json::json!([{ "changed outs": outs }])))
                    .collect();
                for s in &stages {
                    v.insert(s.stage.clone(), s.to_dvc_json());
                }
                outln!("{}", serde_json::to_string_pretty(&v)?);
            } else if st.is_empty() && stages.is_empty() {
                outln!("Data and pipelines are up to date.");
            } else {
                super::pipeline::print_stage_status(&stages);
                let mut last = "";
                for s in &st {
                    if s.pointer != last {
                        outln!("{}:\n\tchanged outs:", s.pointer);
                        last = &s.pointer;
                    }
                    outln!("\t\t{:<20}{}", format!("{}:", s.change.as_str()), s.path);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DataCommand::Checkout { targets, force } => {
            let repo = Repo::open(&cwd)?;
            let only = pointer_targets(&repo, &targets)?;
            let results = repo
                .checkout(only.as_deref(), force, &bars)
                .map_err(with_force_hint)?;
            let missing: u64 = results.iter().map(|r| r.missing).sum();
            // The outputs dvc.lock records too (not listed in --json, which keeps its shape).
            let pipeline = if targets.is_empty() {
                super::pipeline::checkout_lock_outputs(&cwd, force)?
            } else {
                None
            };
            if args.json {
                outln!("{}", serde_json::to_string_pretty(&results)?);
            } else {
                print_checkout(&results);
                if let Some(p) = &pipeline {
                    super::pipeline::print_lock_checkout(p);
                }
            }
            if missing > 0 {
                eprintln!(
                    "error: {missing} object(s) are not in the cache\nhint: run `sextant data pull` (or `fetch`) to download them"
                );
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
        DataCommand::Push { targets, remote } => {
            let repo = Repo::open(&cwd)?;
            let only = pointer_targets(&repo, &targets)?;
            let rem = Remote::open(&repo, remote.as_deref()).map_err(with_remote_hint)?;
            let mut tracked = repo.tracked(only.as_deref())?;
            if targets.is_empty() {
                // Pipeline outputs recorded in dvc.lock too, as `dvc push` does.
                tracked.extend(super::pipeline::lock_outputs(&cwd, true)?);
            }
            let tracked: Vec<_> = tracked.into_iter().filter(|t| t.out.can_push()).collect();
            let report = remote::push(&repo, &rem, &tracked, jobs, &bars)?;
            Ok(finish_transfer(&report, "pushed", args.json, true))
        }
        DataCommand::Fetch { targets, remote } => {
            let repo = Repo::open(&cwd)?;
            let only = pointer_targets(&repo, &targets)?;
            let rem = Remote::open(&repo, remote.as_deref()).map_err(with_remote_hint)?;
            let mut tracked = repo.tracked(only.as_deref())?;
            if targets.is_empty() {
                tracked.extend(super::pipeline::lock_outputs(&cwd, false)?);
            }
            let report = remote::fetch(&repo, &rem, &tracked, jobs, &bars)?;
            Ok(finish_transfer(&report, "fetched", args.json, true))
        }
        DataCommand::Pull {
            targets,
            remote,
            force,
        } => {
            let repo = Repo::open(&cwd)?;
            let only = pointer_targets(&repo, &targets)?;
            let rem = Remote::open(&repo, remote.as_deref()).map_err(with_remote_hint)?;
            let mut tracked = repo.tracked(only.as_deref())?;
            if targets.is_empty() {
                tracked.extend(super::pipeline::lock_outputs(&cwd, false)?);
            }
            let report = remote::fetch(&repo, &rem, &tracked, jobs, &bars)?;
            let results = repo
                .checkout(only.as_deref(), force, &bars)
                .map_err(with_force_hint)?;
            let pipeline = if targets.is_empty() {
                super::pipeline::checkout_lock_outputs(&cwd, force)?
            } else {
                None
            };
            if args.json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"fetch": report, "checkout": results, "pipeline": pipeline})
                    )?
                );
            } else {
                print_checkout(&results);
                if let Some(p) = &pipeline {
                    super::pipeline::print_lock_checkout(p);
                }
            }
            Ok(finish_transfer(&report, "fetched", args.json, false))
        }
        DataCommand::Remote { command } => remote_cmd(&cwd, command, args.json),
        DataCommand::Gc {
            force,
            all_branches,
            all_tags,
            all_commits,
        } => {
            let repo = Repo::open(&cwd)?;
            let scope = gc::Scope {
                all_branches,
                all_tags,
                all_commits,
            };
            let report = gc::gc(&repo, scope, force)?;
            if args.json {
                outln!("{}", serde_json::to_string_pretty(&report)?);
            } else if report.unused.is_empty() {
                outln!(
                    "Nothing to remove: all {} cache object(s) are in use.",
                    report.kept
                );
            } else {
                let verb = if force { "Removed" } else { "Would remove" };
                for oid in &report.unused {
                    outln!("{oid}");
                }
                outln!(
                    "{verb} {} unused object(s) ({}); kept {}.",
                    report.unused.len(),
                    human_bytes(report.unused_bytes),
                    report.kept
                );
                if !force {
                    eprintln!(
                        "hint: this was a dry run; run `sextant data gc --force` to delete them"
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn remote_cmd(cwd: &Path, command: DataRemoteCommand, json: bool) -> Result<ExitCode> {
    let mut repo = Repo::open(cwd)?;
    match command {
        DataRemoteCommand::Add {
            name,
            url,
            default,
            force,
        } => {
            let section = format!("remote \"{name}\"");
            if repo.config.repo.section(&section).is_some() && !force {
                bail!(
                    "remote {name:?} already exists\nhint: use --force to replace it, or `remote modify {name} url URL`"
                );
            }
            let stored = store_url(&repo, cwd, &url)?;
            if let Some(sec) = repo
                .config
                .repo
                .sections
                .iter_mut()
                .find(|s| s.name == section)
            {
                sec.entries.clear();
            }
            repo.config.repo.set(&section, "url", &stored);
            if default {
                repo.config.repo.set("core", "remote", &name);
            }
            repo.config.save_repo()?;
            if !json && default {
                outln!("Setting '{name}' as a default remote.");
            }
            Ok(ExitCode::SUCCESS)
        }
        DataRemoteCommand::Modify {
            name,
            option,
            value,
        } => {
            let section = format!("remote \"{name}\"");
            if repo.config.remote(&name).is_none() {
                bail!(
                    "remote {name:?} is not configured\nhint: `sextant data remote list` shows the remotes"
                );
            }
            let value = if option == "url" {
                store_url(&repo, cwd, &value)?
            } else {
                value
            };
            repo.config.repo.set(&section, &option, &value);
            repo.config.save_repo()?;
            Ok(ExitCode::SUCCESS)
        }
        DataRemoteCommand::Default { name } => {
            if repo.config.remote(&name).is_none() {
                bail!(
                    "remote {name:?} is not configured\nhint: `sextant data remote add {name} URL` first"
                );
            }
            repo.config.repo.set("core", "remote", &name);
            repo.config.save_repo()?;
            Ok(ExitCode::SUCCESS)
        }
        DataRemoteCommand::List => {
            let default = repo.config.get("core", "remote").map(str::to_string);
            let rows: Vec<(String, String, bool)> = repo
                .config
                .remote_names()
                .into_iter()
                .map(|n| {
                    let url = repo
                        .config
                        .remote(&n)
                        .and_then(|kv| kv.into_iter().find(|(k, _)| k == "url").map(|(_, v)| v))
                        .unwrap_or_default();
                    let is_default = default.as_deref() == Some(n.as_str());
                    (n, url, is_default)
                })
                .collect();
            if json {
                let v: Vec<_> = rows
                    .iter()
                    .map(|(n, u, d)| serde_json::json!({"name": n, "url": u, "default": d}))
                    .collect();
                outln!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for (n, u, d) in rows {
                    outln!("{n}\t{u}{}", if d { "\t(default)" } else { "" });
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A local remote path given relative to the current directory is stored relative to `.dvc/`,
/// as DVC stores it; URLs and absolute paths are kept.
fn store_url(repo: &Repo, cwd: &Path, url: &str) -> Result<String> {
    if url.contains("://") || Path::new(url).is_absolute() {
        return Ok(url.to_string());
    }
    let abs = normalize(&cwd.join(url));
    Ok(relative_to(&abs, &repo.dvc_dir)
        .to_string_lossy()
        .into_owned())
}

fn normalize(p: &Path) -> PathBuf {
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

fn relative_to(path: &Path, base: &Path) -> PathBuf {
    let p: Vec<_> = path.components().collect();
    let b: Vec<_> = base.components().collect();
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c.as_os_str());
    }
    out
}

fn pointer_targets(repo: &Repo, targets: &[PathBuf]) -> Result<Option<Vec<PathBuf>>> {
    if targets.is_empty() {
        return Ok(None);
    }
    Ok(Some(repo.resolve_pointer_targets(targets)?))
}

fn print_checkout(results: &[sextant_data::repo::CheckedOut]) {
    let written: u64 = results.iter().map(|r| r.written).sum();
    let removed: u64 = results.iter().map(|r| r.removed).sum();
    for r in results
        .iter()
        .filter(|r| r.written + r.removed + r.missing > 0)
    {
        let mut parts = Vec::new();
        if r.written > 0 {
            parts.push(format!("{} written", r.written));
        }
        if r.removed > 0 {
            parts.push(format!("{} removed", r.removed));
        }
        if r.missing > 0 {
            parts.push(format!("{} missing from the cache", r.missing));
        }
        outln!("{}: {}", r.path, parts.join(", "));
    }
    if written == 0 && removed == 0 {
        outln!("Workspace matches the .dvc files.");
    }
}

fn finish_transfer(report: &TransferReport, verb: &str, json: bool, print_json: bool) -> ExitCode {
    if json {
        if print_json && let Ok(s) = serde_json::to_string_pretty(report) {
            outln!("{s}");
        }
    } else {
        outln!(
            "{} object(s) {verb} ({}), {} already there",
            report.transferred,
            human_bytes(report.bytes),
            report.skipped
        );
    }
    for f in report.failed.iter().take(20) {
        eprintln!("error: {}: {}", f.oid, f.error);
    }
    if report.failed.len() > 20 {
        eprintln!("error: ... and {} more", report.failed.len() - 20);
    }
    if !report.missing.is_empty() {
        eprintln!(
            "error: {} object(s) are neither in the cache nor on remote '{}', e.g. {}",
            report.missing.len(),
            report.remote,
            report.missing[0]
        );
        eprintln!(
            "hint: someone may not have pushed them; `sextant data status --cloud` shows which outputs"
        );
    }
    if report.failed.is_empty() && report.missing.is_empty() {
        ExitCode::SUCCESS
    } else {
        if !report.failed.is_empty() {
            eprintln!(
                "hint: run the command again to retry; finished objects are not transferred again"
            );
        }
        ExitCode::from(1)
    }
}

fn with_remote_hint(e: sextant_data::Error) -> anyhow::Error {
    let hint = match &e {
        sextant_data::Error::NoDefaultRemote | sextant_data::Error::NoSuchRemote(_) => {
            "\nhint: `sextant data remote add NAME URL --default` configures one; `remote list` shows them"
        }
        _ => "",
    };
    anyhow::anyhow!("{e}{hint}")
}

fn with_force_hint(e: sextant_data::Error) -> anyhow::Error {
    let hint = match &e {
        sextant_data::Error::WouldLoseChanges { .. } => {
            "\nhint: `sextant data add` the path to keep the changes, or pass --force to discard them"
        }
        _ => "",
    };
    anyhow::anyhow!("{e}{hint}")
}

fn shell_quote(s: &str) -> String {
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn say(json: bool, v: &serde_json::Value, text: impl FnOnce() -> String) {
    if json {
        outln!("{v}");
    } else {
        outln!("{}", text());
    }
}

fn git_root(dir: &Path) -> Option<PathBuf> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--show-toplevel"])
        .current_dir(dir)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim_end_matches('\n')))
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// Progress bars on stderr (hidden when it is not a terminal, with --json or -q).
struct Bars {
    enabled: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl Bars {
    fn new(enabled: bool) -> Self {
        Self {
            enabled: enabled && std::io::stderr().is_terminal(),
            bar: Mutex::new(None),
        }
    }
}

impl Progress for Bars {
    fn start(&self, what: &str, total: u64) {
        if !self.enabled {
            return;
        }
        let bar = ProgressBar::new(total);
        let bytes = what == "hashing" || what == "caching";
        let template = if bytes {
            "{msg:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
        } else {
            "{msg:>10} [{bar:30}] {pos}/{len} {per_sec} eta {eta}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            let style = if std::env::var_os("NO_COLOR").is_some() {
                style
            } else {
                style.progress_chars("=> ")
            };
            bar.set_style(style);
        }
        bar.set_message(what.to_string());
        if let Ok(mut g) = self.bar.lock() {
            *g = Some(bar);
        }
    }
    fn inc(&self, n: u64) {
        if let Ok(g) = self.bar.lock()
            && let Some(b) = g.as_ref()
        {
            b.inc(n);
        }
    }
    fn finish(&self) {
        if let Ok(mut g) = self.bar.lock()
            && let Some(b) = g.take()
        {
            b.finish_and_clear();
        }
    }
}
