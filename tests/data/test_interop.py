"""`dvc` and `sextant data` on the same repositories, in both directions, with local and S3
remotes: what one writes the other reads, and the files are byte-identical."""

import json
import os
import shutil
import stat

import pytest

from conftest import ENV, clone, dvc, git, make_tree, require_dvc_s3, sx, tree_files

ODD_NAMES = ["true", "123", "a #b", "yes", "-x", "[a]", "2001-12-14", "1e3", "x:", "it's",
             "0x1f", "~", "null", ".5", "é", "@at", "*star", "1_000", "a,b", "trail "]


def cache_listing(repo):
    root = repo / ".dvc" / "cache"
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = (open(p, "rb").read(), stat.S_IMODE(os.stat(p).st_mode))
    return out


def test_files_written_are_byte_identical_to_dvcs(tmp_path):
    a, b = tmp_path / "with-dvc", tmp_path / "with-sextant"
    a.mkdir()
    git(a, "init", "-q")
    make_tree(a)
    for n in ODD_NAMES:
        (a / n).write_text(n)
    (a / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(a / "run.sh", 0o755)  # recorded as isexec: true
    shutil.copytree(a, b, symlinks=True)  # the same bytes (model.bin is random)
    dvc(a, "init", "-q")
    dvc(a, "add", "-q", "--", "data", "model.bin", "run.sh", *ODD_NAMES)
    sx(b, "add", "--", "data", "model.bin", "run.sh", *ODD_NAMES)  # creates .dvc/ as dvc init would

    compared = [".dvc/config", ".dvc/.gitignore", ".dvcignore", ".gitignore", "data.dvc", "model.bin.dvc", "run.sh.dvc"]
    compared += [n + ".dvc" for n in ODD_NAMES]
    for rel in compared:
        assert (b / rel).read_bytes() == (a / rel).read_bytes(), rel
    assert cache_listing(b) == cache_listing(a)
    assert "isexec: true" in (b / "run.sh.dvc").read_text()
    # dvc init stages its files in git; so does our implicit init.
    staged = git(b, "diff", "--cached", "--name-only").stdout.split()
    assert sorted(staged) == sorted(git(a, "diff", "--cached", "--name-only").stdout.split())


def configure_remote(repo, kind, tmp_path, bucket, tool):
    """Add a default remote named `store` with `tool` (dvc or sextant)."""
    if kind == "local":
        url = str(tmp_path / "remote")
    else:
        require_dvc_s3()
        url = f"s3://{bucket[1]}/dvcstore"
    run = dvc if tool == "dvc" else lambda cwd, *a: sx(cwd, *a)
    run(repo, "remote", "add", "-d", "store", url)
    if kind == "s3":
        run(repo, "remote", "modify", "store", "endpointurl", ENV["AWS_ENDPOINT_URL"])
    return url


@pytest.fixture(params=["local", "s3"])
def remote_kind(request):
    return request.param


@pytest.fixture
def bucket(remote_kind, request):
    if remote_kind == "s3":
        return request.getfixturevalue("s3_bucket")
    return None


def test_dvc_add_then_sextant_status_push_pull_checkout(repo, tmp_path, remote_kind, bucket):
    dvc(repo, "init", "-q")
    make_tree(repo)
    dvc(repo, "add", "-q", "data", "model.bin")
    configure_remote(repo, remote_kind, tmp_path, bucket, "dvc")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    original = tree_files(repo)

    assert "up to date" in sx(repo, "status").stdout
    # The remote is empty: status --cloud says what is new, push sends it, then they agree.
    cloud = json.loads(sx(repo, "status", "--cloud", "--json").stdout)
    assert cloud == {"data": "new", "model.bin": "new"}
    pushed = json.loads(sx(repo, "push", "--json").stdout)
    assert pushed["transferred"] == 6 and not pushed["failed"]  # 5 files + 1 manifest
    assert "in sync" in dvc(repo, "status", "-c").stdout
    assert json.loads(sx(repo, "status", "-c", "--json").stdout) == {}

    # Edits are seen by both tools alike.
    (repo / "data" / "a.csv").write_text("changed\n")
    assert json.loads(sx(repo, "status", "--json").stdout) == {"data.dvc": [{"changed outs": {"data": "modified"}}]}
    assert "modified" in dvc(repo, "status").stdout
    sx(repo, "checkout", "--force")
    assert tree_files(repo) == original

    # A fresh clone: sextant pulls what dvc added, and dvc finds nothing to do.
    other = clone(repo, tmp_path / "clone")
    pulled = sx(other, "pull")
    assert tree_files(other) == original, pulled.stdout + pulled.stderr
    assert "up to date" in dvc(other, "status").stdout
    shutil.rmtree(other / "data")
    sx(other, "checkout")
    assert tree_files(other) == original


def test_sextant_add_then_dvc_status_pull_checkout(repo, tmp_path, remote_kind, bucket):
    make_tree(repo)
    sx(repo, "add", "data", "model.bin")
    configure_remote(repo, remote_kind, tmp_path, bucket, "sextant")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    original = tree_files(repo)

    assert "up to date" in dvc(repo, "status").stdout
    assert "new" in dvc(repo, "status", "-c").stdout
    sx(repo, "push")
    assert "in sync" in dvc(repo, "status", "-c").stdout

    other = clone(repo, tmp_path / "clone")
    dvc(other, "pull", "-q")
    assert tree_files(other) == original
    assert "up to date" in sx(other, "status").stdout
    os.remove(other / "model.bin")
    dvc(other, "checkout", "-q")
    assert tree_files(other) == original
    # And what dvc checked out is up to date for us as well.
    assert "up to date" in sx(other, "status").stdout


def test_a_corrupted_remote_object_is_refused_on_pull(repo, tmp_path, remote_kind, bucket):
    make_tree(repo)
    sx(repo, "add", "data", "model.bin")
    url = configure_remote(repo, remote_kind, tmp_path, bucket, "sextant")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    sx(repo, "push")
    md5 = next(l.split()[-1] for l in (repo / "model.bin.dvc").read_text().splitlines() if "md5:" in l)
    key = f"files/md5/{md5[:2]}/{md5[2:]}"
    if remote_kind == "local":
        obj = tmp_path / "remote" / key
        os.chmod(obj, 0o644)
        obj.write_bytes(b"tampered")
    else:
        client, name = bucket
        client.put_object(Bucket=name, Key="dvcstore/" + key, Body=b"tampered")

    other = clone(repo, tmp_path / "clone")
    proc = sx(other, "pull", check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "corrupted" in proc.stderr and md5 in proc.stderr, proc.stderr
    assert not (other / ".dvc" / "cache" / key).exists()
    assert not (other / "model.bin").exists()
    # Everything else arrived.
    assert (other / "data" / "a.csv").read_text() == "x,y\n1,2\n"


def test_an_interrupted_push_resumes_without_resending(repo, tmp_path):
    make_tree(repo)
    sx(repo, "add", "data", "model.bin")
    configure_remote(repo, "local", tmp_path, None, "sextant")
    first = json.loads(sx(repo, "push", "--json").stdout)
    assert first["transferred"] == 6
    # Lose two file objects, as if the push had been killed before them.
    objs = sorted(p for p in (tmp_path / "remote").rglob("*") if p.is_file() and not p.name.endswith(".dir"))
    for p in objs[:2]:
        p.unlink()
    again = json.loads(sx(repo, "push", "--json").stdout)
    assert (again["transferred"], again["skipped"]) == (2, 4)
    assert "in sync" in dvc(repo, "status", "-c").stdout


def test_gc_is_a_dry_run_until_forced(repo):
    make_tree(repo)
    sx(repo, "add", "model.bin")
    (repo / "model.bin").write_bytes(b"v2")
    sx(repo, "add", "model.bin")
    dry = json.loads(sx(repo, "gc", "--json").stdout)
    assert len(dry["unused"]) == 1 and not dry["removed"]
    old = dry["unused"][0]
    assert (repo / ".dvc/cache/files/md5" / old[:2] / old[2:]).exists()
    sx(repo, "gc", "--force")
    assert not (repo / ".dvc/cache/files/md5" / old[:2] / old[2:]).exists()
    assert "up to date" in dvc(repo, "status").stdout


def test_errors_name_the_problem(repo):
    proc = sx(repo, "status", check=False)
    assert proc.returncode != 0 and "not a DVC repository" in proc.stderr
    make_tree(repo)
    proc = sx(repo, "add", "nope.csv", check=False)
    assert proc.returncode != 0 and "nope.csv" in proc.stderr
    sx(repo, "add", "model.bin")
    (repo / "model.bin.dvc").write_text("outs:\n- md5: zz\n  hash: md5\n  path: model.bin\n")
    proc = sx(repo, "status", check=False)
    assert proc.returncode != 0 and "model.bin.dvc" in proc.stderr and "zz" in proc.stderr
    proc = sx(repo, "push", check=False)
    assert proc.returncode != 0 and "hint:" in proc.stderr
