"""End-to-end tests of `sextant run`: real commands through the real binary against a real
`sextant server` on a free port (binary: $SEXTANT_BIN, default <repo>/target/debug/sextant).

Run: .venv/bin/python -m pytest tests/run -q
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The mlflow client must not pick up a run or experiment from the environment of whoever runs
# the suite; each test says what it wants.
for _var in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "SEXTANT_RUN_ID", "SEXTANT_RUN_KEY"):
    os.environ.pop(_var, None)
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")


def sextant_bin():
    binary = os.environ.get("SEXTANT_BIN") or os.path.join(ROOT, "target", "debug", "sextant")
    if not os.path.isabs(binary):
        binary = os.path.join(ROOT, binary)
    if not os.access(binary, os.X_OK):
        raise RuntimeError(f"no sextant binary at {binary}: run `cargo build -p sextant` or set SEXTANT_BIN")
    return binary


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server():
    """A `sextant server` with its own SQLite store and artifacts, stopped by its pid."""
    workdir = tempfile.mkdtemp(prefix="sextant-run-tests-")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(os.path.join(workdir, "server.log"), "ab")
    proc = subprocess.Popen(
        [sextant_bin(), "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", "sqlite:///" + os.path.join(workdir, "store.db"),
         "--artifacts-destination", os.path.join(workdir, "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            try:
                if requests.get(url + "/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.1)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def client(server):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=server)


@pytest.fixture()
def experiment():
    """A fresh experiment name per test (created by `sextant run --experiment`)."""
    return "run-" + uuid.uuid4().hex[:10]


@pytest.fixture()
def workdir():
    d = tempfile.mkdtemp(prefix="sextant-run-cwd-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def sextant_run(server, args, cwd, command, env=None, **kw):
    """`sextant run ARGS -- COMMAND` in `cwd`; returns the CompletedProcess (text)."""
    full_env = dict(os.environ)
    full_env["MLFLOW_TRACKING_URI"] = server
    full_env.update(env or {})
    return subprocess.run(
        [sextant_bin(), "run", *args, "--", *command],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=kw.pop("timeout", 120),
        stdin=subprocess.DEVNULL, **kw,
    )


def run_json(proc):
    """The `--json` line `sextant run` printed last."""
    last = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    assert last, (proc.returncode, proc.stdout, proc.stderr)
    import json

    return json.loads(last[-1])


def artifact_text(client, run_id, path):
    import tempfile as _t

    with _t.TemporaryDirectory() as d:
        local = client.download_artifacts(run_id, path, d)
        with open(local, "rb") as f:
            return f.read().decode("utf-8", "replace")


def artifact_paths(client, run_id, path=None):
    """Every file below `path` in the run's artifacts."""
    out = []
    for f in client.list_artifacts(run_id, path):
        if f.is_dir:
            out.extend(artifact_paths(client, run_id, f.path))
        else:
            out.append(f.path)
    return sorted(out)


PYTHON = sys.executable
