"""Start the server under test once per session and point the real mlflow client at it.

Configuration (environment):
  SEXTANT_COMPAT_TARGET    sextant (default) | mlflow  -- run the same suite against the real
                           `mlflow server` from this venv, to check that the suite asserts
                           MLflow's own behaviour
  SEXTANT_COMPAT_BACKEND   sqlite (default) | postgres -- postgres needs SEXTANT_TEST_PG_URI, the
                           URI of a running server; a fresh database is created and dropped
  SEXTANT_COMPAT_ARTIFACTS local (default) | s3        -- s3 needs AWS_ENDPOINT_URL and the usual
                           AWS_* credentials; a fresh bucket is created per session
  SEXTANT_BIN              the sextant binary (default: <repo>/target/debug/sextant)
  SEXTANT_COMPAT_KEEP      if set, keep the session's temp dir (server log, SQLite file)
  SEXTANT_COMPAT_RUN_ALL   if set, also run the Sextant-only tests against mlflow
  SEXTANT_COMPAT_HISTORY_POINTS  size of the big metric-history test (default 1,000,000 on
                           Sextant, 60,000 on mlflow)
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

# The client retries 5xx answers with a long backoff; a server that wrongly answers 500 should
# fail a test quickly instead of stalling the suite for minutes.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "120")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
os.environ.setdefault("MPLBACKEND", "Agg")
# Keep the client's environment free of settings that would change what is being tested.
for _var in (
    "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD",
    "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD",
    "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE",
    "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE",
    "MLFLOW_RUN_ID",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_EXPERIMENT_NAME",
):
    os.environ.pop(_var, None)

import pytest  # noqa: E402
import requests  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.environ.get("SEXTANT_COMPAT_TARGET", "sextant")
BACKEND = os.environ.get("SEXTANT_COMPAT_BACKEND", "sqlite")
ARTIFACTS = os.environ.get("SEXTANT_COMPAT_ARTIFACTS", "local")
assert TARGET in ("sextant", "mlflow"), f"SEXTANT_COMPAT_TARGET={TARGET!r}"
assert BACKEND in ("sqlite", "postgres"), f"SEXTANT_COMPAT_BACKEND={BACKEND!r}"
assert ARTIFACTS in ("local", "s3"), f"SEXTANT_COMPAT_ARTIFACTS={ARTIFACTS!r}"

IS_SEXTANT = TARGET == "sextant"
IS_MLFLOW = TARGET == "mlflow"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sextant_only(reason):
    """For behaviour that only Sextant promises (extensions, guarantees) or that mlflow's own
    server gets wrong; the reason says which. SEXTANT_COMPAT_RUN_ALL=1 runs them on mlflow too
    (to see how the reference behaves)."""
    run_all = bool(os.environ.get("SEXTANT_COMPAT_RUN_ALL"))
    return pytest.mark.skipif(not IS_SEXTANT and not run_all, reason=f"Sextant only: {reason}")


class Server:
    """The server under test on a free port with its own store; restartable on the same store."""

    def __init__(self, workdir, short_flags=False, extra_args=()):
        self.workdir = workdir
        self.short_flags = short_flags  # -h/-p as mlflow server spells them
        self.extra_args = list(extra_args)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.log_path = os.path.join(workdir, "server.log")
        self.pg_db = None
        self.bucket = None
        self.backend_uri = self._backend()
        self.destination = self._artifacts()

    def _backend(self):
        if BACKEND == "sqlite":
            return "sqlite:///" + os.path.join(self.workdir, "store.db")
        import psycopg2

        base = os.environ.get("SEXTANT_TEST_PG_URI")
        if not base:
            raise RuntimeError("SEXTANT_COMPAT_BACKEND=postgres needs SEXTANT_TEST_PG_URI")
        self.pg_base = base
        self.pg_db = "compat_" + uuid.uuid4().hex[:12]
        conn = psycopg2.connect(base)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {self.pg_db}")
        conn.close()
        head, _, tail = base.partition("?")
        uri = head.rsplit("/", 1)[0] + "/" + self.pg_db
        return uri + ("?" + tail if tail else "")

    def _artifacts(self):
        if ARTIFACTS == "local":
            return os.path.join(self.workdir, "artifacts")
        import boto3

        if not os.environ.get("AWS_ENDPOINT_URL"):
            raise RuntimeError("SEXTANT_COMPAT_ARTIFACTS=s3 needs AWS_ENDPOINT_URL")
        self.bucket = "compat-" + uuid.uuid4().hex[:12]
        boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"]).create_bucket(Bucket=self.bucket)
        return f"s3://{self.bucket}/artifacts"

    def command(self):
        common = [
            "-h" if self.short_flags else "--host", "127.0.0.1",
            "-p" if self.short_flags else "--port", str(self.port),
            "--backend-store-uri", self.backend_uri,
            "--artifacts-destination", self.destination,
            *self.extra_args,
        ]
        if IS_MLFLOW:
            # SQLAlchemy 2.1 maps postgresql:// to psycopg 3; the venv has psycopg2.
            if self.backend_uri.startswith("postgresql://"):
                common[common.index(self.backend_uri)] = "postgresql+psycopg2://" + self.backend_uri[len("postgresql://"):]
            mlflow_bin = os.path.join(os.path.dirname(sys.executable), "mlflow")
            return [mlflow_bin, "server", *common, "--workers", "2"]
        binary = os.environ.get("SEXTANT_BIN") or os.path.join(ROOT, "target", "debug", "sextant")
        if not os.path.isabs(binary):
            binary = os.path.join(ROOT, binary)
        if not os.access(binary, os.X_OK):
            raise RuntimeError(f"no sextant binary at {binary}: run `cargo build` or set SEXTANT_BIN")
        return [binary, "server", *common]

    def start(self, timeout=120):
        assert self.proc is None, "already running"
        env = dict(os.environ)
        if IS_MLFLOW and os.environ.get("AWS_ENDPOINT_URL"):
            env.setdefault("MLFLOW_S3_ENDPOINT_URL", os.environ["AWS_ENDPOINT_URL"])
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== start: {' '.join(self.command())}\n".encode())
            self.proc = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.proc = None
                raise RuntimeError(f"server exited with {code} while starting; log:\n{self.log_tail()}")
            try:
                r = requests.get(self.url + "/health", timeout=2)
                if r.status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not become healthy in {timeout}s; log:\n{self.log_tail()}")

    def log_tail(self, n=4000):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return "(no log)"

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stop our own process by its pid: `sig` first, SIGKILL if it does not exit in time."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def kill(self):
        """SIGKILL: no chance to flush or shut down cleanly."""
        return self.stop(signal.SIGKILL)

    def restart(self):
        """Stop gracefully and start again on the same port and store."""
        self.stop()
        self.start()

    def cleanup(self):
        self.stop()
        if self.pg_db:
            import psycopg2

            conn = psycopg2.connect(self.pg_base)
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS {self.pg_db} WITH (FORCE)")
            conn.close()
        if self.bucket:
            try:
                import boto3

                bucket = boto3.resource("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"]).Bucket(self.bucket)
                bucket.objects.all().delete()
                bucket.delete()
            except Exception:  # noqa: BLE001 - the S3 endpoint is throwaway anyway
                pass
        if not os.environ.get("SEXTANT_COMPAT_KEEP"):
            shutil.rmtree(self.workdir, ignore_errors=True)


def new_workdir(prefix):
    return tempfile.mkdtemp(prefix=prefix)


@pytest.fixture(scope="session")
def server():
    workdir = new_workdir("sextant-compat-")
    srv = Server(workdir)
    try:
        srv.start()
    except Exception:
        srv.cleanup()
        raise
    os.environ["MLFLOW_TRACKING_URI"] = srv.url
    import mlflow

    mlflow.set_tracking_uri(srv.url)
    try:
        yield srv
    finally:
        code = srv.stop()
        if IS_SEXTANT and code not in (0, None):
            print(f"\nsextant exited with {code} on SIGTERM; log tail:\n{srv.log_tail()}")
        srv.cleanup()


@pytest.fixture(scope="session")
def client(server):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=server.url)


@pytest.fixture()
def exp_id(client):
    """A fresh experiment per test, so tests never see each other's runs."""
    return client.create_experiment("exp-" + uuid.uuid4().hex[:12])


@pytest.fixture()
def run_id(client, exp_id):
    return client.create_run(exp_id).info.run_id


@pytest.fixture(autouse=True)
def _no_active_run():
    """A test that fails inside `with mlflow.start_run()` must not leak its run into the next."""
    yield
    import mlflow

    while mlflow.active_run() is not None:
        mlflow.end_run()
    # mlflow.set_experiment() is sticky (module state and MLFLOW_EXPERIMENT_ID); forget it.
    import mlflow.tracking.fluent as fluent

    fluent._active_experiment_id = None
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)


def api(server, method, path, **kw):
    """A raw REST call under /api/2.0/mlflow/, for what the client cannot express."""
    kw.setdefault("timeout", 60)
    return requests.request(method, f"{server.url}/api/2.0/mlflow/{path}", **kw)


def assert_error(resp, status, code, message=None, startswith=None, contains=None):
    """An MLflow error response: the HTTP status, a JSON body with error_code and message."""
    assert resp.status_code == status, (resp.status_code, resp.text[:500])
    body = resp.json()
    assert body["error_code"] == code, body
    if message is not None:
        assert body["message"] == message, body["message"]
    if startswith is not None:
        assert body["message"].startswith(startswith), body["message"]
    if contains is not None:
        assert contains in body["message"], body["message"]
    return body
