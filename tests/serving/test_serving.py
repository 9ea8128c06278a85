"""`sextant serve` end to end: a real tracking server, real skl2onnx models, checked against
onnxruntime in Python to 1e-5 (acceptance 1), hot swap under load (acceptance 2)."""

import threading
import time

import numpy as np
import requests

import models as M

ALIAS = M.ALIAS
TOL = 1e-5


def check_matches(base, name, case):
    r = requests.post(f"{base}/models/{name}/invocations", json=M.request_body(case["inputs"]), timeout=30)
    assert r.status_code == 200, (name, r.status_code, r.text)
    preds = r.json()["predictions"]
    expected = case["expected"]
    if len(expected) == 1:
        preds = {next(iter(expected)): preds}
    assert set(preds) == set(expected), (name, preds.keys())
    for out, want in expected.items():
        got = np.asarray(preds[out])
        assert got.shape == want.shape, (name, out, got.shape, want.shape)
        if want.dtype.kind in "fc":
            np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL, err_msg=f"{name}/{out}")
        else:
            np.testing.assert_array_equal(got, want, err_msg=f"{name}/{out}")


def health_of(base):
    r = requests.get(f"{base}/health", timeout=10)
    return {m["name"]: m for m in r.json()["models"]}


def test_matrix_on_onnx_runtime(serve, matrix):
    base, _ = serve("--models", f"conf-*@{ALIAS}", "--engine", "ort")
    health = health_of(base)
    assert set(health) == set(matrix)
    for name, case in matrix.items():
        assert health[name]["ready"], (name, health[name]["error"])
        assert health[name]["engine"] == "ort"
        assert health[name]["version"] == case["version"]
        check_matches(base, name, case)
    assert requests.get(f"{base}/ping", timeout=5).status_code == 200


def test_matrix_on_tract_matches_or_is_refused_naming_the_operator(serve, matrix):
    base, _ = serve("--models", f"conf-*@{ALIAS}", "--engine", "tract")
    health = health_of(base)
    served, refused = [], []
    for name, case in matrix.items():
        h = health[name]
        if h["ready"]:
            assert h["engine"] == "tract"
            check_matches(base, name, case)
            served.append(name)
        else:
            ops = {n.op_type for n in case["onnx"].graph.node}
            err = h["error"] or ""
            assert "operator" in err and any(f"operator {op} " in err for op in ops), (name, err, ops)
            r = requests.post(f"{base}/models/{name}/invocations", json=M.request_body(case["inputs"]), timeout=30)
            assert r.status_code == 503, (name, r.status_code)
            refused.append(name)
    print(f"tract served {served}; refused {refused}")
    assert served, "tract served no model of the matrix"


def test_scoring_formats_errors_and_kserve(serve, matrix):
    name = "conf-pipeline-mixed"
    base, _ = serve("--model", f"{name}@{ALIAS}", "--engine", "ort")
    case = matrix[name]
    df = case["inputs"]
    records = {"dataframe_records": df.astype(object).to_dict(orient="records")}
    a = requests.post(f"{base}/invocations", json=records, timeout=30).json()["predictions"]
    b = requests.post(f"{base}/invocations", json=M.request_body(df), timeout=30).json()["predictions"]
    assert a == b
    bad = {"dataframe_records": [{k: v for k, v in r.items() if k != "flag"} for r in records["dataframe_records"]]}
    r = requests.post(f"{base}/invocations", json=bad, timeout=30)
    assert r.status_code == 400 and "'flag'" in r.json()["message"], r.text
    wrong = {"dataframe_records": [dict(records["dataframe_records"][0], length="long")]}
    r = requests.post(f"{base}/invocations", json=wrong, timeout=30)
    assert r.status_code == 400 and "'length'" in r.json()["message"], r.text
    # KServe V2
    meta = requests.get(f"{base}/v2/models/{name}", timeout=5).json()
    assert {i["name"] for i in meta["inputs"]} == set(df.columns)
    assert requests.get(f"{base}/v2/models/{name}/ready", timeout=5).status_code == 200
    assert requests.get(f"{base}/v2/health/ready", timeout=5).status_code == 200
    n = len(df)
    v2_inputs = []
    for i in meta["inputs"]:
        col = df[i["name"]]
        v2_inputs.append({"name": i["name"], "shape": [n, 1], "datatype": i["datatype"],
                          "data": col.astype(object).tolist()})
    r = requests.post(f"{base}/v2/models/{name}/infer", json={"inputs": v2_inputs}, timeout=30)
    assert r.status_code == 200, r.text
    outs = {o["name"]: np.asarray(o["data"]).reshape(o["shape"]) for o in r.json()["outputs"]}
    for out, want in case["expected"].items():
        np.testing.assert_allclose(outs[out], want, rtol=TOL, atol=TOL)
    # metrics count what was asked, demo page shows the signature's columns
    text = requests.get(f"{base}/metrics", timeout=5).text
    assert f'sextant_serve_requests_total{{model="{name}",version="{case["version"]}"}}' in text
    assert f'sextant_serve_errors_total{{model="{name}",version="{case["version"]}"}} 2' in text
    page = requests.get(f"{base}/models/{name}", timeout=5).text
    for col in df.columns:
        assert f'name="{col}"' in page


def test_hot_swap_under_load(serve, tracking):
    from sklearn.linear_model import LinearRegression

    name = "hotswap-model"
    v = {}
    for k, scale in ((1, 1.0), (2, -5.0)):
        model = LinearRegression().fit(M.X, M.Y_REG * scale)
        onx = M.to_onnx(model, M.X)
        v[k] = (M.log_and_register(name, onx, M.X[:3], tracking), M.reference(onx, M.X[:1]))
    M.promote(tracking, name, v[1][0], "live")
    base, _ = serve("--model", f"{name}@live", "--poll-interval", "0.5")
    body = {"inputs": M.X[:1].tolist()}
    want2 = float(next(iter(v[2][1].values())).ravel()[0])
    failures, answers, stop = [], [], threading.Event()

    def load():
        s = requests.Session()
        while not stop.is_set():
            try:
                r = s.post(f"{base}/invocations", json=body, timeout=10)
                if r.status_code != 200:
                    failures.append(r.status_code)
                else:
                    answers.append((time.monotonic(), float(np.asarray(r.json()["predictions"]).ravel()[0])))
            except requests.RequestException as e:
                failures.append(repr(e))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(2)
    moved = time.monotonic()
    M.promote(tracking, name, v[2][0], "live")
    deadline = moved + 15
    while time.monotonic() < deadline and not any(abs(a - want2) < 1e-4 for _, a in answers[-50:]):
        time.sleep(0.1)
    time.sleep(1)
    stop.set()
    for t in threads:
        t.join()
    assert not failures, failures[:5]
    switched = [t for t, a in answers if abs(a - want2) < 1e-4]
    assert switched, "the new version never answered"
    assert switched[0] - moved < 10, f"the new version answered after {switched[0] - moved:.1f}s"
    assert len(answers) > 100
    assert requests.get(f"{base}/health", timeout=5).json()["models"][0]["version"] == v[2][0]
