"""Concurrency and crash safety: Sextant's guarantees (mlflow's own server is not held to them)."""

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from conftest import Server, new_workdir, sextant_only

WORKERS = 16
ROUNDS = 20


@sextant_only("a guarantee of Sextant's stores: no 'database is locked' under concurrent writers")
def test_sixteen_concurrent_clients_see_no_errors(server, monkeypatch):
    # No client-side retries: any 5xx or dropped connection must surface as an error here.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    eid = MlflowClient(server.url).create_experiment(f"conc-{uuid.uuid4().hex[:8]}")
    errors = []
    barrier = threading.Barrier(WORKERS)

    def worker(w):
        c = MlflowClient(server.url)
        try:
            barrier.wait(timeout=60)
            rid = c.create_run(eid, run_name=f"w{w}").info.run_id
            for b in range(ROUNDS):
                c.log_batch(
                    rid,
                    metrics=[Metric(f"m{w}", float(b * 100 + i), 1000 + b, b * 100 + i) for i in range(100)],
                    params=[Param(f"bp{b}", str(w))],
                    tags=[RunTag(f"bt{b}", str(w))],
                )
                c.log_metric(rid, "single", float(b), step=b, timestamp=1000 + b)
                c.log_param(rid, f"p{b}", str(b))
                c.set_tag(rid, f"t{b}", "x")
                if b % 5 == 0:
                    c.search_runs([eid], max_results=10)
            c.set_terminated(rid)
            run = c.get_run(rid)
            assert len(run.data.params) == 2 * ROUNDS, len(run.data.params)
            assert run.data.metrics["single"] == float(ROUNDS - 1)
            hist = c.get_metric_history(rid, f"m{w}")
            assert [m.value for m in hist] == [float(i) for i in range(ROUNDS * 100)]
        except Exception as e:  # noqa: BLE001 - every failure is collected and reported
            errors.append(f"worker {w}: {e!r}")

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        list(pool.map(worker, range(WORKERS)))
    assert errors == [], "\n".join(errors[:5])
    assert len(MlflowClient(server.url).search_runs([eid])) == WORKERS
    assert "database is locked" not in server.log_tail(10**7)


@sextant_only("a crash-safety guarantee of Sextant: SIGKILL loses no acknowledged write")
def test_sigkill_mid_ingestion_loses_no_acknowledged_write():
    srv = Server(new_workdir("sextant-kill-"))
    srv.start()
    try:
        base = f"{srv.url}/api/2.0/mlflow"
        eid = requests.post(f"{base}/experiments/create", json={"name": "kill"}, timeout=10).json()["experiment_id"]
        run_ids = [
            requests.post(f"{base}/runs/create", json={"experiment_id": eid, "start_time": 1}, timeout=10)
            .json()["run"]["info"]["run_id"]
            for _ in range(4)
        ]
        acked_batches = {rid: [] for rid in run_ids}  # first step of every acknowledged batch
        acked_single = {rid: [] for rid in run_ids}  # params and tags logged one by one
        stop = threading.Event()
        killed = threading.Event()
        errors = []

        def writer(rid):
            try:
                write(rid)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(f"{rid}: {e!r}")

        def write(rid):
            s = requests.Session()
            step = 0
            while not stop.is_set():
                batch = {
                    "run_id": rid,
                    "metrics": [
                        {"key": "m", "value": float(step + i), "timestamp": 1, "step": step + i} for i in range(200)
                    ],
                    "params": [{"key": f"bp{step}", "value": str(step)}],
                    "tags": [{"key": f"bt{step}", "value": str(step)}],
                }
                try:
                    r = s.post(f"{base}/runs/log-batch", json=batch, timeout=10)
                    if r.status_code == 200:
                        acked_batches[rid].append(step)
                    elif not killed.is_set():
                        raise AssertionError(f"log-batch failed before the kill: {r.status_code} {r.text[:200]}")
                    r = s.post(f"{base}/runs/log-parameter", json={"run_id": rid, "key": f"p{step}", "value": "v"},
                               timeout=10)
                    if r.status_code == 200:
                        acked_single[rid].append(step)
                except requests.RequestException:
                    if killed.is_set():
                        return
                    raise
                step += 200

        threads = [threading.Thread(target=writer, args=(rid,), daemon=True) for rid in run_ids]
        for t in threads:
            t.start()
        time.sleep(3.0)
        killed.set()
        srv.kill()
        stop.set()
        for t in threads:
            t.join(timeout=30)
        assert errors == [], errors[:3]
        assert all(acked_batches[r] for r in run_ids), "the writers made progress before the kill"

        srv.start()  # the store opens cleanly after the crash
        c = MlflowClient(srv.url)
        total = 0
        for rid in run_ids:
            steps = {m.step for m in c.get_metric_history(rid, "m")}
            run = c.get_run(rid)
            for start in acked_batches[rid]:
                missing = [s for s in range(start, start + 200) if s not in steps]
                assert not missing, f"acknowledged batch at step {start} of run {rid} lost {len(missing)} points"
                assert run.data.params.get(f"bp{start}") == str(start)
                assert run.data.tags.get(f"bt{start}") == str(start)
                total += 200
            for start in acked_single[rid]:
                assert run.data.params.get(f"p{start}") == "v", (rid, start)
        assert total > 0
        # ... and takes new writes.
        c.log_metric(run_ids[0], "after-restart", 1.0)
        assert c.get_run(run_ids[0]).data.metrics["after-restart"] == 1.0
        srv.restart()  # and a graceful stop/start on the same store still works
        assert c.get_run(run_ids[0]).data.metrics["after-restart"] == 1.0
    finally:
        srv.cleanup()


@sextant_only("graceful shutdown on SIGTERM is checked for Sextant")
def test_sigterm_is_graceful():
    srv = Server(new_workdir("sextant-term-"))
    srv.start()
    try:
        c = MlflowClient(srv.url)
        eid = c.create_experiment("term")
        rid = c.create_run(eid).info.run_id
        c.log_metric(rid, "m", 1.0)
        code = srv.stop()
        assert code == 0, f"exit code {code} on SIGTERM; log:\n{srv.log_tail()}"
        srv.start()
        assert MlflowClient(srv.url).get_run(rid).data.metrics == {"m": 1.0}
    finally:
        srv.cleanup()
