"""Fixtures for the DVC interoperability tests: the real `dvc` CLI (from PyPI) and the
`sextant` binary on the same temporary git repositories, with local and S3 (moto) remotes."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEXTANT = os.environ.get("SEXTANT_BIN") or os.path.join(ROOT, "target", "debug", "sextant")
VENV_BIN = os.path.dirname(sys.executable)
DVC = os.path.join(VENV_BIN, "dvc")

ENV = dict(
    os.environ,
    DVC_NO_ANALYTICS="1",
    GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid",
    GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid",
    NO_COLOR="1",
)


def run(args, cwd, check=True, env=None):
    proc = subprocess.run(args, cwd=cwd, env=env or ENV, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def sx(cwd, *args, check=True, env=None):
    return run([SEXTANT, "data", *args], cwd, check=check, env=env)


def dvc(cwd, *args, check=True, env=None):
    return run([DVC, *args], cwd, check=check, env=env)


def git(cwd, *args):
    return run(["git", *args], cwd)


@pytest.fixture
def repo(tmp_path):
    """A fresh git repository (no .dvc yet)."""
    d = tmp_path / "repo"
    d.mkdir()
    git(d, "init", "-q", "-b", "main")
    return d


def make_tree(root):
    """A small tree with nested folders, non-ASCII and YAML-significant names."""
    (root / "data" / "sub" / "deeper").mkdir(parents=True)
    (root / "data" / "a.csv").write_text("x,y\n1,2\n")
    (root / "data" / "sub" / "b.bin").write_bytes(bytes(range(256)) * 40)
    (root / "data" / "sub" / "deeper" / "é n.txt").write_text("ü")
    (root / "data" / "#odd: name.txt").write_text("odd")
    (root / "model.bin").write_bytes(os.urandom(3000))


def tree_files(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in (".git", ".dvc")]
        for f in filenames:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = open(p, "rb").read()
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint():
    """An S3-compatible endpoint: AWS_ENDPOINT_URL when set, else a moto_server we start."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        ENV[k] = os.environ[k]
    if os.environ.get("AWS_ENDPOINT_URL"):
        ENV["AWS_ENDPOINT_URL"] = os.environ["AWS_ENDPOINT_URL"]
        yield os.environ["AWS_ENDPOINT_URL"]
        return
    port = free_port()
    proc = subprocess.Popen([os.path.join(VENV_BIN, "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    ENV["AWS_ENDPOINT_URL"] = url
    try:
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def s3_bucket(s3_endpoint):
    import boto3
    name = "dvc-" + uuid.uuid4().hex[:12]
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.create_bucket(Bucket=name)
    return client, name


def require_dvc_s3():
    try:
        import dvc_s3  # noqa: F401
    except ImportError:
        pytest.fail("dvc-s3 is not installed: pip install --no-deps -r tests/data/requirements-s3.txt")


def clone(src, dst):
    run(["git", "clone", "-q", str(src), str(dst)], cwd=os.path.dirname(str(dst)))
    return dst


def doc_block(path, marker):
    """The ```sh block between `<!-- marker:start -->` and `<!-- marker:end -->` in a doc."""
    text = open(os.path.join(ROOT, path)).read()
    m = re.search(rf"<!-- {marker}:start -->\s*```sh\n(.*?)```\s*<!-- {marker}:end -->", text, re.S)
    assert m, f"{path} has no {marker} block"
    return m.group(1)


def run_doc_example(tmp_path, path, marker, env=None):
    """Run a doc's worked example exactly as written (bash -euo pipefail, `sextant` and the
    venv's `dvc` on PATH) in tmp_path/work; returns (process, stdout + stderr, work dir)."""
    script = doc_block(path, marker)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "sextant").symlink_to(SEXTANT)
    env = dict(env or ENV, PATH=f"{bindir}:{VENV_BIN}:{os.environ['PATH']}")
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env, cwd=work,
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    return proc, out, work
