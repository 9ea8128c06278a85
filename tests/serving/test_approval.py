"""The approval rule end to end: a protected alias pointing at a version that is not approved is
never served. The real registry (`sextant server`), the real mlflow client, `sextant serve`.

The registry itself refuses to point a protected alias at an unapproved version (checked here
through the mlflow client), so to see what `sextant serve` does when it meets one anyway (a
store edited by hand, another tool writing it), the test moves the alias in the registry's
SQLite store directly. `sextant serve` must then keep the approved version serving (or, when it
starts, serve nothing) and say why on /health and in its log; once the version is approved, it
is served.
"""

import os
import sqlite3
import time
import uuid

import numpy as np
import pytest
import requests
from sklearn.linear_model import LinearRegression

import models as M

ALIAS = "production"


def predict(base):
    r = requests.post(f"{base}/invocations", json={"inputs": M.X[:1].tolist()}, timeout=10)
    return r.status_code, r.json()


def value_of(answer):
    return float(np.asarray(answer["predictions"]).ravel()[0])


def health(base):
    r = requests.get(f"{base}/health", timeout=10)
    (model,) = r.json()["models"]
    return r.status_code, model


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {what}")


def move_alias_behind_the_registry(workdir, name, alias, version):
    con = sqlite3.connect(os.path.join(workdir, "store.db"), timeout=30)
    try:
        with con:
            cur = con.execute(
                "UPDATE registered_model_aliases SET version = ? WHERE alias = ? AND model_key = "
                "(SELECT model_key FROM registered_models WHERE name = ?)",
                (int(version), alias, name))
            assert cur.rowcount == 1, "the alias row was not found in the store"
    finally:
        con.close()


def test_a_protected_alias_never_serves_an_unapproved_version(serve, tracking, workdir):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    name = "approval-" + uuid.uuid4().hex[:8]
    versions, want = {}, {}
    for k, scale in ((1, 1.0), (2, -5.0)):
        onx = M.to_onnx(LinearRegression().fit(M.X, M.Y_REG * scale), M.X)
        versions[k] = M.log_and_register(name, onx, M.X[:3], tracking)
        want[k] = float(next(iter(M.reference(onx, M.X[:1]).values())).ravel()[0])
    M.approve(tracking, name, versions[1])
    M.promote(tracking, name, versions[1], ALIAS)
    M.sextant_api(tracking, "PUT", f"models/{name}/protected-aliases/{ALIAS}")

    # The registry refuses the move itself, through the real mlflow client.
    client = MlflowClient(tracking)
    with pytest.raises(MlflowException) as refused:
        client.set_registered_model_alias(name, ALIAS, versions[2])
    assert "approved" in str(refused.value), refused.value
    assert client.get_model_version_by_alias(name, ALIAS).version == versions[1]

    base, proc = serve("--model", f"{name}@{ALIAS}", "--poll-interval", "0.3")
    code, answer = predict(base)
    assert code == 200 and abs(value_of(answer) - want[1]) < 1e-4, answer

    # The alias now points at the unapproved version 2 in the store: sextant serve's own check
    # refuses it and version 1 keeps answering; /health and the log say why.
    move_alias_behind_the_registry(workdir, name, ALIAS, versions[2])
    refusal = f"version {versions[2]} is pending review, and the alias '{ALIAS}' is protected"

    def refused_on_health():
        return refusal in (health(base)[1]["error"] or "")

    wait_for(refused_on_health, 15, "/health names the refusal")
    for _ in range(20):
        code, answer = predict(base)
        assert code == 200 and abs(value_of(answer) - want[1]) < 1e-4, answer
        time.sleep(0.05)
    code, h = health(base)
    assert code == 200 and h["ready"] and h["version"] == versions[1], h
    assert "refused by review" in proc.tail() and refusal in proc.tail(), proc.tail()

    # A server started now serves nothing, and says why.
    fresh, fresh_proc = serve("--model", f"{name}@{ALIAS}", "--poll-interval", "0.3")
    assert requests.get(f"{fresh}/ping", timeout=5).status_code == 503
    code, h = health(fresh)
    assert code == 503 and not h["ready"] and h["version"] is None and refusal in h["error"], h
    code, answer = predict(fresh)
    assert code == 503 and refusal in answer["message"], answer
    assert f"NOT serving {name}@{ALIAS}" in fresh_proc.tail(), fresh_proc.tail()

    # Approved, version 2 is served by both, within a few polls.
    M.approve(tracking, name, versions[2])
    for b in (base, fresh):
        wait_for(lambda b=b: health(b)[1]["version"] == versions[2], 15, f"{b} serves version 2")
        code, answer = predict(b)
        assert code == 200 and abs(value_of(answer) - want[2]) < 1e-4, answer
        assert health(b)[1]["error"] is None
