"""Hostile input (issue 15): hashes in dvc.lock, run-cache entries, .dvc files and .dir
manifests become paths in the cache and on remotes, so a value that is not a hash must be
refused where it is read: nothing is read or written outside the cache, the workspace or the
remote, the commands exit non-zero naming the file and the field, and nothing panics or hangs.
A closed stdout (`sextant dag | head -1`) ends a command quietly with exit 0."""

import glob
import os
import re
import subprocess

import pytest

from conftest import ENV, SEXTANT, sx, write

PIPE = ("stages:\n"
        "  a:\n    cmd: echo a > a.txt\n    outs: [a.txt]\n"
        "  b:\n    cmd: cp a.txt b.txt\n    deps: [a.txt]\n    outs: [b.txt]\n")

# From <repo>/.dvc/cache/files/md5/<2>/<rest> five levels up is the folder holding the repo, so
# this "hash" names <tmp>/secret.txt once split into <2>/<rest>.
ESCAPE = "../../../../../secret.txt"
HOSTILE = [ESCAPE, "zz", "0CC175B9C0F1B6A831C399E269772661", "0cc175b9c0f1b6a831c399e26977266",
           "0cc175b9c0f1b6a831c399e269772661/../../../../../../secret.txt"]


def snapshot(root):
    """Every file below root (symlinks not followed) with its bytes."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = fh.read()
    return out


@pytest.fixture
def ran(repo, tmp_path):
    """A repository whose two-stage pipeline ran once, a secret file beside it and a local
    remote folder; returns (repo, remote)."""
    (tmp_path / "secret.txt").write_text("secret\n")
    write(repo, {"dvc.yaml": PIPE})
    sx(repo, "repro")
    remote = tmp_path / "remote"
    remote.mkdir()
    sx(repo, "data", "remote", "add", "-d", "r", str(remote))
    return repo, remote


def set_lock_md5(repo, path, value):
    text = (repo / "dvc.lock").read_text()
    new = re.sub(rf"(- path: {re.escape(path)}\n(?:\s+\w+: .*\n)*?\s+md5: )\S+", rf"\g<1>{value}", text)
    assert new != text
    (repo / "dvc.lock").write_text(new)


def assert_refused(proc, file_hint, value):
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "panicked" not in out and "RUST_BACKTRACE" not in out, out
    assert file_hint in out and "md5" in out, out
    assert value[:40] in out, out


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_dvc_lock_hash_is_refused_by_checkout_push_and_repro(ran, tmp_path, value):
    repo, remote = ran
    set_lock_md5(repo, "b.txt", value)
    (repo / "b.txt").unlink()
    before = snapshot(tmp_path)
    for args in (["data", "checkout"], ["data", "push"], ["data", "fetch"], ["data", "pull"],
                 ["data", "status", "--json"], ["repro"], ["repro", "--dry"]):
        proc = sx(repo, *args, check=False)
        assert_refused(proc, "dvc.lock", value)
        assert 'stages.b.outs[0]: path "b.txt": field md5' in proc.stderr, proc.stderr
    # Nothing was read into the workspace, written to the remote or anywhere else, and no
    # stage ran (`repro` stops before the first stage).
    assert snapshot(tmp_path) == before
    assert not (repo / "b.txt").exists()


def test_hostile_dvc_lock_dependency_hash_is_refused(ran):
    repo, _ = ran
    set_lock_md5(repo, "a.txt", ESCAPE)  # b's dependency (a's output is listed first)
    proc = sx(repo, "repro", check=False)
    assert_refused(proc, "dvc.lock", ESCAPE)


def test_hostile_dvc_file_hash_is_refused(repo, tmp_path):
    (tmp_path / "secret.txt").write_text("secret\n")
    write(repo, {"x.txt": "x\n"})
    sx(repo, "data", "add", "x.txt")
    text = (repo / "x.txt.dvc").read_text()
    (repo / "x.txt.dvc").write_text(re.sub(r"md5: \S+", f"md5: {ESCAPE}", text))
    (repo / "x.txt").unlink()
    remote = tmp_path / "remote"
    remote.mkdir()
    sx(repo, "data", "remote", "add", "-d", "r", str(remote))
    before = snapshot(tmp_path)
    for args in (["data", "checkout"], ["data", "push"], ["data", "pull"], ["data", "status"]):
        assert_refused(sx(repo, *args, check=False), "x.txt.dvc", ESCAPE)
    assert snapshot(tmp_path) == before


def test_hostile_dir_manifest_entry_is_refused(repo, tmp_path):
    (tmp_path / "secret.txt").write_text("secret\n")
    write(repo, {"d/f.txt": "f\n"})
    sx(repo, "data", "add", "d")
    oid = re.search(r"md5: (\S+)\.dir", (repo / "d.dvc").read_text()).group(1)
    manifest = repo / ".dvc" / "cache" / "files" / "md5" / oid[:2] / (oid[2:] + ".dir")
    os.chmod(manifest, 0o644)
    manifest.write_text(f'[{{"md5": "{ESCAPE}", "relpath": "f.txt"}}]')
    subprocess.run(["rm", "-rf", str(repo / "d")], check=True)
    before = snapshot(tmp_path)
    proc = sx(repo, "data", "checkout", check=False)
    assert_refused(proc, oid[2:] + ".dir", ESCAPE)
    assert "entry" in proc.stderr and "f.txt" in proc.stderr
    assert snapshot(tmp_path) == before


def test_hostile_run_cache_entry_is_a_miss(ran, tmp_path):
    """As DVC does, a corrupted run-cache entry is skipped with a warning naming the file and
    the field; the stage runs instead of restoring anything from outside the cache."""
    repo, _ = ran
    entries = [p for p in glob.glob(str(repo / ".dvc" / "cache" / "runs" / "*" / "*" / "*"))]
    assert entries
    for e in entries:
        with open(e) as fh:
            text = fh.read()
        os.chmod(e, 0o644)
        with open(e, "w") as fh:
            fh.write(re.sub(r"md5: [0-9a-f]{32}", f"md5: {ESCAPE}", text))
    (repo / "dvc.lock").unlink()
    for f in ("a.txt", "b.txt"):
        (repo / f).unlink()
    proc = sx(repo, "repro", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "corrupted run-cache entry" in proc.stderr and "field md5" in proc.stderr, proc.stderr
    assert "2 stage(s) ran, 0 restored" in proc.stdout, proc.stdout
    assert (repo / "a.txt").read_text() == "a\n"
    assert (repo / "b.txt").read_text() == "a\n"
    assert (tmp_path / "secret.txt").read_text() == "secret\n"


def run_with_closed_stdout(cwd, *args):
    r, w = os.pipe()
    os.close(r)
    try:
        return subprocess.run([SEXTANT, *args], cwd=cwd, env=ENV, stdout=w,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(w)


@pytest.mark.parametrize("args", [["dag"], ["dag", "--json"], ["data", "status", "--json"],
                                  ["data", "status"], ["--help"], ["repro", "--dry"]])
def test_a_closed_stdout_ends_a_command_quietly(ran, args):
    repo, _ = ran
    proc = run_with_closed_stdout(repo, *args)
    assert proc.returncode == 0, proc.stderr
    assert "panicked" not in proc.stderr and "Broken pipe" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("cmd", ["sextant dag | head -1", "sextant data status --json | head -c 1",
                                 "sextant --help | head -1"])
def test_pipes_into_head(ran, tmp_path, cmd):
    repo, _ = ran
    script = f'{cmd} >/dev/null; echo "status=${{PIPESTATUS[0]}}"'
    env = dict(ENV, PATH=f"{os.path.dirname(SEXTANT)}:{os.environ['PATH']}")
    proc = subprocess.run(["bash", "-c", script], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=120)
    assert "status=0" in proc.stdout, proc.stdout + proc.stderr
    assert "panicked" not in proc.stderr, proc.stderr


def test_hostile_dvc_lock_hash_is_refused_with_an_s3_remote(ran, s3_bucket):
    repo, _ = ran
    client, bucket = s3_bucket
    sx(repo, "data", "remote", "add", "-f", "-d", "s3r", f"s3://{bucket}/store")
    sx(repo, "data", "push")
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))
    assert keys and all(k.startswith("store/files/md5/") for k in keys), keys
    set_lock_md5(repo, "b.txt", "../../../outside")
    for args in (["data", "push"], ["data", "fetch"], ["data", "pull"], ["repro", "--push"]):
        assert_refused(sx(repo, *args, check=False), "dvc.lock", "../../../outside")
    after = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))
    assert after == keys
