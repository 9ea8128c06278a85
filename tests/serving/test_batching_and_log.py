"""Micro-batching (--batch-window-ms) and the request log (--request-log), end to end.

Batching: the same concurrent requests, some of them bad, sent to a batching server and one by
one to a server without batching, get the same answers (and the good ones match onnxruntime),
and /metrics shows that requests really were stacked into shared engine calls.

Request log: every prediction (or the sampled fraction) is a JSON line holding what was asked
and answered, written off the request path and flushed at shutdown.
"""

import json
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import requests
from mlflow.models import infer_signature
from sklearn.linear_model import LinearRegression

import models as M

BATCHED = ["conf-random-forest-classifier", "conf-pipeline-mixed"]


def metric_sum(text, name):
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def request_cases(matrix):
    """(model, body, kind) for requests of 1 to 4 rows of each model, plus bad ones."""
    cases = []
    for name in BATCHED:
        inputs = matrix[name]["inputs"]
        for i in range(16):
            rows = inputs[i % 10: i % 10 + 1 + i % 4]
            cases.append((name, M.request_body(rows), ("good", i % 10, 1 + i % 4)))
    df = matrix["conf-pipeline-mixed"]["inputs"]
    recs = df.astype(object).to_dict(orient="records")
    for i in range(4):
        missing = [{k: v for k, v in r.items() if k != "flag"} for r in recs[i: i + 2]]
        cases.append(("conf-pipeline-mixed", {"dataframe_records": missing}, ("bad", "'flag'")))
        wrong = [dict(recs[i], length="long")]
        cases.append(("conf-pipeline-mixed", {"dataframe_records": wrong}, ("bad", "'length'")))
    return cases


def post(base, name, body):
    r = requests.post(f"{base}/models/{name}/invocations", json=body, timeout=60)
    return r.status_code, r.json()


def assert_same_answer(a, b, what):
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), what
        for k in a:
            assert_same_answer(a[k], b[k], f"{what}/{k}")
        return
    x, y = np.asarray(a), np.asarray(b)
    assert x.shape == y.shape, what
    if x.dtype.kind in "fc":
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7, err_msg=what)
    else:
        np.testing.assert_array_equal(x, y, err_msg=what)


def test_batched_answers_equal_unbatched_ones(serve, matrix):
    models = [a for n in BATCHED for a in ("--model", f"{n}@{M.ALIAS}")]
    plain, _ = serve(*models, "--engine", "ort")
    batched, _ = serve(*models, "--engine", "ort", "--batch-window-ms", "25", "--batch-max-rows", "16")
    cases = request_cases(matrix)
    expected = [post(plain, name, body) for name, body, _ in cases]

    gate = threading.Barrier(len(cases))

    def concurrently(case):
        name, body, _ = case
        gate.wait(timeout=60)
        return post(batched, name, body)

    for _round in range(3):
        with ThreadPoolExecutor(max_workers=len(cases)) as pool:
            got = list(pool.map(concurrently, cases))
        for (name, _, kind), (code, answer), (want_code, want) in zip(cases, got, expected):
            what = f"{name} {kind}"
            assert code == want_code, (what, code, answer, want)
            if kind[0] == "bad":
                assert code == 400 and kind[1] in answer["message"], (what, answer)
                assert answer == want, what
                continue
            assert_same_answer(answer["predictions"], want["predictions"], what)
            # ... and both match onnxruntime on those rows.
            _, start, n = kind
            ref = {k: v[start:start + n] for k, v in matrix[name]["expected"].items()}
            preds = answer["predictions"]
            if len(ref) == 1:
                preds = {next(iter(ref)): preds}
            for out, v in ref.items():
                np.testing.assert_allclose(np.asarray(preds[out], dtype=float), v.astype(float),
                                           rtol=1e-5, atol=1e-5, err_msg=f"{what}/{out}")

    text = requests.get(f"{batched}/metrics", timeout=10).text
    good = sum(1 for *_, kind in cases if kind[0] == "good")
    calls = metric_sum(text, "sextant_serve_batches_total")
    stacked = metric_sum(text, "sextant_serve_batched_requests_total")
    assert stacked == 3 * good, text
    assert 0 < calls < stacked, f"no request shared an engine call: {calls} calls for {stacked} requests"
    rows = metric_sum(text, "sextant_serve_batched_rows_total")
    assert rows == 3 * sum(kind[2] for *_, kind in cases if kind[0] == "good"), text
    # Without batching, no batch is counted.
    plain_text = requests.get(f"{plain}/metrics", timeout=10).text
    assert metric_sum(plain_text, "sextant_serve_batches_total") == 0


def register_column_model(tracking):
    """A model whose signature names its columns and whose ONNX graph has one input."""
    name = "reqlog-" + uuid.uuid4().hex[:8]
    frame = pd.DataFrame(M.X.astype(np.float64), columns=["a", "b", "c", "d"])
    model = LinearRegression().fit(frame.values, M.Y_REG)
    onx = M.to_onnx(model, M.X)
    example = frame.iloc[:3]
    out = next(iter(M.reference(onx, M.X[:3]).values()))
    import mlflow

    with mlflow.start_run():
        info = mlflow.onnx.log_model(onx, name="model", input_example=example,
                                     signature=infer_signature(example, out))
    version = str(mlflow.register_model(info.model_uri, name).version)
    M.promote(tracking, name, version, "live")
    return name, version, frame


def test_request_log_holds_what_was_asked_and_answered(serve, tracking, tmp_path):
    name, version, frame = register_column_model(tracking)
    path = tmp_path / "requests.jsonl"
    base, proc = serve("--model", f"{name}@live", "--request-log", str(path))
    sent = []
    for i in range(20):
        rows = frame.iloc[i: i + 1 + i % 3]
        body = {"dataframe_split": {"columns": list(rows.columns), "data": rows.values.tolist()}}
        r = requests.post(f"{base}/invocations", json=body, timeout=30)
        assert r.status_code == 200, r.text
        sent.append((rows.values, r.json()["predictions"]))
    bad = requests.post(f"{base}/invocations", json={"dataframe_split": {"columns": ["a"], "data": [[1]]}}, timeout=30)
    assert bad.status_code == 400
    text = requests.get(f"{base}/metrics", timeout=10).text
    assert "sextant_serve_request_log_dropped_total 0" in text, text
    assert proc.stop() == 0  # SIGTERM: the writer flushes what is queued
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == len(sent), "one line per answered prediction (none for the 400)"
    for rec, (rows, answer) in zip(lines, sent):
        assert rec["model"] == name and rec["version"] == version and rec["protocol"] == "mlflow"
        assert rec["rows"] == len(rows)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", rec["time"]), rec["time"]
        assert rec["latency_ms"] >= 0
        assert rec["input_columns"] == ["a", "b", "c", "d"]
        (inp,) = rec["inputs"].values()
        np.testing.assert_allclose(np.asarray(inp), rows, rtol=1e-6)
        (out,) = rec["outputs"].values()
        assert out == answer


def test_request_log_sampling_keeps_about_the_fraction(serve, tracking, tmp_path):
    name, _, frame = register_column_model(tracking)
    path = tmp_path / "sampled.jsonl"
    base, proc = serve("--model", f"{name}@live", "--request-log", str(path),
                       "--request-log-sample", "0.1")
    body = {"dataframe_split": {"columns": list(frame.columns), "data": frame.values[:1].tolist()}}
    s = requests.Session()
    n = 1000
    for _ in range(n):
        assert s.post(f"{base}/invocations", json=body, timeout=30).status_code == 200
    text = requests.get(f"{base}/metrics", timeout=10).text
    assert "sextant_serve_request_log_dropped_total 0" in text, text
    assert proc.stop() == 0
    kept = len(path.read_text().splitlines())
    assert kept >= metric_sum(text, "sextant_serve_request_log_records_total")
    # 100 expected; binomial sd ~9.5, so 50..150 is more than 5 sd either way.
    assert 50 <= kept <= 150, f"{kept} of {n} requests logged at --request-log-sample 0.1"
