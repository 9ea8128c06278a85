"""What was approved is what is served (issue 14, acceptance 3), end to end with the real
mlflow client, the real `sextant server` and `sextant serve`, and a real ONNX model.

Approval records the SHA-256 of every file of the version. Overwriting one of them through the
artifact API (the mlflow client's own artifact repository, as `mlflow` would write it) is
refused with 409 naming the approved version. A file changed on disk behind the server's back
(the artifact folder edited directly) makes `sextant serve` refuse the version, naming the file,
on /health, in its answers and in its log; restored, the version is served.
"""

import hashlib
import os
import tempfile
import time
import uuid

import numpy as np
import pytest
import requests
from sklearn.linear_model import LinearRegression

import models as M

ALIAS = "production"


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {what}")


def health(base):
    r = requests.get(f"{base}/health", timeout=10)
    (model,) = r.json()["models"]
    return r.status_code, model


def registered_approved_model(tracking):
    name = "digest-" + uuid.uuid4().hex[:8]
    onx = M.to_onnx(LinearRegression().fit(M.X, M.Y_REG), M.X)
    version = M.log_and_register(name, onx, M.X[:3], tracking)
    review = M.sextant_api(tracking, "POST", f"models/{name}/versions/{version}/review",
                           {"decision": "approve", "comment": "metrics match the baseline"})
    M.promote(tracking, name, version, ALIAS)
    M.sextant_api(tracking, "PUT", f"models/{name}/protected-aliases/{ALIAS}")
    return name, version, onx, review["review"]["approved_files"]


def test_approved_files_cannot_be_overwritten_and_changed_files_are_not_served(serve, tracking, workdir):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    name, version, onx, manifest = registered_approved_model(tracking)
    client = MlflowClient(tracking)
    uri = client.get_model_version_download_uri(name, version)

    # The approval recorded every file, with the SHA-256 of the bytes actually stored.
    root = os.path.join(workdir, "artifacts", *manifest["root"].split("/"))
    on_disk = sorted(
        os.path.relpath(os.path.join(d, f), root).replace(os.sep, "/")
        for d, _, files in os.walk(root) for f in files)
    assert [f["path"] for f in manifest["files"]] == on_disk
    assert "model.onnx" in on_disk and "MLmodel" in on_disk
    for f in manifest["files"]:
        with open(os.path.join(root, f["path"]), "rb") as fh:
            assert hashlib.sha256(fh.read()).hexdigest() == f["sha256"], f["path"]
    audit = M.sextant_api(tracking, "GET", f"models/{name}/audit?version={version}")["entries"]
    approval = [e for e in audit if e["action"] == "approve"][-1]
    assert approval["details"]["files"]["digest"] == manifest["digest"]

    # Overwriting through the artifact API, with mlflow's own artifact repository: refused.
    repo = get_artifact_repository(uri)
    with tempfile.TemporaryDirectory() as tmp:
        forged = os.path.join(tmp, "model.onnx")
        with open(forged, "wb") as fh:
            fh.write(b"not the approved model")
        with pytest.raises((MlflowException, requests.HTTPError)) as refused:
            repo.log_artifact(forged)
    text = str(refused.value)
    assert "409" in text or "RESOURCE_CONFLICT" in text, text
    direct = requests.put(f"{tracking}/api/2.0/mlflow-artifacts/artifacts/{manifest['root']}/model.onnx",
                          data=b"not the approved model", timeout=10)
    assert direct.status_code == 409, direct.text
    assert direct.json()["error_code"] == "RESOURCE_CONFLICT"
    assert f"version {version} of registered model '{name}'" in direct.json()["message"]
    with open(os.path.join(root, "model.onnx"), "rb") as fh:
        assert fh.read() == onx.SerializeToString(), "the refused write changed nothing"

    # Served as approved.
    base, proc = serve("--model", f"{name}@{ALIAS}", "--poll-interval", "0.3")
    r = requests.post(f"{base}/invocations", json={"inputs": M.X[:1].tolist()}, timeout=10)
    assert r.status_code == 200, r.text

    # Behind the server's back: the file on disk changes. A fresh `sextant serve` refuses the
    # version, naming the file.
    path = os.path.join(root, "model.onnx")
    with open(path, "rb") as fh:
        original = fh.read()
    other = M.to_onnx(LinearRegression().fit(M.X, -M.Y_REG), M.X).SerializeToString()
    with open(path, "wb") as fh:
        fh.write(other)
    try:
        fresh, fresh_proc = serve("--model", f"{name}@{ALIAS}", "--poll-interval", "0.3")

        def refused_on_health():
            return "model.onnx" in (health(fresh)[1]["error"] or "")

        wait_for(refused_on_health, 30, "/health names the changed file")
        code, h = health(fresh)
        assert code == 503 and not h["ready"] and h["version"] is None, h
        assert "differs from what was approved" in h["error"], h
        r = requests.post(f"{fresh}/invocations", json={"inputs": M.X[:1].tolist()}, timeout=10)
        assert r.status_code == 503, r.text
        assert "model.onnx" in fresh_proc.tail() and "differs from what was approved" in fresh_proc.tail()
        # An added file is refused too.
        with open(path, "wb") as fh:
            fh.write(original)
        with open(os.path.join(root, "extra.bin"), "wb") as fh:
            fh.write(b"planted")
        extra, _ = serve("--model", f"{name}@{ALIAS}", "--poll-interval", "0.3")
        wait_for(lambda: "extra.bin" in (health(extra)[1]["error"] or ""), 30,
                 "/health names the added file")
        os.remove(os.path.join(root, "extra.bin"))
    finally:
        with open(path, "wb") as fh:
            fh.write(original)

    # Restored, the version is served again, by a server started now.
    again, _ = serve("--model", f"{name}@{ALIAS}", "--poll-interval", "0.3")
    wait_for(lambda: health(again)[1]["ready"], 30, "the restored version is served")
    r = requests.post(f"{again}/invocations", json={"inputs": M.X[:1].tolist()}, timeout=10)
    assert r.status_code == 200 and np.isfinite(np.asarray(r.json()["predictions"])).all(), r.text
