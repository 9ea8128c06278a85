//! The machine and software a command runs on: OS, CPU, memory, host and user, the Python
//! packages of the interpreter it uses, and hashes of the lock files in its work tree.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

/// Lock files whose hashes are recorded (a `requirements*.txt` is matched by prefix).
pub const LOCK_FILES: &[&str] = &[
    "poetry.lock",
    "uv.lock",
    "Cargo.lock",
    "environment.yml",
    "environment.yaml",
    "Pipfile.lock",
];

/// Folders never searched for lock files: tools' caches and build output.
const SKIP_DIRS: &[&str] = &[
    "node_modules",
    "target",
    "__pycache__",
    "venv",
    "site-packages",
    "dist",
    "build",
];

/// How deep below the work tree's top lock files are looked for, and how many folders at most.
const LOCK_DEPTH: usize = 4;
const LOCK_MAX_DIRS: usize = 2000;

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// The host's facts as `(name, value)`: `os`, `os_release`, `kernel`, `arch`, `cpu_model`,
/// `cpu_count`, `memory_total_mb`.
pub fn host_facts() -> Vec<(&'static str, String)> {
    let mut out = vec![("os", std::env::consts::OS.to_owned())];
    if let Some(pretty) = read("/etc/os-release").and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_owned())
    }) {
        out.push(("os_release", pretty));
    }
    if let Some(k) = read("/proc/sys/kernel/osrelease") {
        out.push(("kernel", k.trim().to_owned()));
    }
    out.push(("arch", std::env::consts::ARCH.to_owned()));
    if let Some(model) = read("/proc/cpuinfo").and_then(|t| {
        t.lines()
            .find(|l| l.starts_with("model name") || l.starts_with("Model"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
    }) {
        out.push(("cpu_model", model));
    }
    if let Ok(n) = std::thread::available_parallelism() {
        out.push(("cpu_count", n.to_string()));
    }
    if let Some(kb) = read("/proc/meminfo").and_then(|t| meminfo_kb(&t, "MemTotal:")) {
        out.push(("memory_total_mb", (kb / 1024).to_string()));
    }
    out
}

/// A `/proc/meminfo` field in kB.
pub fn meminfo_kb(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// This machine's name.
pub fn hostname() -> String {
    read("/proc/sys/kernel/hostname")
        .or_else(|| read("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// Who runs the command, as Python's `getpass.getuser()` finds it (what the mlflow client
/// records as `mlflow.user`): LOGNAME, USER, LNAME, USERNAME, then the password database.
pub fn user() -> String {
    for var in ["LOGNAME", "USER", "LNAME", "USERNAME"] {
        if let Ok(u) = std::env::var(var)
            && !u.is_empty()
        {
            return u;
        }
    }
    let uid = rustix::process::getuid().as_raw().to_string();
    read("/etc/passwd")
        .and_then(|t| {
            t.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2] == uid).then(|| f[0].to_owned())
            })
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Whether `name` is a lock file whose hash is recorded.
pub fn is_lock_file(name: &str) -> bool {
    LOCK_FILES.contains(&name) || (name.starts_with("requirements") && name.ends_with(".txt"))
}

/// The SHA-256 of a file's bytes, as `sha256:<hex>`.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(format!("sha256:{}", hex(&Sha256::digest(&bytes))))
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Lock files under `root` (at most 4 folders deep, skipping hidden folders, caches and build
/// output), as `(path relative to root, sha256:<hex>)`, sorted by path.
pub fn lock_hashes(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack: Vec<(PathBuf, usize)> = vec![(root.to_owned(), 0)];
    let mut seen = 0;
    while let Some((dir, depth)) = stack.pop() {
        seen += 1;
        if seen > LOCK_MAX_DIRS {
            tracing::debug!("stopped looking for lock files after {LOCK_MAX_DIRS} folders");
            break;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                if depth < LOCK_DEPTH
                    && !name.starts_with('.')
                    && !SKIP_DIRS.contains(&name.as_str())
                {
                    stack.push((entry.path(), depth + 1));
                }
            } else if ft.is_file() && is_lock_file(&name) {
                let path = entry.path();
                if let Ok(hash) = sha256_file(&path) {
                    let rel = path
                        .strip_prefix(root)
                        .unwrap_or(&path)
                        .to_string_lossy()
                        .into_owned();
                    out.push((rel, hash));
                }
            }
        }
    }
    out.sort();
    out
}

/// Whether a program name is a Python interpreter: `python`, `python3`, `python3.12`, a venv's
/// `bin/python`, ...
pub fn is_python(program: &str) -> bool {
    let base = Path::new(program)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(program);
    let Some(rest) = base.strip_prefix("python") else {
        return false;
    };
    rest.is_empty() || rest.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// The Python interpreter the command uses: `--python PATH` if given, else the program itself
/// when it is an interpreter, else none (`pip freeze` is not recorded).
pub fn python_of(command: &[String], flag: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = flag {
        return Some(p.to_owned());
    }
    let program = command.first()?;
    is_python(program).then(|| PathBuf::from(program))
}

/// What the interpreter has installed: its version and `pip freeze` (or, where pip is missing
/// as in uv's venvs, the same `name==version` list from `importlib.metadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonPackages {
    pub version: String,
    pub freeze: String,
}

const FALLBACK_FREEZE: &str = "import importlib.metadata as m\n\
names = sorted({(d.metadata['Name'] or '?') + '==' + d.version for d in m.distributions()}, key=str.lower)\n\
print('\\n'.join(names))";

/// Ask `python` (run in `cwd` with the command's environment) what it has installed.
pub fn python_packages(
    python: &Path,
    cwd: &Path,
    env: &[(String, String)],
) -> Option<PythonPackages> {
    let run = |args: &[&str]| -> Option<String> {
        let out = Command::new(python)
            .args(args)
            .current_dir(cwd)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let version = run(&["-c", "import sys; print(sys.version.split()[0])"])?
        .trim()
        .to_owned();
    let freeze =
        run(&["-m", "pip", "freeze", "--all"]).or_else(|| run(&["-c", FALLBACK_FREEZE]))?;
    Some(PythonPackages { version, freeze })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_interpreters_are_recognised() {
        for p in [
            "python",
            "python3",
            "python3.12",
            "/x/.venv/bin/python",
            "python3.11",
        ] {
            assert!(is_python(p), "{p}");
        }
        for p in ["pytest", "ipython", "python-config", "sh", "pythonw-x"] {
            assert!(!is_python(p), "{p}");
        }
        let cmd = vec!["python".to_owned(), "train.py".to_owned()];
        assert_eq!(python_of(&cmd, None), Some(PathBuf::from("python")));
        let cmd = vec!["make".to_owned()];
        assert_eq!(python_of(&cmd, None), None);
        assert_eq!(
            python_of(&cmd, Some(Path::new("/v/bin/python"))),
            Some(PathBuf::from("/v/bin/python"))
        );
    }

    #[test]
    fn lock_files_are_found_and_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("requirements-dev.txt"), "pytest\n").unwrap();
        std::fs::create_dir_all(d.join("svc")).unwrap();
        std::fs::write(d.join("svc/Cargo.lock"), "x").unwrap();
        std::fs::create_dir_all(d.join("node_modules/p")).unwrap();
        std::fs::write(d.join("node_modules/p/uv.lock"), "x").unwrap();
        std::fs::write(d.join("notes.txt"), "x").unwrap();
        let got = lock_hashes(d);
        let names: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(names, vec!["requirements-dev.txt", "svc/Cargo.lock"]);
        // sha256("x")
        assert_eq!(
            got[1].1,
            "sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
        );
    }

    #[test]
    fn host_facts_are_read() {
        let facts = host_facts();
        let names: Vec<&str> = facts.iter().map(|(k, _)| *k).collect();
        assert!(names.contains(&"os") && names.contains(&"arch") && names.contains(&"cpu_count"));
        assert_eq!(meminfo_kb("MemTotal:  2048 kB\n", "MemTotal:"), Some(2048));
    }
}
