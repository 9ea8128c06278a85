"""A real `sextant server` for the session, and `sextant serve` processes started per test.

SEXTANT_BIN names the binary (default <repo>/target/debug/sextant). Processes are stopped by
their pid. ORT_DYLIB_PATH is found by `sextant serve` itself from the onnxruntime package of
the Python running these tests (its venv), which is what this suite checks.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

import pytest  # noqa: E402
import requests  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def binary():
    b = os.environ.get("SEXTANT_BIN") or os.path.join(ROOT, "target", "debug", "sextant")
    if not os.path.isabs(b):
        b = os.path.join(ROOT, b)
    if not os.access(b, os.X_OK):
        raise RuntimeError(f"no sextant binary at {b}: run `cargo build -p sextant` or set SEXTANT_BIN")
    return b


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    def __init__(self, args, log_path, ready_url, env=None, timeout=120):
        self.log_path = log_path
        self.log = open(log_path, "ab")
        full_env = dict(os.environ)
        # The venv running the tests is where `sextant serve` finds onnxruntime.
        full_env.setdefault("VIRTUAL_ENV", os.path.dirname(os.path.dirname(sys.executable)))
        full_env.update(env or {})
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=full_env)
        self.wait_ready(ready_url, timeout)

    def wait_ready(self, url, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"process exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                requests.get(url, timeout=2)
                return
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"not listening after {timeout}s:\n{self.tail()}")

    def tail(self, n=6000):
        self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return f.read()[-n:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


@pytest.fixture(scope="session")
def workdir():
    with tempfile.TemporaryDirectory(prefix="sextant-serving-") as d:
        yield d


@pytest.fixture(scope="session")
def tracking(workdir):
    """The tracking server's URL; the mlflow client points at it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    p = Proc(
        [binary(), "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", "sqlite:///" + os.path.join(workdir, "store.db"),
         "--artifacts-destination", os.path.join(workdir, "artifacts")],
        os.path.join(workdir, "server.log"), url + "/health",
    )
    import mlflow

    mlflow.set_tracking_uri(url)
    yield url
    p.stop()


@pytest.fixture
def serve(tracking, workdir, request):
    """Start `sextant serve ARGS...`; returns (base_url, proc). Stopped after the test."""
    procs = []

    def start(*args, env=None):
        port = free_port()
        log = os.path.join(workdir, f"serve-{request.node.name[:60]}-{port}.log")
        p = Proc([binary(), "serve", "--tracking-uri", tracking, "--port", str(port), *args], log,
                 f"http://127.0.0.1:{port}/version", env=env)
        procs.append(p)
        return f"http://127.0.0.1:{port}", p

    yield start
    for p in procs:
        p.stop()


@pytest.fixture(scope="session")
def matrix(tracking):
    """Every model of the matrix logged, registered, approved and aliased (protected alias)."""
    import models as M

    out = {}
    for short, build in M.MATRIX.items():
        name = f"conf-{short}"
        model, data = build()
        onx = M.to_onnx(model, data)
        example = data[:3]
        version = M.log_and_register(name, onx, example, tracking)
        M.approve(tracking, name, version)
        M.promote(tracking, name, version, M.ALIAS)
        M.sextant_api(tracking, "PUT", f"models/{name}/protected-aliases/{M.ALIAS}")
        test_inputs = data[100:120]
        out[name] = {"onnx": onx, "inputs": test_inputs, "expected": M.reference(onx, test_inputs), "version": version}
    return out
