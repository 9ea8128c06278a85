"""What was approved is what is served, and the audit log outlives what it describes, through
the unmodified mlflow client: approval records the SHA-256 of the version's files; overwriting
one through the artifact API is refused (409, naming the version) while the rest of the run's
artifacts stay writable; a version a protected alias points at, and a model with a protected
alias, cannot be deleted; a deleted model's audit log stays readable and names who deleted it.
(`sextant serve` refusing files changed on disk: tests/serving/test_approved_files.py.)"""

import hashlib
import json
import os
import uuid

import mlflow
import pytest
import requests
from mlflow.exceptions import MlflowException

from conftest import sextant_only

pytestmark = sextant_only("approval digests and the review gate are Sextant's own")


def sx(server, method, path, **kw):
    kw.setdefault("timeout", 30)
    return requests.request(method, f"{server.url}/api/sextant/v1/{path}", **kw)


def test_approved_files_are_digested_and_cannot_be_overwritten(server, client, exp_id, tmp_path):
    weights = json.dumps({"w": [1, 2, 3]})
    with mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.log_text(weights, "model/w.json")
        mlflow.log_text("flavors: {}\n", "model/MLmodel")
    run_id = run.info.run_id
    name = "digest-" + uuid.uuid4().hex[:10]
    client.create_registered_model(name)
    client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)

    r = sx(server, "POST", f"models/{name}/versions/1/review",
           json={"decision": "approve", "comment": "weights checked"})
    assert r.status_code == 200, r.text
    files = r.json()["review"]["approved_files"]
    assert [(f["path"], f["sha256"]) for f in files["files"]] == [
        ("MLmodel", hashlib.sha256(b"flavors: {}\n").hexdigest()),
        ("w.json", hashlib.sha256(weights.encode()).hexdigest()),
    ]

    # Overwriting an approved file through mlflow's artifact API: refused, naming the version.
    forged = tmp_path / "w.json"
    forged.write_text(json.dumps({"w": [0, 0, 0]}))
    with pytest.raises((MlflowException, requests.HTTPError)) as refused:
        client.log_artifact(run_id, str(forged), "model")
    assert "409" in str(refused.value) or "RESOURCE_CONFLICT" in str(refused.value), refused.value
    r = requests.put(f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{files['root']}/w.json",
                     data=b"{}", timeout=30)
    assert r.status_code == 409 and r.json()["error_code"] == "RESOURCE_CONFLICT", r.text
    assert f"version 1 of registered model '{name}'" in r.json()["message"], r.text
    # Deleting them is refused as well.
    r = requests.delete(f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{files['root']}", timeout=30)
    assert r.status_code == 409, r.text
    # The files are what was approved; the rest of the run stays writable.
    local = client.download_artifacts(run_id, "model/w.json", str(tmp_path / "dl"))
    with open(local) as fh:
        assert fh.read() == weights
    notes = tmp_path / "notes.txt"
    notes.write_text("after approval")
    client.log_artifact(run_id, str(notes), "reports")
    assert "reports/notes.txt" in [f.path for f in client.list_artifacts(run_id, "reports")]


def test_protected_versions_and_models_are_not_deleted_and_the_log_survives(server, client, exp_id):
    with mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.log_text("x", "model/x.txt")
    run_id = run.info.run_id
    name = "keep-" + uuid.uuid4().hex[:10]
    client.create_registered_model(name)
    for _ in range(2):
        client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
    r = sx(server, "POST", f"models/{name}/versions/1/review",
           json={"decision": "approve", "comment": "ok"})
    assert r.status_code == 200, r.text
    client.set_registered_model_alias(name, "production", "1")
    assert sx(server, "PUT", f"models/{name}/protected-aliases/production").status_code == 200

    with pytest.raises(MlflowException) as refused:
        client.delete_model_version(name, "1")
    assert "production" in str(refused.value), refused.value
    with pytest.raises(MlflowException) as refused:
        client.delete_registered_model(name)
    assert "protected" in str(refused.value), refused.value
    assert client.get_model_version(name, "1").version == "1"

    client.delete_model_version(name, "2")  # not protected: deleted
    assert sx(server, "DELETE", f"models/{name}/protected-aliases/production").status_code == 200
    r = requests.delete(f"{server.url}/api/2.0/mlflow/registered-models/delete",
                        json={"name": name}, headers={"X-Sextant-User": "erin"}, timeout=30)
    assert r.status_code == 200, r.text

    r = sx(server, "GET", f"models/{name}/audit")
    assert r.status_code == 200, r.text
    entries = r.json()["entries"]
    assert entries[-1]["action"] == "delete_model" and entries[-1]["actor"] == "erin", entries[-1]
    actions = [e["action"] for e in entries]
    for a in ("create_model", "approve", "protect_alias", "delete_version", "unprotect_alias"):
        assert a in actions, actions
