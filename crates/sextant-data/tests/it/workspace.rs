//! add / status / checkout / push / fetch on temporary repositories.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use sextant_data::NoProgress;
use sextant_data::cache::object_key;
use sextant_data::remote::{self, Remote};
use sextant_data::repo::{Change, Repo};

fn repo_with_data() -> (tempfile::TempDir, Repo) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("data/sub")).unwrap();
    fs::write(root.join("data/a.csv"), b"x,y\n1,2\n").unwrap();
    fs::write(root.join("data/sub/b.bin"), vec![7u8; 100_000]).unwrap();
    fs::write(root.join("model.bin"), b"weights").unwrap();
    let repo = Repo::init(root).unwrap();
    (dir, repo)
}

fn add_all(repo: &Repo) {
    repo.add(
        &[repo.root.join("data"), repo.root.join("model.bin")],
        &NoProgress,
    )
    .unwrap();
}

#[test]
fn add_then_status_is_clean_and_edits_are_seen() {
    let (_d, repo) = repo_with_data();
    assert!(repo.root.join(".dvc/config").is_file() && repo.root.join(".dvcignore").is_file());
    add_all(&repo);
    let pointer = fs::read_to_string(repo.root.join("data.dvc")).unwrap();
    assert!(
        pointer.contains("nfiles: 2\n  hash: md5\n  path: data\n"),
        "{pointer}"
    );
    assert!(repo.status(None, &NoProgress).unwrap().is_empty());

    fs::write(repo.root.join("data/sub/b.bin"), b"changed").unwrap();
    fs::remove_file(repo.root.join("model.bin")).unwrap();
    let st = repo.status(None, &NoProgress).unwrap();
    let got: Vec<(&str, Change)> = st.iter().map(|s| (s.path.as_str(), s.change)).collect();
    assert_eq!(
        got,
        vec![("data", Change::Modified), ("model.bin", Change::Deleted)]
    );
}

#[test]
fn checkout_restores_and_refuses_to_lose_uncached_changes() {
    let (_d, repo) = repo_with_data();
    add_all(&repo);
    fs::remove_dir_all(repo.root.join("data")).unwrap();
    fs::write(repo.root.join("model.bin"), b"uncommitted work").unwrap();
    let err = repo.checkout(None, false, &NoProgress).unwrap_err();
    assert!(err.to_string().contains("model.bin"), "{err}");
    repo.checkout(None, true, &NoProgress).unwrap();
    assert_eq!(fs::read(repo.root.join("model.bin")).unwrap(), b"weights");
    assert_eq!(
        fs::read(repo.root.join("data/a.csv")).unwrap(),
        b"x,y\n1,2\n"
    );
    // An extra file in a tracked directory is removed when its content is cached.
    fs::copy(
        repo.root.join("data/a.csv"),
        repo.root.join("data/extra.csv"),
    )
    .unwrap();
    let r = repo.checkout(None, false, &NoProgress).unwrap();
    assert_eq!(r.iter().map(|c| c.removed).sum::<u64>(), 1);
    assert!(!repo.root.join("data/extra.csv").exists());
    assert!(repo.status(None, &NoProgress).unwrap().is_empty());
}

#[test]
fn stat_cache_avoids_rehashing_and_notices_same_size_edits() {
    let (_d, repo) = repo_with_data();
    add_all(&repo);
    assert!(repo.dvc_dir.join("tmp/sextant-state.db").is_file());
    // Same size, different bytes, new mtime: must be seen as modified.
    std::thread::sleep(std::time::Duration::from_millis(20));
    fs::write(repo.root.join("model.bin"), b"WEIGHTS").unwrap();
    let st = repo.status(None, &NoProgress).unwrap();
    assert_eq!(st.len(), 1);
    assert_eq!(st[0].change, Change::Modified);
}

fn with_local_remote(repo: &Repo, remote_dir: &Path) -> Repo {
    let mut cfg = sextant_data::config::ConfigFile::load(&repo.dvc_dir.join("config")).unwrap();
    cfg.set("remote \"r\"", "url", remote_dir.to_str().unwrap());
    cfg.set("core", "remote", "r");
    fs::write(repo.dvc_dir.join("config"), cfg.to_text()).unwrap();
    Repo::open(&repo.root).unwrap()
}

#[test]
fn push_resumes_and_fetch_refuses_a_corrupted_object() {
    let (_d, repo) = repo_with_data();
    add_all(&repo);
    let remote_dir = tempfile::tempdir().unwrap();
    let repo = with_local_remote(&repo, remote_dir.path());
    let rem = Remote::open(&repo, None).unwrap();
    let tracked = repo.tracked(None).unwrap();
    let first = remote::push(&repo, &rem, &tracked, 4, &NoProgress).unwrap();
    assert_eq!((first.transferred, first.skipped), (4, 0), "{first:?}"); // 3 files + 1 manifest
    // Lose one object on the remote (an interrupted push): only that one is sent again.
    let model_oid = tracked
        .iter()
        .find(|t| t.rel == "model.bin")
        .unwrap()
        .out
        .md5
        .clone()
        .unwrap();
    fs::remove_file(remote_dir.path().join(object_key(&model_oid))).unwrap();
    let again = remote::push(&repo, &rem, &tracked, 4, &NoProgress).unwrap();
    assert_eq!((again.transferred, again.skipped), (1, 3), "{again:?}");

    // Corrupt it on the remote, drop it locally, and fetch: refused, never cached.
    let obj = remote_dir.path().join(object_key(&model_oid));
    fs::set_permissions(&obj, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&obj, b"tampered").unwrap();
    repo.cache.remove(&model_oid).unwrap();
    let report = remote::fetch(&repo, &rem, &tracked, 4, &NoProgress).unwrap();
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(
        report.failed[0].error.contains("corrupted"),
        "{}",
        report.failed[0].error
    );
    assert!(!repo.cache.contains(&model_oid));
    let leftovers: Vec<_> = fs::read_dir(repo.cache.object_path(&model_oid).parent().unwrap())
        .unwrap()
        .collect();
    assert!(leftovers.is_empty(), "temporary download left behind");
}

#[test]
fn fetch_into_an_empty_cache_learns_directories_from_their_manifests() {
    let (_d, repo) = repo_with_data();
    add_all(&repo);
    let remote_dir = tempfile::tempdir().unwrap();
    let repo = with_local_remote(&repo, remote_dir.path());
    let rem = Remote::open(&repo, None).unwrap();
    let tracked = repo.tracked(None).unwrap();
    remote::push(&repo, &rem, &tracked, 4, &NoProgress).unwrap();
    fs::remove_dir_all(repo.cache.root()).unwrap();
    fs::remove_dir_all(repo.root.join("data")).unwrap();
    let report = remote::fetch(&repo, &rem, &tracked, 4, &NoProgress).unwrap();
    assert_eq!(report.transferred, 4, "{report:?}");
    assert!(report.failed.is_empty() && report.missing.is_empty());
    repo.checkout(None, false, &NoProgress).unwrap();
    assert_eq!(
        fs::read(repo.root.join("data/sub/b.bin")).unwrap(),
        vec![7u8; 100_000]
    );
}

#[test]
fn gc_lists_then_removes_only_unused_objects() {
    let (_d, repo) = repo_with_data();
    add_all(&repo);
    fs::write(repo.root.join("model.bin"), b"weights v2").unwrap();
    repo.add(&[repo.root.join("model.bin")], &NoProgress)
        .unwrap();
    let dry = sextant_data::gc::gc(&repo, Default::default(), false).unwrap();
    assert_eq!(dry.unused.len(), 1);
    assert!(repo.cache.contains(&dry.unused[0]));
    let done = sextant_data::gc::gc(&repo, Default::default(), true).unwrap();
    assert_eq!(done.unused, dry.unused);
    assert!(!repo.cache.contains(&dry.unused[0]));
    assert!(repo.status(None, &NoProgress).unwrap().is_empty());
}

#[test]
fn many_objects_push_read_only_resume_from_a_listing_and_pull_back() {
    // More than 64 objects: the remote is asked by listing its prefix folders, not per object.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for i in 0..150 {
        let p = root.join(format!("many/d{}/f{i}.txt", i % 7));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, format!("file {i}\n")).unwrap();
    }
    let repo = Repo::init(root).unwrap();
    repo.add(&[root.join("many")], &NoProgress).unwrap();
    let remote_dir = tempfile::tempdir().unwrap();
    let repo = with_local_remote(&repo, &remote_dir.path().join("not/yet/there"));
    let rem = Remote::open(&repo, None).unwrap();
    let tracked = repo.tracked(None).unwrap();
    let first = remote::push(&repo, &rem, &tracked, 8, &NoProgress).unwrap();
    assert_eq!((first.transferred, first.skipped), (151, 0), "{first:?}");
    // Remote objects are read-only, as DVC makes them.
    let manifest = tracked[0].out.md5.clone().unwrap();
    let on_remote = remote_dir
        .path()
        .join("not/yet/there")
        .join(object_key(&manifest));
    assert_eq!(
        fs::metadata(&on_remote).unwrap().permissions().mode() & 0o777,
        0o444
    );
    let again = remote::push(&repo, &rem, &tracked, 8, &NoProgress).unwrap();
    assert_eq!((again.transferred, again.skipped), (0, 151), "{again:?}");

    // A fresh cache and workspace: fetch every object back, check them out, all clean.
    fs::remove_dir_all(repo.cache.root()).unwrap();
    fs::remove_dir_all(root.join("many")).unwrap();
    let got = remote::fetch(&repo, &rem, &tracked, 8, &NoProgress).unwrap();
    assert_eq!(got.transferred, 151, "{got:?}");
    let out = repo.checkout(None, false, &NoProgress).unwrap();
    assert_eq!((out[0].written, out[0].missing), (150, 0), "{out:?}");
    assert_eq!(
        fs::read_to_string(root.join("many/d3/f10.txt")).unwrap(),
        "file 10\n"
    );
    assert!(repo.status(None, &NoProgress).unwrap().is_empty());
}

#[test]
fn checkout_reports_objects_missing_from_the_cache_and_writes_the_rest() {
    let (_d, repo) = repo_with_data();
    add_all(&repo);
    fs::remove_dir_all(repo.root.join("data")).unwrap();
    fs::remove_file(repo.root.join("model.bin")).unwrap();
    let a_csv = sextant_data::hash::md5_oid(b"x,y\n1,2\n");
    let model = sextant_data::hash::md5_oid(b"weights");
    repo.cache.remove(&a_csv).unwrap();
    repo.cache.remove(&model).unwrap();
    let out = repo.checkout(None, false, &NoProgress).unwrap();
    let by_path: Vec<(&str, u64, u64)> = out
        .iter()
        .map(|c| (c.path.as_str(), c.written, c.missing))
        .collect();
    assert_eq!(by_path, vec![("data", 1, 1), ("model.bin", 0, 1)]);
    assert!(repo.root.join("data/sub/b.bin").is_file());
    assert!(!repo.root.join("data/a.csv").exists() && !repo.root.join("model.bin").exists());
}

// Regression (issue 15): a hash is a path in the cache and a key on the remote, so a pointer
// file whose md5 is not a hash is refused when read, naming the file and the field, and no
// operation reads or writes outside the cache, the workspace or the remote.
#[test]
fn hostile_pointer_hashes_are_refused_before_any_path_is_built() {
    let (d, repo) = repo_with_data();
    add_all(&repo);
    let secret = d.path().join("secret.txt");
    fs::write(&secret, b"secret").unwrap();
    fs::remove_file(repo.root.join("model.bin")).unwrap();
    let pointer = repo.root.join("model.bin.dvc");
    let text = fs::read_to_string(&pointer).unwrap();
    let md5 = text
        .lines()
        .find_map(|l| l.strip_prefix("- md5: "))
        .unwrap()
        .to_string();
    for bad in [
        "../../../../../secret.txt",
        "zz",
        &md5.to_uppercase(),
        &format!("{md5}/../../../../../../secret.txt"),
        &md5[..31],
    ] {
        fs::write(&pointer, text.replace(&md5, bad)).unwrap();
        let e = repo.tracked(None).unwrap_err().to_string();
        assert!(
            e.contains("model.bin.dvc") && e.contains("md5") && e.contains("is not an md5 hash"),
            "{bad}: {e}"
        );
        let e = repo
            .checkout(None, true, &NoProgress)
            .unwrap_err()
            .to_string();
        assert!(e.contains("model.bin.dvc"), "{e}");
        assert!(repo.status(None, &NoProgress).is_err());
        assert!(!repo.root.join("model.bin").exists());
    }
    assert_eq!(fs::read(&secret).unwrap(), b"secret");
}
