"""Metric history: every point, in step order, through the client's paging."""

import math
import os
import time
from concurrent.futures import ThreadPoolExecutor

from mlflow.entities import Metric

from conftest import IS_SEXTANT, api, assert_error


def test_history_in_step_order(client, run_id):
    for step in [3, 1, 2, 0]:
        client.log_metric(run_id, "m", float(step * 10), step=step, timestamp=100 + step)
    hist = client.get_metric_history(run_id, "m")
    assert [(m.key, m.step, m.value, m.timestamp) for m in hist] == [
        ("m", 0, 0.0, 100), ("m", 1, 10.0, 101), ("m", 2, 20.0, 102), ("m", 3, 30.0, 103)]


def test_history_order_is_timestamp_then_step_then_value(client, run_id):
    # mlflow's SQL store orders a history by (timestamp, step, value), which is step order
    # whenever timestamps grow with the step, as they do when a client logs as it trains.
    client.log_metric(run_id, "d", 9.0, step=1, timestamp=0)
    for ts, v in [(3, 1.0), (1, 2.0), (2, 3.0)]:
        client.log_metric(run_id, "d", v, step=0, timestamp=ts)
    client.log_metric(run_id, "d", 5.0, step=0, timestamp=2)
    assert [(m.timestamp, m.step, m.value) for m in client.get_metric_history(run_id, "d")] == [
        (0, 1, 9.0), (1, 0, 2.0), (2, 0, 3.0), (2, 0, 5.0), (3, 0, 1.0)]


def test_history_keeps_special_values(client, run_id):
    values = [1.0, float("nan"), float("inf"), float("-inf"), -0.5, 1.0]
    for step, v in enumerate(values):
        client.log_metric(run_id, "s", v, step=step, timestamp=1)
    # Logging the very same (key, timestamp, step, value) again does not add a point.
    client.log_metric(run_id, "s", 1.0, step=5, timestamp=1)
    got = [m.value for m in client.get_metric_history(run_id, "s")]
    assert len(got) == 6
    assert got[0] == 1.0 and math.isnan(got[1])
    assert got[2] == 1.7976931348623157e308 and got[3] == -1.7976931348623157e308
    assert got[4:] == [-0.5, 1.0]


def test_history_of_unknown_metric_is_empty(client, run_id):
    assert client.get_metric_history(run_id, "never-logged") == []


def test_raw_history_paging(server, client, run_id):
    # Equal timestamps: the order is by step.
    client.log_batch(run_id, metrics=[Metric("h", float(i), 5, 9 - i) for i in range(10)])
    seen, token, pages = [], None, 0
    while True:
        params = {"run_id": run_id, "metric_key": "h", "max_results": 3}
        if token:
            params["page_token"] = token
        r = api(server, "GET", "metrics/get-history", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body.get("metrics", [])) <= 3
        seen.extend((m["step"], m["value"]) for m in body.get("metrics", []))
        pages += 1
        token = body.get("next_page_token")
        if not token:
            break
        assert pages < 10
    assert seen == [(s, float(9 - s)) for s in range(10)]
    assert pages >= 4
    r = api(server, "GET", "metrics/get-history", params={"run_id": run_id, "metric_key": "h", "page_token": "%%%"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    r = api(server, "GET", "metrics/get-history", params={"run_id": run_id, "metric_key": "h", "max_results": 0})
    assert_error(
        r, 400, "INVALID_PARAMETER_VALUE",
        message="Invalid value 0 for parameter 'max_results' supplied. It must be a positive integer.",
    )
    r = api(server, "GET", "metrics/get-history", params={"run_id": run_id, "metric_key": "h"})
    assert len(r.json()["metrics"]) == 10 and not r.json().get("next_page_token")


def test_million_point_history(client, run_id):
    # The full million against Sextant. mlflow's own server needs many minutes for that, so the
    # reference run checks the same path (client-side chunking, threads, several 25,000-point
    # pages) with fewer points; SEXTANT_COMPAT_HISTORY_POINTS overrides either.
    default = 1_000_000 if IS_SEXTANT else 60_000
    n = int(os.environ.get("SEXTANT_COMPAT_HISTORY_POINTS", default))
    base_ts = 1_700_000_000_000

    def send(start):
        client.log_batch(
            run_id, metrics=[Metric("big", s * 0.5, base_ts + s, s) for s in range(start, min(start + 1000, n))]
        )

    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(send, range(0, n, 1000)))
    t1 = time.monotonic()
    hist = client.get_metric_history(run_id, "big")
    t2 = time.monotonic()
    print(f"\n{n} points: logged in {t1 - t0:.1f}s, read back in {t2 - t1:.1f}s")
    assert len(hist) == n
    bad = [
        (i, m.step, m.value, m.timestamp)
        for i, m in enumerate(hist)
        if m.step != i or m.value != i * 0.5 or m.timestamp != base_ts + i or m.key != "big"
    ]
    assert not bad, f"{len(bad)} points out of order or wrong, first: {bad[:5]}"
    assert client.get_run(run_id).data.metrics["big"] == (n - 1) * 0.5


def test_bulk_history_endpoints(server, client, exp_id):
    """The UI's endpoints: several runs' histories at once, and a sampled view for charts."""
    import requests

    runs = [client.create_run(exp_id).info.run_id for _ in range(2)]
    for i, rid in enumerate(runs):
        client.log_batch(rid, metrics=[Metric("loss", float(s + i), 1000 + s, s) for s in range(500)])
    r = requests.get(f"{server.url}/ajax-api/2.0/mlflow/metrics/get-history-bulk",
                     params={"run_id": runs, "metric_key": "loss"}, timeout=60)
    assert r.status_code == 200, r.text
    pts = r.json()["metrics"]
    assert len(pts) == 1000
    assert {p["run_id"] for p in pts} == set(runs)
    first = [p for p in pts if p["run_id"] == runs[1]]
    assert [p["step"] for p in first] == list(range(500)) and first[3]["value"] == 4.0

    r = api(server, "GET", "metrics/get-history-bulk-interval",
            params={"run_ids": runs, "metric_key": "loss", "max_results": 10})
    assert r.status_code == 200, r.text
    pts = r.json()["metrics"]
    for rid in runs:
        steps = [p["step"] for p in pts if p["run_id"] == rid]
        assert len(steps) == 10 and steps[0] == 0 and steps[-1] == 499, steps
        assert steps == sorted(steps)
    r = api(server, "GET", "metrics/get-history-bulk-interval",
            params={"run_ids": runs[0], "metric_key": "loss", "start_step": 100, "end_step": 199, "max_results": 1000})
    steps = [p["step"] for p in r.json()["metrics"]]
    assert steps == list(range(100, 200))
    r = api(server, "GET", "metrics/get-history-bulk-interval",
            params={"run_ids": runs[0], "metric_key": "loss", "max_results": 5000})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
