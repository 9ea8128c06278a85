#!/usr/bin/env python3
"""Serving benchmark: `sextant serve` against `mlflow models serve` and a FastAPI +
onnxruntime service, on the same registered model, with the same load generator, in one run.

Run through `bench/run serve [--quick]` (which prepares .venv); `--help` lists the options.

A `sextant server` (the registry) is started on a free 127.0.0.1 port; a small random forest
(scikit-learn, 10 numeric features) is converted with skl2onnx, logged with
`mlflow.onnx.log_model`, registered, approved and put behind a protected `production` alias.
Then every model server is started on its own free port and health-checked (GET /ping):

  mlflow           `mlflow models serve -m models:/NAME@production --env-manager local -w N`
  fastapi          bench/serve_fastapi.py under uvicorn --workers N (one InferenceSession each)
  sextant          `sextant serve --model NAME@production --engine ort`
  sextant-batched  the same with --batch-window-ms (micro-batching)

Every server first answers one request of each payload checked against onnxruntime in Python
(a fast wrong answer is a failure, not a figure). Then bench/serve_load.rs (built here with
`rustc -O`, standard library only) sends the same `dataframe_split` body (1 row, then 100 rows)
over persistent connections: closed loop (saturation), then open loop at a fixed moderate rate
(latency measured from the scheduled send time). Server and load-generator CPU are measured so
a reader sees who the bottleneck was. Every process started is stopped by PID on every exit
path (including Ctrl-C and SIGTERM). Results: bench/results/<date>-serve.json.
"""

import argparse
import datetime
import importlib.metadata
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as B  # noqa: E402 - process and machine helpers shared with the tracking suite

ROOT = B.ROOT
RESULTS_DIR = B.RESULTS_DIR
LOADGEN_SRC = ROOT / "bench" / "serve_load.rs"
LOADGEN_BIN = ROOT / "target" / "bench" / "serve_load"
MODEL_NAME = "bench-serve-forest"
ALIAS = "production"
FEATURES = [f"f{i}" for i in range(10)]
SERVERS = ("mlflow", "fastapi", "sextant", "sextant-batched")
PAYLOADS = {"1 row": 1, "100 rows": 100}
MODES = {
    "full": dict(warmup=2.0, duration=10.0, connections=16, fixed_connections=8,
                 batch_window_ms=1.0),
    "quick": dict(warmup=0.3, duration=1.0, connections=8, fixed_connections=4,
                  batch_window_ms=1.0),
}
log = B.log


# --------------------------------------------------------------------------- load generator
def build_loadgen():
    """target/bench/serve_load, rebuilt when bench/serve_load.rs is newer."""
    if LOADGEN_BIN.exists() and LOADGEN_BIN.stat().st_mtime >= LOADGEN_SRC.stat().st_mtime:
        return LOADGEN_BIN
    rustc = shutil.which("rustc")
    if not rustc:
        raise SystemExit("bench/serve.py needs rustc to build its load generator (bench/serve_load.rs)")
    LOADGEN_BIN.parent.mkdir(parents=True, exist_ok=True)
    tmp = LOADGEN_BIN.with_name(LOADGEN_BIN.name + ".tmp")
    log(f"building the load generator: rustc -O {LOADGEN_SRC.relative_to(ROOT)}")
    subprocess.run([rustc, "--edition", "2021", "-O", "-o", str(tmp), str(LOADGEN_SRC)],
                   check=True)
    tmp.replace(LOADGEN_BIN)
    return LOADGEN_BIN


def run_load(port, path, body_file, connections, warmup, duration, rate=None, server_pid=None):
    """One load-generator run; its JSON plus the server's CPU over the measured window."""
    cmd = [str(LOADGEN_BIN), "--addr", f"127.0.0.1:{port}", "--path", path,
           "--body", str(body_file), "--connections", str(connections),
           "--warmup", str(warmup), "--duration", str(duration),
           "--clk-tck", str(os.sysconf("SC_CLK_TCK"))]
    if rate:
        cmd += ["--rate", str(rate)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        cpu_a = cpu_b = None
        if server_pid:
            time.sleep(warmup + 0.02)
            cpu_a = B.tree_cpu_seconds(server_pid)
            time.sleep(duration)
            cpu_b = B.tree_cpu_seconds(server_pid)
        out, err = proc.communicate(timeout=warmup + duration + 120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed ({proc.returncode}): {err.decode()[-500:]}")
    res = json.loads(out)
    if cpu_a is not None:
        res["server_cpu_s"] = cpu_b - cpu_a
        res["server_cores"] = (cpu_b - cpu_a) / duration
    if res.get("client_cpu_s") is not None:
        res["client_cores"] = res["client_cpu_s"] / duration
    return res


# --------------------------------------------------------------------------- the model
def sextant_api(tracking, method, path, body=None):
    r = requests.request(method, f"{tracking}/api/sextant/v1/{path}", json=body, timeout=60)
    if r.status_code != 200:
        raise RuntimeError(f"{method} {path} -> {r.status_code}: {r.text[:300]}")
    return r.json()


def prepare_model(tracking, workdir):
    """Train, convert, log, register, approve and alias the benchmark model. Returns the
    payload files, the expected predictions and the local model.onnx (for the FastAPI peer)."""
    os.environ["MLFLOW_TRACKING_URI"] = tracking
    # A failing server fails the run in seconds, not after the client's long retry backoff.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    import mlflow
    import numpy as np
    import onnxruntime as rt
    import pandas as pd
    from mlflow.models import infer_signature
    from skl2onnx import to_onnx
    from sklearn.datasets import make_regression
    from sklearn.ensemble import RandomForestRegressor

    X, y = make_regression(n_samples=2000, n_features=len(FEATURES), noise=0.1, random_state=0)
    frame = pd.DataFrame(X, columns=FEATURES)
    model = RandomForestRegressor(n_estimators=20, max_depth=8, random_state=0).fit(frame.values, y)
    onx = to_onnx(model, X[:1].astype(np.float32), target_opset={"": 17, "ai.onnx.ml": 3})
    sess = rt.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0].name

    def predict(rows):
        return sess.run(None, {inp: rows.astype(np.float32)})[0]

    example = frame.iloc[:3]
    mlflow.set_experiment("bench-serve")
    with mlflow.start_run():
        info = mlflow.onnx.log_model(onx, name="model", input_example=example,
                                     signature=infer_signature(example, predict(example.values)))
    version = str(mlflow.register_model(info.model_uri, MODEL_NAME).version)
    sextant_api(tracking, "POST", f"models/{MODEL_NAME}/versions/{version}/review",
                {"decision": "approve", "comment": "bench/serve.py"})
    sextant_api(tracking, "PUT", f"models/{MODEL_NAME}/aliases/{ALIAS}", {"version": version})
    sextant_api(tracking, "PUT", f"models/{MODEL_NAME}/protected-aliases/{ALIAS}")
    local = Path(mlflow.artifacts.download_artifacts(f"models:/{MODEL_NAME}@{ALIAS}",
                                                     dst_path=str(workdir / "model")))
    onnx_file = next(local.rglob("*.onnx"))

    payloads = {}
    rng = np.random.RandomState(1)
    for label, n in PAYLOADS.items():
        rows = X[rng.choice(len(X), n, replace=False)]
        body = {"dataframe_split": {"columns": FEATURES, "data": rows.round(6).tolist()}}
        f = workdir / f"body-{n}.json"
        f.write_text(json.dumps(body, separators=(",", ":")))
        payloads[label] = {"rows": n, "file": f, "bytes": f.stat().st_size,
                           "expected": predict(np.asarray(body["dataframe_split"]["data"])).ravel().tolist()}
    return {"version": version, "onnx_file": onnx_file, "payloads": payloads,
            "onnx_bytes": onnx_file.stat().st_size}


def flat_numbers(v):
    """The predictions of any of the servers' answers as a flat list of numbers: sextant and
    FastAPI answer [[x], ...]; mlflow [{"variable": x}, ...]."""
    if isinstance(v, dict):
        if "predictions" in v:
            return flat_numbers(v["predictions"])
        return [x for val in v.values() for x in flat_numbers(val)]
    if isinstance(v, list):
        return [x for item in v for x in flat_numbers(item)]
    if isinstance(v, (int, float)):
        return [float(v)]
    raise ValueError(f"not a prediction: {v!r}"[:200])


def check_answer(text, expected):
    """None when `text` (a response body) holds the expected predictions, else the problem."""
    try:
        got = flat_numbers(json.loads(text))
    except (ValueError, TypeError) as e:
        return f"unreadable answer: {e}"
    if len(got) != len(expected):
        return f"{len(got)} predictions for {len(expected)} rows"
    worst = max(abs(a - b) / max(1.0, abs(b)) for a, b in zip(got, expected))
    return None if worst <= 1e-4 else f"predictions differ from onnxruntime by up to {worst:.2g}"


# --------------------------------------------------------------------------- model servers
class ModelServer:
    """One model server on a free port, in its own session, stopped by PID."""

    def __init__(self, kind, sextant_bin, tracking, model, workers, cfg, workdir):
        self.kind, self.sextant_bin, self.tracking = kind, sextant_bin, tracking
        self.model, self.workers, self.cfg = model, workers, cfg
        self.dir = workdir / kind
        self.proc = None
        self.port = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def command(self):
        py = Path(sys.executable)
        if self.kind == "mlflow":
            return [str(py.parent / "mlflow"), "models", "serve", "-m", f"models:/{MODEL_NAME}@{ALIAS}",
                    "--env-manager", "local", "-h", "127.0.0.1", "-p", str(self.port),
                    "-w", str(self.workers)]
        if self.kind == "fastapi":
            return [str(py), "-m", "uvicorn", "serve_fastapi:app", "--app-dir", str(ROOT / "bench"),
                    "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers),
                    "--no-access-log", "--log-level", "warning"]
        cmd = [str(self.sextant_bin), "serve", "--model", f"{MODEL_NAME}@{ALIAS}",
               "--tracking-uri", self.tracking, "--host", "127.0.0.1", "--port", str(self.port),
               "--engine", "ort"]
        if self.kind == "sextant-batched":
            cmd += ["--batch-window-ms", str(self.cfg["batch_window_ms"])]
        return cmd

    def start(self, timeout=180):
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = B.free_port()
        venv_bin = Path(sys.executable).parent
        env = dict(os.environ, MLFLOW_TRACKING_URI=self.tracking, DO_NOT_TRACK="true",
                   MLFLOW_DISABLE_TELEMETRY="true", VIRTUAL_ENV=str(venv_bin.parent),
                   # mlflow models serve runs `uvicorn` from PATH
                   PATH=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
                   SERVE_MODEL=str(self.model["onnx_file"]), SERVE_COLUMNS=",".join(FEATURES),
                   # mlflow's scoring server is uvicorn too: no access log line per request,
                   # as for the FastAPI service (both peers at their fastest).
                   UVICORN_ACCESS_LOG="false")
        cmd = self.command()
        t0 = time.monotonic()
        with open(self.dir / "server.log", "wb") as logf:
            logf.write(("$ " + " ".join(cmd) + "\n").encode())
            logf.flush()
            self.proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.dir, env=env,
                                         start_new_session=True)
        sess = B.new_session()
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode} while starting; "
                                   f"log tail:\n{self.log_tail()}")
            try:
                if sess.get(self.url + "/ping", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"{self.kind} not ready after {timeout}s; log tail:\n{self.log_tail()}")
            time.sleep(0.1)
        self.startup_s = time.monotonic() - t0
        log(f"  {self.kind} up on port {self.port} (pid {self.proc.pid}, ready after {self.startup_s:.1f}s)")

    def log_tail(self, n=3000):
        try:
            return (self.dir / "server.log").read_text(errors="replace")[-n:]
        except OSError:
            return "(no log)"

    def check(self):
        """Every payload answered right (compared with onnxruntime in Python)."""
        problems = {}
        s = B.new_session()
        for label, p in self.model["payloads"].items():
            r = s.post(self.url + "/invocations", data=p["file"].read_bytes(),
                       headers=B.JSON_HEADERS, timeout=60)
            problem = (f"HTTP {r.status_code}: {r.text[:300]}" if r.status_code != 200
                       else check_answer(r.text, p["expected"]))
            if problem:
                problems[label] = problem
        return problems

    def batch_counters(self):
        """sextant-batched: (engine calls, requests they answered) from /metrics."""
        text = B.new_session().get(self.url + "/metrics", timeout=10).text
        calls = reqs = 0.0
        for line in text.splitlines():
            if line.startswith("sextant_serve_batches_total{"):
                calls += float(line.rsplit(" ", 1)[1])
            elif line.startswith("sextant_serve_batched_requests_total{"):
                reqs += float(line.rsplit(" ", 1)[1])
        return calls, reqs

    def stop(self):
        if self.proc is not None:
            proc, self.proc = self.proc, None
            if proc.poll() is None or B.process_tree(proc.pid)[0]:
                B.stop_process_tree(proc)


# --------------------------------------------------------------------------- report
def nice_rate(x):
    """A round request rate near x (for the fixed-load runs)."""
    if x <= 20:
        return 10
    mag = 10 ** int(math.floor(math.log10(x)))
    for m in (5, 2, 1):
        if x >= m * mag:
            return m * mag
    return mag


def g(d, *path):
    for p in path:
        if not isinstance(d, dict) or d.get(p) is None:
            return None
        d = d[p]
    return d


def render(results, servers, rates):
    head = ["payload", "load", "metric", *servers, "vs mlflow", "vs fastapi"]
    table = [head]
    rows_json = []
    for label in PAYLOADS:
        for load in ("saturation", "fixed"):
            load_txt = "saturation" if load == "saturation" else f"{rates[label]:g} req/s"
            metrics = [("throughput (req/s)", ("rps",), True, "{:,.0f}"),
                       ("p50 latency (ms)", ("latency_ms", "p50"), False, "{:.2f}"),
                       ("p99 latency (ms)", ("latency_ms", "p99"), False, "{:.2f}"),
                       ("server CPU cores", ("server_cores",), None, "{:.2f}"),
                       ("load-gen CPU cores", ("client_cores",), None, "{:.2f}"),
                       ("failed requests", ("errors",), None, "{:,}")]
            if load == "fixed":
                metrics[0] = ("achieved (req/s)", ("rps",), None, "{:,.0f}")
            for name, path, hb, fmt in metrics:
                vals = {s: g(results, label, load, s, *path) for s in servers}
                ratios = []
                for peer in ("mlflow", "fastapi"):
                    a, b = vals.get(peer), vals.get("sextant")
                    r = None
                    if hb is not None and a and b:
                        r = b / a if hb else a / b
                    ratios.append(r)
                table.append([label, load_txt, name,
                              *[fmt.format(vals[s]) if vals[s] is not None else "-" for s in servers],
                              *[f"{r:.1f}x" if r is not None else "" for r in ratios]])
                rows_json.append({"payload": label, "load": load_txt, "metric": name,
                                  "values": vals, "sextant_vs_mlflow": ratios[0],
                                  "sextant_vs_fastapi": ratios[1]})
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    lines = []
    for i, row in enumerate(table):
        lines.append("  ".join(c.ljust(widths[j]) if j < 3 else c.rjust(widths[j])
                               for j, c in enumerate(row)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines), rows_json


def validate(results, servers, checks, quick):
    problems = []
    for s in servers:
        if checks.get(s):
            problems.append(f"{s}: wrong answers: {checks[s]}")
    for label in PAYLOADS:
        for load in ("saturation", "fixed"):
            for s in servers:
                r = g(results, label, load, s)
                where = f"{label}/{load}/{s}"
                if r is None:
                    problems.append(f"{where}: did not complete: {g(results, label, load, s + '_error')}")
                    continue
                p50, p99 = g(r, "latency_ms", "p50"), g(r, "latency_ms", "p99")
                if not (r.get("requests", 0) > 0 and p50 and p99 and p99 >= p50 > 0):
                    problems.append(f"{where}: no well-formed latencies ({r.get('requests')} requests, "
                                    f"p50 {p50}, p99 {p99}; first error {r.get('first_error')})")
                if r.get("errors") and s.startswith("sextant"):
                    problems.append(f"{where}: {r['errors']} failed requests, e.g. {r.get('first_error')}")
                if r.get("sample_correct") is False:
                    problems.append(f"{where}: a sampled answer under load differs from onnxruntime")
    if "sextant-batched" in servers and not quick:
        b = g(results, "1 row", "saturation", "sextant-batched", "batching")
        if not b or not b.get("engine_calls"):
            problems.append("sextant-batched: no batch was counted in /metrics")
    return problems


def goals(results):
    """The targets of the serving issue, read off the full run (reported, never asserted)."""
    out = []
    for label in PAYLOADS:
        m = g(results, label, "saturation", "mlflow", "rps")
        f = g(results, label, "saturation", "fastapi", "rps")
        x = g(results, label, "saturation", "sextant", "rps")
        p99 = g(results, label, "fixed", "sextant", "latency_ms", "p99")
        if m and x:
            out.append((f"[{label}] throughput >= 10x mlflow models serve", x / m >= 10, f"{x / m:.1f}x"))
        if f and x:
            out.append((f"[{label}] throughput >= 2x FastAPI + onnxruntime", x / f >= 2, f"{x / f:.1f}x"))
        if p99:
            out.append((f"[{label}] p99 < 5 ms at the fixed load", p99 < 5, f"{p99:.2f} ms"))
    return out


# --------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(
        prog="bench/run serve",
        description="Benchmark `sextant serve` against `mlflow models serve` and FastAPI + "
                    "onnxruntime: same model, same payloads, same load generator, one run.")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run (< 90 s): everything completes and the results are "
                         "well-formed; no timing thresholds")
    ap.add_argument("--servers", default=",".join(SERVERS),
                    help=f"comma-separated subset of {','.join(SERVERS)} (default: all)")
    ap.add_argument("--duration", type=float, help="measured seconds per run (default 10; quick 1)")
    ap.add_argument("--warmup", type=float, help="unmeasured seconds before that (default 2)")
    ap.add_argument("--connections", type=int,
                    help="persistent connections at saturation (default 16; quick 8)")
    ap.add_argument("--rate", type=float,
                    help="the fixed load, req/s (default: half the slowest server's saturation "
                         "throughput for each payload, rounded)")
    ap.add_argument("--peer-workers", type=int,
                    help="uvicorn workers of mlflow and FastAPI (default: one per CPU, as "
                         "sextant serve uses every CPU)")
    ap.add_argument("--batch-window-ms", type=float, help="sextant-batched's window (default 1)")
    ap.add_argument("--out", help="where to write the JSON results")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (server logs)")
    args = ap.parse_args()

    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    for s in servers:
        if s not in SERVERS:
            ap.error(f"unknown server {s!r}; choose from {', '.join(SERVERS)}")
    mode = "quick" if args.quick else "full"
    cfg = dict(MODES[mode])
    for k in ("duration", "warmup", "connections", "batch_window_ms"):
        if getattr(args, k) is not None:
            cfg[k] = getattr(args, k)
    machine = B.machine_info()
    workers = args.peer_workers or machine["nproc"]
    cfg["peer_workers"] = workers

    # The tracking suite's handler: SIGTERM/SIGHUP become SystemExit in the main process, so
    # every `with` block stops what it started.
    signal.signal(signal.SIGTERM, B._on_signal)
    signal.signal(signal.SIGHUP, B._on_signal)

    t_start = time.monotonic()
    sextant_bin, bin_src = B.find_sextant(args.quick)
    loadgen = build_loadgen()
    started = datetime.datetime.now().astimezone()
    vers = B.versions(sextant_bin)
    for pkg in ("fastapi", "uvicorn", "onnxruntime", "scikit-learn", "skl2onnx", "uvloop", "httptools"):
        try:
            vers[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            vers[pkg] = None
    log(f"Sextant serving benchmark ({mode} mode), {started:%Y-%m-%d %H:%M %Z}")
    log(f"machine: {machine['nproc']} CPUs ({machine['cpu_model']}), "
        f"{machine.get('memory_gb', '?')} GB RAM; load average {os.getloadavg()[0]:.2f}")
    log(f"versions: mlflow {vers['mlflow']}, fastapi {vers['fastapi']}, uvicorn {vers['uvicorn']}, "
        f"onnxruntime {vers['onnxruntime']}, {vers.get('sextant')} ({bin_src}: {sextant_bin})")
    log(f"model servers: {', '.join(servers)}; mlflow and fastapi with {workers} uvicorn worker(s)")
    log("")

    workdir = Path(tempfile.mkdtemp(prefix="sextant-bench-serve-"))
    tracking = None
    running = {}
    results = {label: {"saturation": {}, "fixed": {}} for label in PAYLOADS}
    checks, startup, notes, rates, disturbed = {}, {}, [], {}, []
    try:
        tracking = B.Server("sextant", sextant_bin, keep=args.keep)
        tracking.start()
        t = time.monotonic()
        try:
            model = prepare_model(tracking.url, workdir)
        except Exception as e:
            raise SystemExit(f"bench/serve: registering the model failed: {e}\n"
                             f"tracking server log tail:\n{tracking.log_tail()}") from e
        log(f"  model: RandomForestRegressor(20 trees, depth 8), {len(FEATURES)} features, "
            f"{model['onnx_bytes'] / 1024:.0f} KiB of ONNX, registered as {MODEL_NAME} version "
            f"{model['version']} (approved, protected alias {ALIAS}) in {time.monotonic() - t:.1f}s")
        for s in servers:
            srv = ModelServer(s, sextant_bin, tracking.url, model, workers, cfg, workdir)
            try:
                srv.start()
            except Exception as e:  # noqa: BLE001 - reported; the other servers still run
                srv.stop()
                checks[s] = {"start": str(e)[:2000]}
                log(f"  {s}: FAILED to start: {e}")
                continue
            except BaseException:
                srv.stop()
                raise
            running[s] = srv
            startup[s] = srv.startup_s
            checks[s] = srv.check()
            if checks[s]:
                log(f"  {s}: WRONG ANSWERS: {checks[s]}")
        log("")

        def measure(label, load, s, rate=None):
            srv = running.get(s)
            if srv is None:
                results[label][load][s + "_error"] = "the server did not start"
                return
            busy = B.cpu_busy(0.1 if args.quick else 0.5)
            p = model["payloads"][label]
            conns = cfg["connections"] if load == "saturation" else cfg["fixed_connections"]
            before = srv.batch_counters() if s == "sextant-batched" else None
            try:
                r = run_load(srv.port, "/invocations", p["file"], conns, cfg["warmup"],
                             cfg["duration"], rate=rate, server_pid=srv.proc.pid)
            except Exception as e:  # noqa: BLE001 - recorded, reported, fails the run
                results[label][load][s + "_error"] = str(e)
                log(f"  {label:8} {load:10} {s:16} FAILED: {e}")
                return
            r["machine_busy_before"] = busy
            if r.get("sample_body") is not None:
                r["sample_correct"] = check_answer(r["sample_body"], p["expected"]) is None
                r["sample_body"] = r["sample_body"][:300]
            if before is not None:
                after = srv.batch_counters()
                calls, reqs = after[0] - before[0], after[1] - before[1]
                r["batching"] = {"engine_calls": calls, "requests": reqs,
                                 "mean_requests_per_call": reqs / calls if calls else None}
            results[label][load][s] = r
            extra = ""
            if r.get("batching", {}).get("mean_requests_per_call"):
                extra = f", {r['batching']['mean_requests_per_call']:.1f} requests per engine call"
            log(f"  {label:8} {load:10} {s:16} {r['rps']:9,.0f} req/s  p50 {r['latency_ms']['p50'] or 0:7.2f} ms"
                f"  p99 {r['latency_ms']['p99'] or 0:7.2f} ms  server {r.get('server_cores', 0):.2f} cores"
                f"  load-gen {r.get('client_cores', 0):.2f} cores{extra}")
            if busy > 0.2:
                disturbed.append(f"{label}/{load}/{s} ({busy:.0%})")

        for label in PAYLOADS:
            log(f"== {label} ({model['payloads'][label]['bytes']:,} bytes of dataframe_split): "
                f"saturation, {cfg['connections']} connections, closed loop, "
                f"{cfg['warmup']:g}s warm-up + {cfg['duration']:g}s")
            for s in servers:
                measure(label, "saturation", s)
            sats = [g(results, label, "saturation", s, "rps") for s in servers]
            sats = [x for x in sats if x]
            rates[label] = args.rate or (nice_rate(0.5 * min(sats)) if sats else 10)
            log(f"== {label}: fixed load {rates[label]:g} req/s, {cfg['fixed_connections']} connections, "
                f"open loop (latency from the scheduled send)")
            for s in servers:
                measure(label, "fixed", s, rate=rates[label])
            log("")
    finally:
        for srv in running.values():
            srv.stop()
        if tracking is not None:
            tracking.stop()
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    text, rows = render(results, servers, rates)
    log(text)
    log("")
    for label in PAYLOADS:
        for load in ("saturation", "fixed"):
            for s in servers:
                r = g(results, label, load, s)
                if r and r.get("client_cores", 0) > 0.5 * machine["nproc"]:
                    notes.append(f"{label}/{load}/{s}: the load generator used {r['client_cores']:.2f} "
                                 f"of {machine['nproc']} CPUs: the client shares the machine with the server")
    if disturbed:
        notes.append("the machine was busy with other work just before these runs, so their figures "
                     "are disturbed (rerun on an idle machine for figures worth quoting): "
                     + ", ".join(disturbed))
    notes.append("ratio = sextant serve (no batching) over the peer: higher throughput or lower latency.")
    problems = validate(results, servers, checks, args.quick)
    goal_lines = [] if args.quick else goals(results)
    for n in notes:
        log("note: " + n)
    if goal_lines:
        log("")
        for what, ok, val in goal_lines:
            log(f"goal {'met    ' if ok else 'NOT met'}: {what} ({val})")

    doc = {"schema": 1, "suite": "serve", "mode": mode,
           "started": started.isoformat(timespec="seconds"),
           "finished": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
           "elapsed_s": round(time.monotonic() - t_start, 1),
           "command": "bench/run serve " + " ".join(sys.argv[1:]),
           "machine": machine | {"load_average_at_end": os.getloadavg()},
           "versions": vers, "config": cfg | {"rates": rates, "servers": servers,
                                              "payload_rows": PAYLOADS, "loadgen": str(loadgen)},
           "model": {"name": MODEL_NAME, "alias": ALIAS, "kind": "RandomForestRegressor",
                     "trees": 20, "max_depth": 8, "features": len(FEATURES),
                     "onnx_bytes": model["onnx_bytes"]},
           "startup_s": startup, "answers_checked": checks, "results": results,
           "table": rows, "goals": [{"goal": w, "met": ok, "value": v} for w, ok, v in goal_lines],
           "notes": notes, "problems": problems}
    if args.out:
        out = Path(args.out)
    else:
        date = started.strftime("%Y-%m-%d")
        out = RESULTS_DIR / (f"quick-{date}-serve.json" if args.quick else f"{date}-serve.json")
    return B.write_results(doc, out, problems,
                           "every server answered right and every run completed" if args.quick
                           else "", suffix=f" ({time.monotonic() - t_start:.0f}s)")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\nbench/serve: interrupted; servers stopped", file=sys.stderr)
        sys.exit(130)
