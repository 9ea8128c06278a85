"""`sextant repro --tracking-uri`: each stage execution is a run of a real `sextant server`
(through `sextant run`'s machinery), children of one parent run for the whole repro; stages
restored from the run cache are recorded as such."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import SEXTANT, sx, write


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = tmp_path / "server"
    log = open(tmp_path / "server.log", "ab")
    proc = subprocess.Popen([SEXTANT, "server", "--host", "127.0.0.1", "--port", str(port),
                             "--data-dir", str(data)],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "server exited"
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "server did not start"
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


def runs(url, experiment_id="0"):
    req = urllib.request.Request(
        url + "/api/2.0/mlflow/runs/search",
        data=json.dumps({"experiment_ids": [experiment_id], "max_results": 1000}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        out = json.loads(r.read()).get("runs", [])
    for run in out:
        run["tags"] = {t["key"]: t["value"] for t in run["data"].get("tags", [])}
        run["params"] = {p["key"]: p["value"] for p in run["data"].get("params", [])}
        run["metrics"] = {m["key"]: m["value"] for m in run["data"].get("metrics", [])}
    return out


def test_each_stage_is_a_run_under_a_parent(repo, server):
    write(repo, {
        "params.yaml": "n: 1\n",
        "in.txt": "x\n",
        "dvc.yaml": """stages:
  a:
    cmd: cp in.txt a.txt
    deps: [in.txt]
    outs: [a.txt]
  b:
    cmd: echo ${n} | cat - a.txt > b.txt && echo '{"score":0.75}' > m.json
    deps: [a.txt]
    params: [n]
    outs: [b.txt]
    metrics:
      - m.json: {cache: false}
""",
    })
    sx(repo, "repro", "--tracking-uri", server)
    all_runs = runs(server)
    parents = [r for r in all_runs if r["info"].get("run_name") == "repro"]
    assert len(parents) == 1 and parents[0]["info"]["status"] == "FINISHED"
    parent = parents[0]["info"]["run_id"]
    stages = {r["tags"].get("sextant.pipeline.stage"): r for r in all_runs
              if r["tags"].get("mlflow.parentRunId") == parent}
    assert set(stages) == {"a", "b"}, stages
    b = stages["b"]
    assert b["info"]["status"] == "FINISHED"
    assert b["params"] == {"n": "1"}
    assert b["metrics"]["score"] == 0.75
    assert b["tags"]["sextant.pipeline.action"] == "ran"

    # n=2 runs b; back to n=1 restores b from the run cache: a run says so.
    (repo / "params.yaml").write_text("n: 2\n")
    sx(repo, "repro", "--tracking-uri", server)
    (repo / "params.yaml").write_text("n: 1\n")
    sx(repo, "repro", "--tracking-uri", server)
    restored = [r for r in runs(server) if r["tags"].get("sextant.pipeline.action") == "restored"]
    assert len(restored) == 1, restored
    r = restored[0]
    assert r["tags"]["sextant.pipeline.stage"] == "b"
    assert r["tags"]["sextant.pipeline.restored_from"] == "run-cache"
    assert r["params"] == {"n": "1"} and r["info"]["status"] == "FINISHED"
