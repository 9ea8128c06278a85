#!/usr/bin/env python3
"""Sextant benchmarks: the same workloads against `mlflow server` and `sextant server`.

Run through `bench/run` (which prepares .venv); `bench/run --help` lists the options.
Every server is started fresh on a free 127.0.0.1 port with its own temporary SQLite store and
artifact folder, health-checked with GET /health, and stopped by PID (SIGTERM, then SIGKILL) on
every exit path.
"""

import argparse
import datetime
import importlib.metadata
import json
import math
import multiprocessing as mp
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
WORKLOADS = ("ingest", "history", "client", "search", "wrap")
SERVERS = ("mlflow", "sextant")
STORES = ("sqlite", "postgres")
JSON_HEADERS = {"Content-Type": "application/json"}
# `--auth basic|token`: sextant server runs with --auth and every client request carries the
# credentials of a non-admin user (so each request pays authentication AND the permission check).
# Set in main() before any client process is forked; workers inherit it.
AUTH_MODE = "off"
AUTH_ADMIN = ("bench-admin", "bench-admin-password")
AUTH_USER = ("bench-user", "bench-user-password")
AUTH_HEADERS = {}
HISTORY_PAGE = 25000  # what the mlflow client always asks for (GET_METRIC_HISTORY_MAX_RESULTS)
T0_MS = 1_700_000_000_000  # base timestamp of every logged metric (fixed, so runs are comparable)

# Settings per mode. The ingest numbers are per server; `--duration` etc. override them.
MODES = {
    "full": dict(clients=8, warmup=3.0, duration=30.0, history_points=100_000, repeats=3,
                 big_history_points=1_000_000, client_calls=2000,
                 search_sizes=(1_000, 10_000, 100_000), search_queries=50, search_min_queries=5,
                 search_budget_s=60, wrap_runs=30),
    "quick": dict(clients=8, warmup=1.0, duration=3.0, history_points=10_000, repeats=3,
                  big_history_points=0, client_calls=100, search_sizes=(1_000,),
                  search_queries=20, search_min_queries=5, search_budget_s=20, wrap_runs=5),
}
SEARCH_SLOW_S = 20.0       # search: a first answer slower than this is the only sample
INGEST_BATCH = 1000        # metrics per log-batch request (the server-side maximum)
INGEST_KEYS = 10           # distinct metric keys; a batch holds 100 steps of each
INGEST_BATCHES_PER_RUN = 10
INGEST_PARAMS = 5


def log(msg=""):
    print(msg, flush=True)


# --------------------------------------------------------------------------- processes
def _proc_stat(pid):
    """(ppid, session, utime+stime ticks) of a live process, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode(errors="replace")
    except OSError:
        return None
    fields = data[data.rfind(")") + 2:].split()
    # fields[0] is the state; ppid=1, pgrp=2, session=3, utime=11, stime=12
    try:
        return int(fields[1]), int(fields[3]), int(fields[11]) + int(fields[12])
    except (IndexError, ValueError):
        return None


def process_tree(root):
    """PIDs of `root` and every live process below it, plus anything left in its session
    (we start each server with setsid, so its session id is its own PID)."""
    stats = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _proc_stat(int(name))
            if st:
                stats[int(name)] = st
    tree = {root} if root in stats else set()
    changed = True
    while changed:
        changed = False
        for pid, (ppid, sid, _) in stats.items():
            if pid not in tree and (ppid in tree or sid == root):
                tree.add(pid)
                changed = True
    return tree, stats


def tree_cpu_seconds(root):
    tree, stats = process_tree(root)
    return sum(stats[p][2] for p in tree) / os.sysconf("SC_CLK_TCK")


def tree_rss_mb(root):
    tree, _ = process_tree(root)
    total = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def _still_ours(pid, root):
    st = _proc_stat(pid)
    return st is not None and (st[1] == root or pid == root)


def stop_process_tree(proc, grace=20.0):
    """SIGTERM the server and its workers by PID, wait, then SIGKILL whatever is left.
    Only PIDs in the session we created are ever signalled."""
    root = proc.pid
    tree, _ = process_tree(root)
    tree.add(root)
    for pid in sorted(tree):
        if _still_ours(pid, root):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        proc.poll()
        alive = [p for p in tree if p != root and _still_ours(p, root)]
        if proc.returncode is not None and not alive:
            break
        time.sleep(0.05)
    # Anything still there (including children that appeared meanwhile) gets SIGKILL.
    leftover, _ = process_tree(root)
    for pid in sorted((tree | leftover)):
        if _still_ours(pid, root) and not (pid == root and proc.poll() is not None):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    return proc.returncode


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """A PostgreSQL server for the `postgres` store: the one named by --pg-uri (or
    SEXTANT_TEST_PG_URI, as the test suite exports it), else a throwaway cluster this run starts
    itself (initdb + pg_ctl as the `postgres` user on a temp dir and a free port; stopped at the
    end). Each benchmarked server gets a fresh database on it."""

    def __init__(self, admin_uri=None):
        self.admin_uri = admin_uri
        self.dir = None
        self.bin = None
        self.counter = 0

    def start(self):
        if self.admin_uri:
            log(f"  PostgreSQL: using {self.admin_uri}")
            return
        cands = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not cands:
            raise RuntimeError("no PostgreSQL server binaries (initdb) under /usr/lib/postgresql; "
                               "install the postgresql package or pass --pg-uri")
        self.bin = cands[-1].parent
        self.dir = Path(tempfile.mkdtemp(prefix="sextant-bench-pg-"))
        data = self.dir / "data"
        data.mkdir()
        as_pg = []
        if os.geteuid() == 0:  # initdb and pg_ctl refuse to run as root
            shutil.chown(self.dir, "postgres")
            shutil.chown(data, "postgres")
            os.chmod(self.dir, 0o755)
            as_pg = ["runuser", "-u", "postgres", "--"]
        port = free_port()
        subprocess.run(as_pg + [str(self.bin / "initdb"), "-D", str(data), "-A", "trust", "-U",
                                "postgres", "-E", "UTF8", "--locale=C"],
                       check=True, capture_output=True)
        subprocess.run(as_pg + [str(self.bin / "pg_ctl"), "-D", str(data), "-l",
                                str(data / "server.log"), "-w", "-t", "60", "-o",
                                f"-p {port} -k {data} -c listen_addresses=127.0.0.1 "
                                "-c max_connections=300", "start"],
                       check=True, capture_output=True)
        self.as_pg = as_pg
        self.admin_uri = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        log(f"  PostgreSQL: started a throwaway cluster on port {port} ({self.bin})")

    def uri(self, db):
        base, _, _ = self.admin_uri.rpartition("/")
        return f"{base}/{db}"

    def _admin(self, sql):
        import psycopg2
        con = psycopg2.connect(self.admin_uri)
        con.autocommit = True
        try:
            con.cursor().execute(sql)
        finally:
            con.close()

    def create_database(self, prefix):
        self.counter += 1
        name = f"{prefix}_{os.getpid()}_{self.counter}"
        self._admin(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name):
        try:
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except Exception as e:  # noqa: BLE001 - cleanup; the cluster may be ours and going away
            log(f"  note: could not drop database {name}: {e}")

    def stop(self):
        if self.dir is None:
            return
        subprocess.run(self.as_pg + [str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"),
                                     "-m", "fast", "-w", "-t", "30", "stop"],
                       capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None


class Server:
    """One server (mlflow or sextant) on a free port with its own temporary data dir."""

    def __init__(self, kind, sextant_bin, keep=False, store="sqlite", pg=None):
        self.kind = kind
        self.sextant_bin = sextant_bin
        self.keep = keep
        self.store = store
        self.pg = pg  # a PgCluster when store == "postgres"
        self.pg_db = None
        self.proc = None
        self.dir = None
        self.port = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def backend_uri(self):
        if self.store == "postgres":
            # The driver-qualified form MLflow's SQLAlchemy needs (mlflow 3 would otherwise
            # want psycopg 3); Sextant accepts it as is, so both get the same command line.
            return self.pg.uri(self.pg_db).replace("postgresql://", "postgresql+psycopg2://", 1)
        return f"sqlite:///{self.dir / 'db.sqlite'}"  # absolute: sqlite:////tmp/...

    def db_connect(self):
        """A DB-API connection to this server's store and its placeholder style."""
        if self.store == "postgres":
            import psycopg2
            return psycopg2.connect(self.pg.uri(self.pg_db)), "%s"
        import sqlite3
        return sqlite3.connect(str(self.dir / "db.sqlite"), timeout=60), "?"

    def command(self):
        args = ["--host", "127.0.0.1", "--port", str(self.port),
                "--backend-store-uri", self.backend_uri(),
                "--artifacts-destination", str(self.dir / "artifacts")]
        if self.kind == "mlflow":
            return [str(Path(sys.executable).parent / "mlflow"), "server", *args]
        if AUTH_MODE != "off":
            args += ["--auth", "--admin-user", AUTH_ADMIN[0]]
        return [str(self.sextant_bin), "server", *args]

    def setup_auth(self):
        """With --auth: a non-admin user, and (token mode) an API token of theirs; the clients'
        credentials go into AUTH_HEADERS."""
        import base64
        global AUTH_HEADERS
        admin = {"Authorization": "Basic " + base64.b64encode(":".join(AUTH_ADMIN).encode()).decode()}
        user = {"Authorization": "Basic " + base64.b64encode(":".join(AUTH_USER).encode()).decode()}
        sess = requests.Session()
        sess.trust_env = False
        r = sess.post(self.url + "/api/2.0/mlflow/users/create", headers=admin,
                      json={"username": AUTH_USER[0], "password": AUTH_USER[1]}, timeout=30)
        if r.status_code != 200:
            raise RuntimeError(f"cannot create the bench user: {r.status_code} {r.text[:300]}")
        if AUTH_MODE == "basic":
            AUTH_HEADERS = user
        else:
            r = sess.post(self.url + "/api/sextant/v1/tokens", headers=user,
                          json={"name": "bench", "expires_in_seconds": 3600}, timeout=30)
            if r.status_code != 200:
                raise RuntimeError(f"cannot create a token: {r.status_code} {r.text[:300]}")
            AUTH_HEADERS = {"Authorization": "Bearer " + r.json()["secret"]}

    def start(self, timeout=180):
        self.dir = Path(tempfile.mkdtemp(prefix=f"sextant-bench-{self.kind}-"))
        (self.dir / "artifacts").mkdir()
        if self.store == "postgres":
            self.pg_db = self.pg.create_database(f"bench_{self.kind}")
        self.port = free_port()
        cmd = self.command()
        env = dict(os.environ)
        if AUTH_MODE != "off":
            env["SEXTANT_ADMIN_PASSWORD"] = AUTH_ADMIN[1]
        env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        env.setdefault("DO_NOT_TRACK", "true")
        t0 = time.monotonic()
        with open(self.dir / "server.log", "wb") as logf:
            logf.write(("$ " + " ".join(cmd) + "\n").encode())
            logf.flush()
            self.proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.dir, env=env,
                                         start_new_session=True)
        sess = requests.Session()
        sess.trust_env = False
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} server exited with {self.proc.returncode} "
                                   f"while starting; log tail:\n{self.log_tail()}")
            try:
                r = sess.get(self.url + "/health", timeout=2)
                if r.status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"{self.kind} server not healthy after {timeout}s; "
                                   f"log tail:\n{self.log_tail()}")
            time.sleep(0.1)
        self.startup_s = time.monotonic() - t0
        if self.kind == "sextant" and AUTH_MODE != "off":
            self.setup_auth()
        log(f"  {self.kind} server up on port {self.port} (pid {self.proc.pid}, "
            f"healthy after {self.startup_s:.1f}s)")

    def log_tail(self, n=3000):
        try:
            return (self.dir / "server.log").read_text(errors="replace")[-n:]
        except OSError:
            return "(no log)"

    def cpu_seconds(self):
        return tree_cpu_seconds(self.proc.pid)

    def rss_mb(self):
        return tree_rss_mb(self.proc.pid)

    def stop(self):
        if self.proc is not None:
            proc, self.proc = self.proc, None
            if proc.poll() is None or process_tree(proc.pid)[0]:
                stop_process_tree(proc)
        if self.pg_db is not None:
            db, self.pg_db = self.pg_db, None
            if not self.keep:
                self.pg.drop_database(db)
        if self.dir is not None:
            if self.keep:
                log(f"  kept {self.dir}")
            else:
                shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


# --------------------------------------------------------------------------- HTTP helpers
def new_session():
    s = requests.Session()
    s.trust_env = False  # never route 127.0.0.1 through a proxy from the environment
    s.headers.update(AUTH_HEADERS)
    return s


def call(session, method, url, path, body=None, params=None, timeout=300):
    r = session.request(method, url + path, params=params,
                        data=None if body is None else json.dumps(body),
                        headers=JSON_HEADERS if body is not None else None, timeout=timeout)
    if r.status_code != 200:
        raise RuntimeError(f"{method} {path} -> {r.status_code}: {r.text[:500]}")
    return r.json()


def create_experiment(session, url, name):
    return call(session, "POST", url, "/api/2.0/mlflow/experiments/create", {"name": name})["experiment_id"]


def create_run_body(exp_id, name):
    """What `mlflow.start_run` sends."""
    return {"experiment_id": exp_id, "user_id": "bench", "start_time": int(time.time() * 1000),
            "run_name": name,
            "tags": [{"key": "mlflow.user", "value": "bench"},
                     {"key": "mlflow.source.name", "value": "bench.py"},
                     {"key": "mlflow.source.type", "value": "LOCAL"},
                     {"key": "mlflow.runName", "value": name}]}


def create_run(session, url, exp_id, name):
    return call(session, "POST", url, "/api/2.0/mlflow/runs/create",
                create_run_body(exp_id, name))["run"]["info"]["run_id"]


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, math.ceil(p / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


# --------------------------------------------------------------------------- ingest
def ingest_batches():
    """The metric part of each log-batch body of a run, serialized once up front so that the
    client spends (almost) no CPU building requests: INGEST_BATCHES_PER_RUN batches of
    INGEST_BATCH metrics, INGEST_KEYS keys x (INGEST_BATCH / INGEST_KEYS) steps each."""
    steps_per_batch = INGEST_BATCH // INGEST_KEYS
    out = []
    for b in range(INGEST_BATCHES_PER_RUN):
        metrics = []
        for j in range(INGEST_BATCH):
            k, step = j % INGEST_KEYS, b * steps_per_batch + j // INGEST_KEYS
            metrics.append({"key": f"metric_{k}", "value": 1.0 / (1.0 + step * 0.01 + k),
                            "timestamp": T0_MS + step, "step": step})
        out.append(json.dumps(metrics, separators=(",", ":")).encode())
    return out


def ingest_worker(idx, url, exp_id, warmup, duration, ready_q, go, start_at, result_q):
    """One client process: create runs and log params and metric batches until the deadline.
    Only requests that complete inside the measured window count."""
    try:
        session = new_session()
        session.get(url + "/health", timeout=30)  # open the connection before the clock starts
        batches = ingest_batches()
        params = json.dumps([{"key": f"param_{i}", "value": f"value-{i}-{idx}"}
                             for i in range(INGEST_PARAMS)]).encode()
        u_create = url + "/api/2.0/mlflow/runs/create"
        u_batch = url + "/api/2.0/mlflow/runs/log-batch"
        u_update = url + "/api/2.0/mlflow/runs/update"
        ready_q.put(idx)
        go.wait()
        t_start = start_at.value
        t_window = t_start + warmup
        t_end = t_window + duration
        while time.monotonic() < t_start:
            time.sleep(0.001)

        lat = {"create": [], "params": [], "metrics": [], "update": []}
        errors = {k: 0 for k in lat}
        requests_total = {k: 0 for k in lat}
        error_samples = []
        points = 0
        runs_done = 0
        state = {"cpu_a": None}
        verify_run = None

        def post(kind, u, body, n_points=0):
            nonlocal points
            t = time.monotonic()
            if state["cpu_a"] is None and t >= t_window:
                state["cpu_a"] = (time.process_time(), t)
            resp, ok = None, False
            try:
                resp = session.post(u, data=body, headers=JSON_HEADERS, timeout=300)
                ok = resp.status_code == 200
                err = None if ok else f"{kind}: HTTP {resp.status_code} {resp.text[:300]}"
            except requests.RequestException as e:
                err = f"{kind}: {e!r}"[:400]
            t2 = time.monotonic()
            requests_total[kind] += 1
            if not ok:
                errors[kind] += 1
                if len(error_samples) < 5:
                    error_samples.append(err)
            elif t_window <= t2 <= t_end:
                lat[kind].append(t2 - t)
                points += n_points
            return resp if ok else None

        n = 0
        while time.monotonic() < t_end:
            n += 1
            name = f"w{idx}-r{n}"
            resp = post("create", u_create, json.dumps(create_run_body(exp_id, name)).encode())
            if resp is None:
                time.sleep(0.01)
                continue
            run_id = resp.json()["run"]["info"]["run_id"]
            rid = run_id.encode()
            params_ok = post("params", u_batch,
                             b'{"run_id":"' + rid + b'","params":' + params + b"}") is not None
            batches_ok = 0
            for b in batches:
                if time.monotonic() >= t_end:
                    break
                if post("metrics", u_batch, b'{"run_id":"' + rid + b'","metrics":' + b + b"}",
                        INGEST_BATCH) is not None:
                    batches_ok += 1
            if time.monotonic() < t_end:
                post("update", u_update, json.dumps(
                    {"run_id": run_id, "run_uuid": run_id, "status": "FINISHED",
                     "end_time": int(time.time() * 1000)}).encode())
            if batches_ok == len(batches):
                runs_done += 1
            if verify_run is None and params_ok and batches_ok:
                verify_run = (run_id, batches_ok)
        t_stop = time.monotonic()
        cpu_b = time.process_time()
        cpu_a, t_a = state["cpu_a"] or (cpu_b, t_stop)
        result_q.put({"idx": idx, "lat": lat, "errors": errors, "requests": requests_total,
                      "error_samples": error_samples, "points": points, "runs_done": runs_done,
                      "verify_run": verify_run, "client_cpu_s": cpu_b - cpu_a,
                      "client_wall_s": t_stop - t_a})
    except BaseException as e:  # report instead of hanging the parent
        result_q.put({"idx": idx, "fatal": f"{e!r}\n{traceback.format_exc()}"})
        ready_q.put(idx)  # in case it failed before it was ready: the parent must not wait


def workload_ingest(server, cfg):
    url = server.url
    s = new_session()
    exp_id = create_experiment(s, url, "bench-ingest")
    ctx = mp.get_context("fork")
    ready_q, result_q = ctx.Queue(), ctx.Queue()
    go = ctx.Event()
    start_at = ctx.Value("d", 0.0)
    n = cfg["clients"]
    warmup, duration = cfg["warmup"], cfg["duration"]
    procs = [ctx.Process(target=ingest_worker, daemon=True,
                         args=(i, url, exp_id, warmup, duration, ready_q, go, start_at, result_q))
             for i in range(n)]
    results = []
    try:
        for p in procs:
            p.start()
        for _ in range(n):
            ready_q.get(timeout=60)
        start_at.value = time.monotonic() + 0.2
        go.set()
        t_window = start_at.value + warmup
        t_end = t_window + duration
        while time.monotonic() < t_window:
            time.sleep(0.005)
        srv_cpu_a = server.cpu_seconds()
        while time.monotonic() < t_end:
            time.sleep(0.005)
        srv_cpu_b = server.cpu_seconds()
        rss = server.rss_mb()
        for _ in range(n):
            results.append(result_q.get(timeout=duration + 600))
        for p in procs:
            p.join(timeout=30)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join(timeout=5)

    fatal = [r["fatal"] for r in results if "fatal" in r]
    if fatal:
        raise RuntimeError("ingest client failed:\n" + fatal[0])

    lat = {k: sorted(x for r in results for x in r["lat"][k]) for k in results[0]["lat"]}
    errors = {k: sum(r["errors"][k] for r in results) for k in lat}
    reqs = {k: sum(r["requests"][k] for r in results) for k in lat}
    points = sum(r["points"] for r in results)
    client_cpu = sum(r["client_cpu_s"] for r in results)
    client_cores = sum(r["client_cpu_s"] / r["client_wall_s"] for r in results if r["client_wall_s"] > 0)
    out = {
        "clients": n, "warmup_s": warmup, "duration_s": duration,
        "metrics_per_batch": INGEST_BATCH, "batches_per_run": INGEST_BATCHES_PER_RUN,
        "params_per_run": INGEST_PARAMS,
        "metric_points": points,
        "points_per_s": points / duration,
        "log_batch_requests_per_s": len(lat["metrics"]) / duration,
        "runs_completed": sum(r["runs_done"] for r in results),
        "latency_ms": {k: {"count": len(v),
                           "p50": _ms(percentile(v, 50)), "p99": _ms(percentile(v, 99)),
                           "mean": _ms(statistics.fmean(v)) if v else None}
                       for k, v in lat.items()},
        "requests": reqs,
        "errors": errors,
        "error_samples": [e for r in results for e in r["error_samples"]][:5],
        "client_cpu_s": client_cpu,
        "client_cores_used": client_cores,
        "server_cpu_s": srv_cpu_b - srv_cpu_a,
        "server_cores_used": (srv_cpu_b - srv_cpu_a) / duration,
        "server_rss_mb": rss,
    }
    # Spot check: a run holds exactly the params and points that were acknowledged.
    verify = next((r["verify_run"] for r in results if r["verify_run"]), None)
    out["verified"] = False
    out["verify_problems"] = ["no run got its params and a metric batch logged"]
    if verify:
        run_id, batches_ok = verify
        steps = batches_ok * INGEST_BATCH // INGEST_KEYS
        hist = read_history(s, url, run_id, "metric_0")
        run = call(s, "GET", url, "/api/2.0/mlflow/runs/get", params={"run_id": run_id})["run"]
        got_params = {p["key"] for p in run.get("data", {}).get("params", [])}
        problems = []
        if len(hist["metrics"]) != steps:
            problems.append(f"metric_0 history has {len(hist['metrics'])} points, expected {steps}")
        elif sorted(m["step"] for m in hist["metrics"]) != list(range(steps)):
            problems.append("metric_0 history steps are not 0..n-1")
        if got_params != {f"param_{i}" for i in range(INGEST_PARAMS)}:
            problems.append(f"run params {sorted(got_params)}")
        out["verified"] = not problems
        out["verify_problems"] = problems
    if server.kind == "sextant" and server.store == "sqlite" and points:
        out["raw_sqlite"] = raw_sqlite_insert(server, points)
    return out


def raw_sqlite_insert(server, points):
    """The physical limit for the ingest figure: the same number of metric points (same series
    layout: 10 keys x 100 steps per batch) inserted into a fresh SQLite file with Sextant's own
    metric_points table and index and its write pragmas, in ONE transaction, by SQLite's C
    loop (executemany) — no HTTP, no JSON, no per-request transaction."""
    import sqlite3

    src = sqlite3.connect(str(server.dir / "db.sqlite"), timeout=60)
    ddl = [r[0] for r in src.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'metric_points' AND sql IS NOT NULL "
        "ORDER BY type DESC")]  # the table, then its indexes
    src.close()
    path = server.dir / "raw.sqlite"
    con = sqlite3.connect(str(path), isolation_level=None)
    con.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                      "PRAGMA temp_store=MEMORY; PRAGMA cache_size=-16384;")
    for stmt in ddl:
        con.execute(stmt)
    per_run = INGEST_BATCH * INGEST_BATCHES_PER_RUN
    steps = INGEST_BATCH // INGEST_KEYS

    def rows():
        for i in range(points):
            run, j = divmod(i, per_run)
            batch, k = divmod(j, INGEST_BATCH)
            key, step = divmod(k, steps)
            yield (run * INGEST_KEYS + key + 1, T0_MS + batch * steps + step,
                   batch * steps + step, 0.5 + k * 1e-6, 0)

    t = time.perf_counter()
    con.execute("BEGIN")
    con.executemany("INSERT INTO metric_points (series_id, timestamp, step, value, is_nan) "
                    "VALUES (?, ?, ?, ?, ?)", rows())
    con.execute("COMMIT")
    secs = time.perf_counter() - t
    con.close()
    for f in server.dir.glob("raw.sqlite*"):
        f.unlink()
    return {"points": points, "seconds": secs, "points_per_s": points / secs}


def _ms(x):
    return None if x is None else x * 1000


# --------------------------------------------------------------------------- history
def history_value(i):
    return 1.0 / (1.0 + i * 1e-4) + (i % 7) * 1e-9


def log_history(session, url, run_id, key, n):
    """Log n points of one metric with log-batch, INGEST_BATCH per request; returns seconds."""
    t = time.monotonic()
    for start in range(0, n, INGEST_BATCH):
        metrics = [{"key": key, "value": history_value(i), "timestamp": T0_MS + i, "step": i}
                   for i in range(start, min(n, start + INGEST_BATCH))]
        r = session.post(url + "/api/2.0/mlflow/runs/log-batch", headers=JSON_HEADERS,
                         data=json.dumps({"run_id": run_id, "metrics": metrics}), timeout=300)
        if r.status_code != 200:
            raise RuntimeError(f"log-batch -> {r.status_code}: {r.text[:500]}")
    return time.monotonic() - t


def read_history(session, url, run_id, key):
    """Read a whole metric history the way MlflowClient.get_metric_history does: GET with
    max_results=25000, then follow next_page_token until there is none."""
    t = time.monotonic()
    metrics, pages, nbytes, decode_s = [], 0, 0, 0.0
    token = None
    while True:
        params = {"run_uuid": run_id, "metric_key": key, "run_id": run_id,
                  "max_results": HISTORY_PAGE}
        if token:
            params["page_token"] = token
        r = session.get(url + "/api/2.0/mlflow/metrics/get-history", params=params, timeout=600)
        if r.status_code != 200:
            raise RuntimeError(f"get-history -> {r.status_code}: {r.text[:500]}")
        pages += 1
        nbytes += len(r.content)
        td = time.monotonic()
        body = r.json()
        decode_s += time.monotonic() - td
        metrics.extend(body.get("metrics", []))
        token = body.get("next_page_token")
        if not token:
            break
        if pages > 100_000:
            raise RuntimeError("get-history: more than 100,000 pages; a page token loops?")
    return {"seconds": time.monotonic() - t, "metrics": metrics, "pages": pages,
            "bytes": nbytes, "decode_s": decode_s}


def check_history(metrics, n):
    """(fatal, other) problems of a read-back history. Fatal: points missing, extra or
    out of order, so the read did not really complete. Other: values or timestamps that differ
    from what was logged (recorded and reported, but the timing still stands)."""
    if len(metrics) != n:
        return [f"read {len(metrics)} points, logged {n}"], []
    steps = [m.get("step", 0) for m in metrics]
    if steps != list(range(n)):
        if sorted(steps) == list(range(n)):
            return ["points not in step order"], []
        return [f"steps differ from 0..{n - 1}"], []
    bad = [m for m in metrics if m.get("value") != history_value(m["step"])
           or m.get("timestamp") != T0_MS + m["step"]]
    if bad:
        m = bad[0]
        return [], [f"{len(bad)} of {n} points differ from what was logged, e.g. step "
                    f"{m['step']}: logged value {history_value(m['step'])!r} timestamp "
                    f"{T0_MS + m['step']}, read back value {m.get('value')!r} timestamp "
                    f"{m.get('timestamp')}"]
    return [], []


def timed_reads(session, url, run_id, key, n, repeats):
    reads, data_problems = [], []
    for _ in range(repeats):
        h = read_history(session, url, run_id, key)
        fatal, other = check_history(h["metrics"], n)
        if fatal:
            raise RuntimeError(f"get-history returned wrong data for {n} points: "
                               + "; ".join(fatal))
        data_problems = data_problems or other
        reads.append({k: h[k] for k in ("seconds", "pages", "bytes", "decode_s")})
        del h
    med = statistics.median(r["seconds"] for r in reads)
    return {"points": n, "seconds_median": med,
            "http_seconds_median": statistics.median(r["seconds"] - r["decode_s"] for r in reads),
            "points_per_s": n / med, "pages": reads[0]["pages"], "bytes": reads[0]["bytes"],
            "reads": reads, "data_problems": data_problems}


def workload_history(server, cfg):
    url = server.url
    s = new_session()
    exp_id = create_experiment(s, url, "bench-history")
    n = cfg["history_points"]
    run_id = create_run(s, url, exp_id, "history")
    log_s = log_history(s, url, run_id, "loss", n)
    out = {"points": n, "page_size": HISTORY_PAGE, "repeats": cfg["repeats"], "log_seconds": log_s}
    out["read"] = timed_reads(s, url, run_id, "loss", n, cfg["repeats"])
    big = cfg["big_history_points"]
    if big and server.kind == "sextant":
        run_big = create_run(s, url, exp_id, "history-big")
        out["big_log_seconds"] = log_history(s, url, run_big, "loss", big)
        out["big_read"] = timed_reads(s, url, run_big, "loss", big, cfg["repeats"])
    out["server_rss_mb"] = server.rss_mb()
    return out


def workload_client(server, cfg):
    """The logging loop a user writes with the official client: one `log_metric` call per step,
    one `log_param` and `set_tag` per setting. Measures per-call latency as the user sees it
    (the client's own overhead included, identical against either server)."""
    from mlflow import MlflowClient

    c = MlflowClient(tracking_uri=server.url)
    exp_id = c.create_experiment(f"bench-client-{os.getpid()}-{time.time_ns()}")
    run_id = c.create_run(exp_id).info.run_id
    for i in range(20):  # warm-up: connection pool, server caches
        c.log_metric(run_id, "warmup", float(i), step=i)
    n = cfg["client_calls"]
    lat = []
    t0 = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        c.log_metric(run_id, "loss", 1.0 / (i + 1), step=i, timestamp=T0_MS + i)
        lat.append(time.perf_counter() - t)
    total = time.perf_counter() - t0
    plat = []
    for i in range(max(10, n // 10)):
        t = time.perf_counter()
        c.log_param(run_id, f"p{i}", str(i))
        plat.append(time.perf_counter() - t)
    lat.sort()
    plat.sort()
    hist = c.get_metric_history(run_id, "loss")
    problems = []
    if len(hist) != n:
        problems.append(f"logged {n} points, read back {len(hist)}")
    elif any(m.step != i or m.value != 1.0 / (i + 1) for i, m in enumerate(hist)):
        problems.append("points read back differ from what was logged")
    return {"calls": n, "seconds": total, "calls_per_s": n / total,
            "latency_ms": {"p50": percentile(lat, 50) * 1000, "p99": percentile(lat, 99) * 1000},
            "param_latency_ms": {"p50": percentile(plat, 50) * 1000,
                                 "p99": percentile(plat, 99) * 1000},
            "verified": not problems, "verify_problems": problems,
            "server_rss_mb": server.rss_mb()}


SEARCH_FILTER = "metrics.acc > 0.5 AND params.optimizer = 'adam'"
SEARCH_ORDER = ["metrics.acc DESC"]
SEARCH_PAGE = 100


def search_run_rows(start, stop, total):
    """Deterministic runs: a unique accuracy per run (a permutation of 0..total-1, so the order
    has no ties and both servers must return the same runs), two params, one tag."""
    for i in range(start, stop):
        acc = ((i * 7_919) % total) / total
        yield {"run_id": f"{i:08d}" + "0" * 24, "name": f"run-{i}", "acc": acc,
               "loss": 1.0 - acc, "lr": ("0.1", "0.01", "0.001")[i % 3],
               "optimizer": ("adam", "sgd")[i % 2], "problem": f"p{i % 50}",
               "start": T0_MS + i}


def _executemany(con, ph, sql, rows):
    con.cursor().executemany(sql.replace("?", ph), rows)


def populate_mlflow(server, exp_id, rows):
    """Write runs straight into mlflow's schema (its REST API would need hours for 100,000
    runs); the running server reads them like any others."""
    con, ph = server.db_connect()
    artifact_root = str(server.dir / "artifacts")
    try:
        with con:
            _executemany(con, ph,
                "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
                "user_id, status, start_time, end_time, source_version, lifecycle_stage, "
                "artifact_uri, experiment_id) VALUES (?, ?, 'LOCAL', '', '', 'bench', 'FINISHED', "
                "?, ?, '', 'active', ?, ?)",
                [(r["run_id"], r["name"], r["start"], r["start"] + 1,
                  f"{artifact_root}/{exp_id}/{r['run_id']}/artifacts", int(exp_id)) for r in rows])
            for key in ("acc", "loss"):
                _executemany(con, ph, "INSERT INTO metrics (key, value, timestamp, run_uuid, step, "
                             "is_nan) VALUES (?, ?, ?, ?, 0, ?)",
                             [(key, r[key], r["start"], r["run_id"], False) for r in rows])
                _executemany(con, ph, "INSERT INTO latest_metrics (key, value, timestamp, step, "
                             "is_nan, run_uuid) VALUES (?, ?, ?, 0, ?, ?)",
                             [(key, r[key], r["start"], False, r["run_id"]) for r in rows])
            for key in ("lr", "optimizer"):
                _executemany(con, ph, "INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
                             [(key, r[key], r["run_id"]) for r in rows])
            _executemany(con, ph, "INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
                         [(k, v, r["run_id"]) for r in rows
                          for k, v in (("problem", r["problem"]), ("mlflow.runName", r["name"]))])
    finally:
        con.close()


def populate_sextant(server, exp_id, rows):
    """The same runs written straight into Sextant's schema, the same way."""
    con, ph = server.db_connect()
    try:
        with con:
            _executemany(con, ph,
                "INSERT INTO runs (run_uuid, experiment_id, name, user_id, status, start_time, "
                "end_time, artifact_uri, lifecycle_stage) VALUES (?, ?, ?, 'bench', 'FINISHED', "
                "?, ?, ?, 'active')",
                [(r["run_id"], int(exp_id), r["name"], r["start"], r["start"] + 1,
                  f"mlflow-artifacts:/{exp_id}/{r['run_id']}/artifacts") for r in rows])
            for key in ("acc", "loss"):
                _executemany(con, ph, "INSERT INTO latest_metrics (run_uuid, key, step, timestamp, "
                             "value, is_nan) VALUES (?, ?, 0, ?, ?, 0)",
                             [(r["run_id"], key, r["start"], r[key]) for r in rows])
                _executemany(con, ph, "INSERT INTO metric_series (run_uuid, key) VALUES (?, ?)",
                             [(r["run_id"], key) for r in rows])
                con.cursor().execute(
                    "INSERT INTO metric_points (series_id, timestamp, step, value, is_nan) "
                    "SELECT s.series_id, l.timestamp, 0, l.value, 0 FROM latest_metrics l "
                    "JOIN metric_series s ON s.run_uuid = l.run_uuid AND s.key = l.key "
                    "WHERE l.key = ? AND NOT EXISTS (SELECT 1 FROM metric_points p "
                    "WHERE p.series_id = s.series_id)".replace("?", ph), (key,))
            for key in ("lr", "optimizer"):
                _executemany(con, ph, "INSERT INTO params (run_uuid, key, value) VALUES (?, ?, ?)",
                             [(r["run_id"], key, r[key]) for r in rows])
            _executemany(con, ph, "INSERT INTO tags (run_uuid, key, value) VALUES (?, ?, ?)",
                         [(r["run_id"], k, v) for r in rows
                          for k, v in (("problem", r["problem"]), ("mlflow.runName", r["name"]))])
    finally:
        con.close()


def analyze_after_load(server):
    """On PostgreSQL, what autovacuum does shortly after a bulk load (fresh planner
    statistics), for either server alike; SQLite needs nothing."""
    if server.store != "postgres":
        return
    con, _ = server.db_connect()
    con.autocommit = True
    try:
        con.cursor().execute("ANALYZE")
    finally:
        con.close()


def workload_search(server, cfg):
    """`runs/search` with a metric and a param filter and a metric order-by, over growing
    numbers of runs in one experiment: p50/p99 latency of the first page (100 runs)."""
    s = new_session()
    url = server.url
    exp_id = create_experiment(s, url, f"bench-search-{time.time_ns()}")
    sizes = sorted(cfg["search_sizes"])
    total = sizes[-1]
    out = {"filter": SEARCH_FILTER, "order_by": SEARCH_ORDER, "page": SEARCH_PAGE, "sizes": {}}
    have = 0
    matching = []  # (acc, name) of every run the filter should match so far
    for n in sizes:
        rows = list(search_run_rows(have, n, total))
        matching += [(r["acc"], r["name"]) for r in rows
                     if r["acc"] > 0.5 and r["optimizer"] == "adam"]
        expected = [name for _, name in sorted(matching, reverse=True)[:SEARCH_PAGE]]
        t = time.monotonic()
        if server.kind == "mlflow":
            populate_mlflow(server, exp_id, rows)
        else:
            populate_sextant(server, exp_id, rows)
        analyze_after_load(server)
        populate_s = time.monotonic() - t
        have = n
        body = {"experiment_ids": [exp_id], "filter": SEARCH_FILTER, "order_by": SEARCH_ORDER,
                "max_results": SEARCH_PAGE}
        t = time.perf_counter()
        first = call(s, "POST", url, "/api/2.0/mlflow/runs/search", body)  # warm-up; the answer
        first_s = time.perf_counter() - t
        lat = []
        # Up to search_queries queries, but a slow server stops after search_budget_s once it
        # has answered search_min_queries (mlflow needs seconds per query at 100,000 runs); the
        # count is reported beside the percentiles. A query slower than SEARCH_SLOW_S gains
        # nothing from a warm-up (mlflow needs minutes at 100,000 runs): that first answer is the
        # one sample.
        if first_s > SEARCH_SLOW_S:
            lat.append(first_s)
        budget_end = time.monotonic() + cfg["search_budget_s"]
        for i in range(cfg["search_queries"]):
            if lat and lat[0] > SEARCH_SLOW_S:
                break
            if i >= cfg["search_min_queries"] and time.monotonic() > budget_end:
                break
            t = time.perf_counter()
            call(s, "POST", url, "/api/2.0/mlflow/runs/search", body)
            lat.append(time.perf_counter() - t)
        lat.sort()
        names = [next((tg["value"] for tg in r["data"].get("tags", [])
                       if tg["key"] == "mlflow.runName"), r["info"].get("run_name"))
                 for r in first.get("runs", [])]
        out["sizes"][str(n)] = {"runs": n, "populate_seconds": populate_s,
                                "queries": len(lat),
                                "p50_ms": percentile(lat, 50) * 1000,
                                "p99_ms": percentile(lat, 99) * 1000,
                                "returned": names, "expected": expected}
    out["server_rss_mb"] = server.rss_mb()
    return out


def workload_wrap(server, cfg):
    """`sextant run -- true` against `true` alone: what tracking a command costs (creating the
    run, git and environment records, the log artifacts, finishing the run), median wall time
    of cfg["wrap_runs"] executions each. Against mlflow server too: `sextant run` speaks
    MLflow's REST API, so the same command tracks into either server."""
    work = Path(tempfile.mkdtemp(prefix="sextant-bench-wrap-"))
    env = dict(os.environ, MLFLOW_TRACKING_URI=server.url)
    env.pop("MLFLOW_RUN_ID", None)
    env.pop("SEXTANT_RUN_ID", None)
    wrapped = [str(server.sextant_bin), "run", "--experiment", "bench-wrap", "--", "true"]

    def timed(cmd):
        t = time.perf_counter()
        r = subprocess.run(cmd, cwd=work, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
        dt = time.perf_counter() - t
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: "
                               f"{r.stderr.decode(errors='replace')[-500:]}")
        return dt

    try:
        timed(wrapped)  # warm-up: the experiment is created, caches are warm
        plain, tracked = [], []
        for _ in range(cfg["wrap_runs"]):
            plain.append(timed(["true"]))
            tracked.append(timed(wrapped))
        s = new_session()
        exp = call(s, "GET", server.url, "/api/2.0/mlflow/experiments/get-by-name",
                   params={"experiment_name": "bench-wrap"})["experiment"]["experiment_id"]
        runs = call(s, "POST", server.url, "/api/2.0/mlflow/runs/search",
                    {"experiment_ids": [exp], "max_results": 1000})["runs"]
        finished = sum(1 for r in runs if r["info"]["status"] == "FINISHED")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    p50 = statistics.median(plain) * 1000
    w50 = statistics.median(tracked) * 1000
    return {"runs": cfg["wrap_runs"], "plain_ms_median": p50, "wrapped_ms_median": w50,
            "overhead_ms_median": w50 - p50, "wrapped_ms_p99": percentile(sorted(tracked), 99) * 1000,
            "runs_recorded": len(runs), "runs_finished": finished,
            "verified": finished == cfg["wrap_runs"] + 1,
            "verify_problems": [] if finished == cfg["wrap_runs"] + 1 else
            [f"{finished} FINISHED runs recorded, expected {cfg['wrap_runs'] + 1}"]}


WORKLOAD_FUNCS = {"ingest": workload_ingest, "history": workload_history,
                  "client": workload_client, "search": workload_search, "wrap": workload_wrap}


# --------------------------------------------------------------------------- reporting
def rows_for(workload, res, cfg):
    """(metric, mlflow value, sextant value, higher_is_better, format) rows of one workload."""
    m, x = res.get("mlflow") or {}, res.get("sextant") or {}

    def g(d, *path):
        for p in path:
            if not isinstance(d, dict) or d.get(p) is None:
                return None
            d = d[p]
        return d

    if workload == "ingest":
        return [
            ("metric points/s", g(m, "points_per_s"), g(x, "points_per_s"), True, "{:,.0f}"),
            ("log-batch requests/s", g(m, "log_batch_requests_per_s"),
             g(x, "log_batch_requests_per_s"), True, "{:,.1f}"),
            ("log-batch p50 latency (ms)", g(m, "latency_ms", "metrics", "p50"),
             g(x, "latency_ms", "metrics", "p50"), False, "{:,.1f}"),
            ("log-batch p99 latency (ms)", g(m, "latency_ms", "metrics", "p99"),
             g(x, "latency_ms", "metrics", "p99"), False, "{:,.1f}"),
            ("runs/create p50 latency (ms)", g(m, "latency_ms", "create", "p50"),
             g(x, "latency_ms", "create", "p50"), False, "{:,.1f}"),
            ("runs/create p99 latency (ms)", g(m, "latency_ms", "create", "p99"),
             g(x, "latency_ms", "create", "p99"), False, "{:,.1f}"),
            ("failed requests", _sum(g(m, "errors")), _sum(g(x, "errors")), None, "{:,}"),
            ("server CPU cores used", g(m, "server_cores_used"), g(x, "server_cores_used"),
             None, "{:.2f}"),
            ("client CPU cores used", g(m, "client_cores_used"), g(x, "client_cores_used"),
             None, "{:.2f}"),
            ("server memory, RSS (MB)", g(m, "server_rss_mb"), g(x, "server_rss_mb"), None,
             "{:,.0f}"),
        ] + ([
            ("raw SQLite insert, same rows, one transaction (points/s)", None,
             g(x, "raw_sqlite", "points_per_s"), None, "{:,.0f}"),
            ("sextant ingest as a share of that limit (%)", None,
             100 * g(x, "points_per_s") / g(x, "raw_sqlite", "points_per_s"), None, "{:.0f}"),
        ] if g(x, "raw_sqlite", "points_per_s") and g(x, "points_per_s") else [])
    if workload == "search":
        rows = []
        for n in cfg["search_sizes"]:
            k = str(n)
            rows += [
                (f"{_k(n)} runs: p50 latency (ms)", g(m, "sizes", k, "p50_ms"),
                 g(x, "sizes", k, "p50_ms"), False, "{:,.1f}"),
                (f"{_k(n)} runs: p99 latency (ms)", g(m, "sizes", k, "p99_ms"),
                 g(x, "sizes", k, "p99_ms"), False, "{:,.1f}"),
            ]
        return rows
    if workload == "wrap":
        return [
            ("`true` alone, median (ms)", g(m, "plain_ms_median"), g(x, "plain_ms_median"), None,
             "{:.1f}"),
            ("`sextant run -- true`, median (ms)", g(m, "wrapped_ms_median"),
             g(x, "wrapped_ms_median"), False, "{:.1f}"),
            ("overhead of tracking the command (ms)", g(m, "overhead_ms_median"),
             g(x, "overhead_ms_median"), False, "{:.1f}"),
        ]
    if workload == "client":
        return [
            ("log_metric calls/s", g(m, "calls_per_s"), g(x, "calls_per_s"), True, "{:,.0f}"),
            ("log_metric p50 latency (ms)", g(m, "latency_ms", "p50"), g(x, "latency_ms", "p50"),
             False, "{:.2f}"),
            ("log_metric p99 latency (ms)", g(m, "latency_ms", "p99"), g(x, "latency_ms", "p99"),
             False, "{:.2f}"),
            ("log_param p50 latency (ms)", g(m, "param_latency_ms", "p50"),
             g(x, "param_latency_ms", "p50"), False, "{:.2f}"),
        ]
    n = cfg["history_points"]
    rows = [
        (f"read {_k(n)} points, end to end (s)", g(m, "read", "seconds_median"),
         g(x, "read", "seconds_median"), False, "{:.3f}"),
        ("  of which HTTP, excl. client JSON decode (s)", g(m, "read", "http_seconds_median"),
         g(x, "read", "http_seconds_median"), False, "{:.3f}"),
        (f"log {_k(n)} points, 1000/batch (s)", g(m, "log_seconds"), g(x, "log_seconds"), False,
         "{:.3f}"),
    ]
    big = cfg["big_history_points"]
    if big and "sextant" in res:
        rows += [
            (f"read {_k(big)} points, end to end (s)", "skipped", g(x, "big_read", "seconds_median"),
             False, "{:.3f}"),
            ("  of which HTTP, excl. client JSON decode (s)", "skipped",
             g(x, "big_read", "http_seconds_median"), False, "{:.3f}"),
        ]
    rows.append(("server memory, RSS (MB)", g(m, "server_rss_mb"), g(x, "server_rss_mb"), None,
                 "{:,.0f}"))
    return rows


def _sum(d):
    return None if d is None else sum(d.values())


def _k(n):
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return f"{n:,}"


def ratio(mv, xv, higher_better):
    if higher_better is None or not mv or not xv:
        return None
    return xv / mv if higher_better else mv / xv


def render_table(label, res, cfg, workload):
    rows = rows_for(workload, res, cfg)
    table = [("workload", "metric", "mlflow", "sextant", "ratio")]
    out_rows = []
    for metric, mv, xv, hb, fmt in rows:
        r = ratio(mv, xv, hb) if not isinstance(mv, str) else None
        m_txt = mv if isinstance(mv, str) else (fmt.format(mv) if mv is not None else "-")
        table.append((label, metric, m_txt, fmt.format(xv) if xv is not None else "-",
                      f"{r:.1f}x" if r is not None else ""))
        out_rows.append({"metric": metric, "mlflow": mv, "sextant": xv,
                         "higher_is_better": hb, "speedup": r})
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    lines = []
    for i, row in enumerate(table):
        lines.append("  ".join(c.ljust(widths[j]) if j < 2 else c.rjust(widths[j])
                               for j, c in enumerate(row)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines), out_rows


def machine_info():
    info = {"nproc": len(os.sched_getaffinity(0)), "cpu_count": os.cpu_count(),
            "kernel": platform.release(), "arch": platform.machine()}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    info["memory_gb"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    model = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key = line.split(":")[0].strip().lower()
                if key in ("model name", "hardware", "cpu model") and ":" in line:
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info["cpu_model"] = model or platform.processor() or "unknown"
    return info


def cpu_busy(seconds):
    """Fraction of all CPUs busy over `seconds`, from /proc/stat."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]  # total, idle + iowait
    t1, i1 = sample()
    time.sleep(seconds)
    t2, i2 = sample()
    return 0.0 if t2 == t1 else 1 - (i2 - i1) / (t2 - t1)


def versions(sextant_bin):
    v = {"mlflow": importlib.metadata.version("mlflow"),
         "requests": importlib.metadata.version("requests"),
         "python": platform.python_version()}
    if sextant_bin:
        try:
            v["sextant"] = subprocess.run([str(sextant_bin), "--version"], capture_output=True,
                                          text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError) as e:
            v["sextant"] = f"unknown ({e})"
        v["sextant_bin"] = str(sextant_bin)
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "crates",
                                "Cargo.toml", "Cargo.lock"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        if head:
            v["git_commit"] = head + ("+uncommitted changes in crates/" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return v


# --------------------------------------------------------------------------- sextant binary
def newest_source_mtime():
    newest = 0.0
    for base in (ROOT / "crates",):
        for dirpath, _, files in os.walk(base):
            for f in files:
                if f.endswith(".rs") or f == "Cargo.toml":
                    newest = max(newest, os.path.getmtime(os.path.join(dirpath, f)))
    for f in (ROOT / "Cargo.toml", ROOT / "Cargo.lock"):
        if f.exists():
            newest = max(newest, f.stat().st_mtime)
    return newest


def find_sextant(quick):
    env = os.environ.get("SEXTANT_BIN")
    if env:
        p = Path(env)
        if not p.is_absolute():
            p = ROOT / p
        if not os.access(p, os.X_OK):
            raise SystemExit(f"SEXTANT_BIN={env}: not an executable file")
        return p, f"$SEXTANT_BIN"
    profile = "debug" if quick else "release"
    p = ROOT / "target" / profile / "sextant"
    if os.access(p, os.X_OK):
        if p.stat().st_mtime < newest_source_mtime():
            log(f"note: {p.relative_to(ROOT)} is older than the sources in crates/; "
                f"rebuild it (cargo build{' --release' if not quick else ''} -p sextant) "
                "to measure the current code")
        return p, f"target/{profile}"
    cmd = ["cargo", "build", "-p", "sextant"] + ([] if quick else ["--release"])
    log(f"building sextant ({profile}): {' '.join(cmd)}")
    subprocess.run(cmd, cwd=ROOT, check=True)
    if not os.access(p, os.X_OK):
        raise SystemExit(f"cargo build did not produce {p}")
    return p, f"target/{profile} (built now)"


# --------------------------------------------------------------------------- validation
def validate(results, workloads, servers, cfg):
    """Problems that make the run fail (in every mode; --quick asserts nothing else)."""
    problems = []

    def finite_pos(v):
        return isinstance(v, (int, float)) and math.isfinite(v) and v > 0

    for w in workloads:
        for srv in servers:
            r = results[w].get(srv)
            if r is None:
                problems.append(f"{w}/{srv}: did not complete: {results[w].get(srv + '_error', '?')}")
                continue
            if w == "ingest":
                if srv == "mlflow" and not r.get("metric_points"):
                    # The peer finished no batch inside the window (seen with --quick on a busy
                    # machine): a figure of zero, reported in the table, not a broken run.
                    continue
                for k in ("points_per_s", "metric_points"):
                    if not finite_pos(r.get(k)):
                        problems.append(f"{w}/{srv}: {k} = {r.get(k)!r}")
                lat = r["latency_ms"]["metrics"]
                if not (finite_pos(lat["p50"]) and finite_pos(lat["p99"]) and lat["p99"] >= lat["p50"]):
                    problems.append(f"{w}/{srv}: log-batch latency {lat}")
                if not r.get("verified"):
                    problems.append(f"{w}/{srv}: read-back check failed: {r.get('verify_problems')}")
                errs = sum(r["errors"].values())
                if errs and srv == "sextant":
                    problems.append(f"{w}/{srv}: {errs} failed requests, e.g. {r['error_samples'][:2]}")
            elif w == "search":
                for k, v in (r.get("sizes") or {}).items():
                    if not (finite_pos(v.get("p50_ms")) and v.get("p99_ms", 0) >= v["p50_ms"]):
                        problems.append(f"{w}/{srv}: {k} runs: latency {v}")
                    if v.get("returned") != v.get("expected"):
                        problems.append(f"{w}/{srv}: {k} runs: wrong answer: first returned "
                                        f"{(v.get('returned') or [])[:3]}, expected "
                                        f"{(v.get('expected') or [])[:3]}")
                other = results[w].get("mlflow" if srv == "sextant" else "sextant")
                if srv == "sextant" and other:
                    for k, v in r["sizes"].items():
                        theirs = other["sizes"].get(k, {}).get("returned")
                        if theirs is not None and theirs != v["returned"]:
                            problems.append(f"{w}: {k} runs: sextant and mlflow returned "
                                            f"different runs (first: {v['returned'][:3]} vs "
                                            f"{theirs[:3]})")
            elif w == "wrap":
                if not finite_pos(r.get("wrapped_ms_median")):
                    problems.append(f"{w}/{srv}: wrapped_ms_median = {r.get('wrapped_ms_median')!r}")
                if not r.get("verified"):
                    problems.append(f"{w}/{srv}: {r.get('verify_problems')}")
            elif w == "client":
                if not finite_pos(r.get("calls_per_s")):
                    problems.append(f"{w}/{srv}: calls_per_s = {r.get('calls_per_s')!r}")
                if srv == "sextant" and not r.get("verified"):
                    problems.append(f"{w}/{srv}: read-back check failed: {r.get('verify_problems')}")
            else:
                keys = ["read"] + (["big_read"] if cfg["big_history_points"] and srv == "sextant" else [])
                for k in keys:
                    rd = r.get(k) or {}
                    if not finite_pos(rd.get("seconds_median")) or len(rd.get("reads", [])) != cfg["repeats"]:
                        problems.append(f"{w}/{srv}: {k} = {rd!r}"[:300])
                    if srv == "sextant" and rd.get("data_problems"):
                        # A fast answer with wrong data is a failure, not a figure.
                        problems.append(f"{w}/{srv}: {k} read back wrong data: {rd['data_problems'][:2]}")
                if not finite_pos(r.get("log_seconds")):
                    problems.append(f"{w}/{srv}: log_seconds = {r.get('log_seconds')!r}")
    return problems


def write_results(doc, out, problems, ok_detail="", suffix=""):
    """Write a suite's result document atomically (temp file + rename), print where, then the
    problems; the exit code: 1 when there are problems, else 0. Shared by every suite."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    tmp.replace(out)
    log(f"\nresults: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}{suffix}")
    if problems:
        log("\nFAILED:")
        for p in problems:
            log("  - " + p)
        return 1
    log(f"ok: {ok_detail}" if ok_detail else "ok")
    return 0


# --------------------------------------------------------------------------- main
MAIN_PID = os.getpid()


def _on_signal(signum, _frame):
    if os.getpid() == MAIN_PID:
        print(f"\nbench: got signal {signum}; stopping the servers", file=sys.stderr, flush=True)
    raise SystemExit(128 + signum)


def main():
    ap = argparse.ArgumentParser(
        prog="bench/run",
        description="Benchmark `sextant server` against `mlflow server` (same workloads, same "
                    "machine, same run). Workloads: " + ", ".join(WORKLOADS) + " (default: all).")
    ap.add_argument("workloads", nargs="*", metavar="WORKLOAD",
                    help="ingest, history, client, search, wrap (default: all)")
    ap.add_argument("--quick", action="store_true",
                    help="small smoke run (<1 min): checks every workload completes and the "
                         "results are well-formed; no timing thresholds")
    ap.add_argument("--servers", default=",".join(SERVERS),
                    help="comma-separated subset of mlflow,sextant (default: both)")
    ap.add_argument("--clients", type=int, help="ingest: concurrent client processes (default 8)")
    ap.add_argument("--duration", type=float, help="ingest: measured seconds per server")
    ap.add_argument("--warmup", type=float, help="ingest: unmeasured seconds before that")
    ap.add_argument("--history-points", type=int, help="history: points in the metric")
    ap.add_argument("--big-history-points", type=int,
                    help="history: size of the Sextant-only read (0 skips it)")
    ap.add_argument("--repeats", type=int, help="history: reads per size (median reported)")
    ap.add_argument("--client-calls", type=int,
                    help="client: log_metric calls in the timed loop (default 2000; 100 quick)")
    ap.add_argument("--stores", help="comma-separated subset of sqlite,postgres (default: both; "
                    "--quick: sqlite, plus postgres when SEXTANT_TEST_PG_URI is set)")
    ap.add_argument("--pg-uri", help="postgres store: an existing server to create throwaway "
                    "databases on (default: $SEXTANT_TEST_PG_URI, else a cluster started here)")
    ap.add_argument("--wrap-runs", type=int,
                    help="wrap: executions of `sextant run -- true` (default 30; 5 quick)")
    ap.add_argument("--out", help="where to write the JSON results")
    ap.add_argument("--keep", action="store_true", help="keep the servers' temp dirs (logs, db)")
    ap.add_argument("--auth", choices=("off", "basic", "token"), default="off",
                    help="run sextant server with --auth; clients send a non-admin user's HTTP "
                         "Basic credentials or API token (sextant only: use --servers sextant)")
    args = ap.parse_args()
    global AUTH_MODE
    AUTH_MODE = args.auth

    for w in args.workloads:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w!r}; choose from {', '.join(WORKLOADS)}")
    workloads = [w for w in WORKLOADS if w in args.workloads] or list(WORKLOADS)
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    for srv in servers:
        if srv not in SERVERS:
            ap.error(f"unknown server {srv!r}; choose from {', '.join(SERVERS)}")
    if args.stores:
        stores = [x.strip() for x in args.stores.split(",") if x.strip()]
        for st in stores:
            if st not in STORES:
                ap.error(f"unknown store {st!r}; choose from {', '.join(STORES)}")
    elif args.quick:
        stores = ["sqlite"] + (["postgres"] if os.environ.get("SEXTANT_TEST_PG_URI") else [])
    else:
        stores = list(STORES)
    mode = "quick" if args.quick else "full"
    cfg = dict(MODES[mode])
    for k in ("clients", "duration", "warmup", "history_points", "big_history_points", "repeats",
              "client_calls", "wrap_runs"):
        if getattr(args, k) is not None:
            cfg[k] = getattr(args, k)

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)

    need_bin = "sextant" in servers or "wrap" in workloads  # wrap runs `sextant run` on both
    sextant_bin, bin_src = (find_sextant(args.quick) if need_bin else (None, None))
    started = datetime.datetime.now().astimezone()
    machine = machine_info()
    vers = versions(sextant_bin)
    log(f"Sextant benchmark ({mode} mode), {started:%Y-%m-%d %H:%M %Z}")
    log(f"machine: {machine['nproc']} CPUs ({machine['cpu_model']}), "
        f"{machine.get('memory_gb', '?')} GB RAM, Linux {machine['kernel']} {machine['arch']}")
    log(f"versions: mlflow {vers['mlflow']}"
        + (f", {vers.get('sextant')} ({bin_src}: {sextant_bin})" if sextant_bin else "")
        + (f", commit {vers['git_commit']}" if vers.get("git_commit") else ""))
    log(f"servers: {' and '.join(stores)} backend, local artifacts, fresh temp dir (and database) "
        f"per server; mlflow with its default --workers")
    log("")

    def run_store(store, pg):
        """Every workload on both servers with one kind of store; (results, tables, notes)."""
        results = {w: {} for w in workloads}
        notes = []
        busy = {}

        def describe(w):
            if w == "ingest":
                log(f"== ingest: {cfg['clients']} client processes; each creates runs and logs "
                    f"{INGEST_PARAMS} params + {INGEST_BATCHES_PER_RUN} log-batch calls of "
                    f"{INGEST_BATCH} metrics per run; {cfg['warmup']:g}s warm-up, "
                    f"{cfg['duration']:g}s measured")
            elif w == "search":
                log(f"== search: runs/search with filter \"{SEARCH_FILTER}\", order_by "
                    f"{SEARCH_ORDER}, first page of {SEARCH_PAGE}, over "
                    f"{', '.join(f'{n:,}' for n in cfg['search_sizes'])} runs (written straight into "
                    f"each server's store), {cfg['search_queries']} queries each (a server still "
                    f"answering after {cfg['search_budget_s']:g}s stops at "
                    f"{cfg['search_min_queries']} or more; a first answer slower than "
                    f"{SEARCH_SLOW_S:g}s is the only sample)")
            elif w == "wrap":
                log(f"== wrap: `sextant run -- true` against `true` alone, {cfg['wrap_runs']} "
                    f"runs each (median wall time), tracking into each server")
            elif w == "client":
                log(f"== client: the official mlflow client's logging loop, {cfg['client_calls']:,} "
                    f"MlflowClient.log_metric calls one after another (then log_param calls), "
                    f"per-call latency including the client's own overhead")
            else:
                log(f"== history: {cfg['history_points']:,} points of one metric, read back through "
                    f"get-history (max_results={HISTORY_PAGE}, following next_page_token), "
                    f"median of {cfg['repeats']}"
                    + (f"; {cfg['big_history_points']:,} points on Sextant only"
                       if cfg["big_history_points"] and "sextant" in servers else ""))

        def run_one(w, srv, server):
            t = time.monotonic()
            try:
                results[w][srv] = WORKLOAD_FUNCS[w](server, cfg)
                results[w][srv]["server_startup_s"] = server.startup_s
                results[w][srv]["machine_busy_before"] = busy.get(srv)
                log(f"  {w} on {srv}: done in {time.monotonic() - t:.1f}s")
            except Exception as e:  # noqa: BLE001 - recorded, reported, and fails the run
                results[w][srv + "_error"] = f"{e}"
                log(f"  {w} on {srv}: FAILED: {e}")

        def check_idle(srv):
            b = busy[srv] = cpu_busy(0.5 if args.quick else 1.0)
            if b > 0.2:
                log(f"  warning: the machine was {b:.0%} busy before starting {srv}; figures are "
                    "disturbed by other load")

        if args.quick:
            # One server of each kind for all workloads (each workload has its own experiment):
            # starting mlflow server takes long, and --quick must stay short.
            for w in workloads:
                describe(w)
            for srv in servers:
                check_idle(srv)
                try:
                    with Server(srv, sextant_bin, keep=args.keep, store=store, pg=pg) as server:
                        for w in workloads:
                            run_one(w, srv, server)
                except Exception as e:  # noqa: BLE001
                    for w in workloads:
                        results[w].setdefault(srv + "_error", f"{e}")
                    log(f"  {srv}: FAILED: {e}")
            log("")
        else:
            for w in workloads:
                describe(w)
                for srv in servers:
                    check_idle(srv)
                    try:
                        with Server(srv, sextant_bin, keep=args.keep, store=store, pg=pg) as server:
                            run_one(w, srv, server)
                    except Exception as e:  # noqa: BLE001
                        results[w][srv + "_error"] = f"{e}"
                        log(f"  {srv}: FAILED: {e}")
                log("")

        tables, report_rows = [], {}
        for w in workloads:
            text, rows = render_table(f"{w} [{store}]", results[w], cfg, w)
            tables.append(text)
            report_rows[w] = rows
        log("\n\n".join(tables))
        if "history" in workloads and cfg["big_history_points"] and "sextant" in servers:
            notes.append(f"The {cfg['big_history_points']:,}-point read is measured on Sextant only: "
                         "mlflow server would take too long.")
        if "ingest" in workloads:
            for srv in servers:
                r = results["ingest"].get(srv)
                if r and r["client_cores_used"] > 0.5 * machine["nproc"]:
                    notes.append(f"ingest/{srv} [{store}]: the clients used {r['client_cores_used']:.2f} of "
                                 f"{machine['nproc']} CPUs; the client may limit this figure.")
                if r and not r["metric_points"]:
                    notes.append(f"ingest/{srv} [{store}]: no metric batch was acknowledged "
                                 f"inside the {cfg['duration']:g}s window (too slow for it).")
                if r and sum(r["errors"].values()):
                    notes.append(f"ingest/{srv} [{store}]: {sum(r['errors'].values())} failed requests "
                                 f"(not counted), e.g. {r['error_samples'][0][:200]}")
        disturbed = sorted({f"{srv} ({results[w][srv]['machine_busy_before']:.0%})"
                            for w in workloads for srv in servers
                            if ((results[w].get(srv) or {}).get("machine_busy_before") or 0) > 0.2})
        if disturbed:
            notes.append(f"[{store}] the machine was busy with other work before starting " + ", ".join(disturbed)
                         + "; rerun on an idle machine for figures worth quoting.")
        if "history" in workloads:
            for srv in servers:
                for k in ("read", "big_read"):
                    for dp in ((results["history"].get(srv) or {}).get(k) or {}).get("data_problems", []):
                        notes.append(f"history/{srv} [{store}]: WRONG DATA read back: {dp}")
        return results, report_rows, notes

    all_results, all_tables, all_notes = {}, {}, []
    pg = None
    if "postgres" in stores:
        pg = PgCluster(args.pg_uri or os.environ.get("SEXTANT_TEST_PG_URI"))
    try:
        if pg:
            pg.start()
        for store in stores:
            log(f"### store: {store}")
            all_results[store], all_tables[store], store_notes = run_store(store, pg)
            all_notes += store_notes
    finally:
        if pg:
            pg.stop()
    notes = all_notes

    notes.append("ratio = Sextant speed-up (higher throughput or lower time/latency); "
                 "a blank ratio means the row is informational.")
    log("")
    for n_ in notes:
        log("note: " + n_)

    problems = [f"[{store}] {p}" for store in stores
                for p in validate(all_results[store], workloads, servers, cfg)]
    doc = {"schema": 2, "mode": mode, "started": started.isoformat(timespec="seconds"),
           "finished": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
           "command": "bench/run " + " ".join(sys.argv[1:]),
           "machine": machine, "versions": vers, "config": cfg | {
               "metrics_per_batch": INGEST_BATCH, "batches_per_run": INGEST_BATCHES_PER_RUN,
               "history_page_size": HISTORY_PAGE},
           "workloads": workloads, "servers": servers, "stores": stores,
           "tables": all_tables, "results": all_results, "notes": notes, "problems": problems}
    if args.out:
        out = Path(args.out)
    else:
        date = started.strftime("%Y-%m-%d")
        if args.quick:
            out = RESULTS_DIR / f"quick-{date}.json"
        elif workloads == list(WORKLOADS) and servers == list(SERVERS) and stores == list(STORES):
            out = RESULTS_DIR / f"{date}.json"
        else:
            out = RESULTS_DIR / f"{date}-{'-'.join(workloads + servers + stores)}.json"
    return write_results(doc, out, problems,
                         "every workload completed and the results are well-formed" if args.quick
                         else "")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\nbench: interrupted; servers stopped", file=sys.stderr)
        sys.exit(130)
