"""Artifacts through the server's proxy: log, list, download, multipart upload, delete."""

import hashlib
import json
import os

import mlflow
import pytest
import requests
from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository

from conftest import ARTIFACTS, IS_MLFLOW


def artifacts_url(server, path=""):
    return f"{server.url}/api/2.0/mlflow-artifacts/artifacts" + (f"/{path}" if path else "")


def assert_artifact_missing(r):
    if IS_MLFLOW and ARTIFACTS == "s3":
        # A genuine mlflow-server bug: with an S3 store it answers 500 (botocore's 404 is not
        # mapped) for a file that does not exist. Sextant must answer 404 on every store.
        assert r.status_code in (404, 500), r.status_code
        return
    assert r.status_code == 404, (r.status_code, r.text[:300])
    assert r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def run_root(client, run_id):
    """The run's artifact root as a path under the artifact proxy: <exp>/<run>/artifacts."""
    uri = client.get_run(run_id).info.artifact_uri
    assert uri.startswith("mlflow-artifacts:/"), uri
    return uri[len("mlflow-artifacts:/"):].lstrip("/")


@pytest.fixture()
def tree(tmp_path):
    t = tmp_path / "tree"
    (t / "sub" / "deeper").mkdir(parents=True)
    (t / "a.txt").write_text("A")
    (t / "empty.txt").write_bytes(b"")
    (t / "sub" / "b.bin").write_bytes(bytes(range(256)) * 40)
    (t / "sub" / "deeper" / "c.json").write_text('{"c": 3}')
    return t


def test_log_list_download(client, run_id, tmp_path, tree):
    f = tmp_path / "hello.txt"
    f.write_text("hi there")
    with mlflow.start_run(run_id=run_id):
        mlflow.log_artifact(str(f))
        mlflow.log_artifact(str(f), artifact_path="copies/one")
        mlflow.log_artifacts(str(tree), artifact_path="tree")
        mlflow.log_text("some text\nwith lines", "notes/t.txt")
        mlflow.log_dict({"a": 1, "b": [1, 2]}, "d/x.json")
        mlflow.log_dict({"a": 1, "b": [1, 2]}, "d/x.yaml")
    root = {a.path: a for a in client.list_artifacts(run_id)}
    assert set(root) == {"hello.txt", "copies", "tree", "notes", "d"}
    assert root["tree"].is_dir and not root["hello.txt"].is_dir
    assert root["hello.txt"].file_size == 8
    assert root["tree"].file_size is None
    nested = {a.path: a for a in client.list_artifacts(run_id, "tree")}
    assert set(nested) == {"tree/a.txt", "tree/empty.txt", "tree/sub"}
    assert nested["tree/empty.txt"].file_size in (0, None)  # mlflow omits a zero file_size
    assert [a.path for a in client.list_artifacts(run_id, "tree/sub")] == ["tree/sub/b.bin", "tree/sub/deeper"]
    assert [a.path for a in client.list_artifacts(run_id, "tree/sub/deeper")] == ["tree/sub/deeper/c.json"]
    assert [a.path for a in client.list_artifacts(run_id, "copies/one")] == ["copies/one/hello.txt"]
    assert client.list_artifacts(run_id, "does/not/exist") == []
    # A directory, byte-exact.
    out = tmp_path / "out"
    out.mkdir()
    local = client.download_artifacts(run_id, "tree", str(out))
    for rel in ["a.txt", "empty.txt", "sub/b.bin", "sub/deeper/c.json"]:
        assert open(os.path.join(local, rel), "rb").read() == (tree / rel).read_bytes(), rel
    # A single file.
    one = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="copies/one/hello.txt", dst_path=str(out))
    assert open(one).read() == "hi there"
    # Everything.
    full = mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(tmp_path / "all"))
    assert open(os.path.join(full, "tree", "sub", "b.bin"), "rb").read() == bytes(range(256)) * 40
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes/t.txt") == "some text\nwith lines"
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/d/x.json") == {"a": 1, "b": [1, 2]}
    assert "b:" in mlflow.artifacts.load_text(f"runs:/{run_id}/d/x.yaml")
    listed = mlflow.artifacts.list_artifacts(run_id=run_id, artifact_path="d")
    assert sorted(a.path for a in listed) == ["d/x.json", "d/x.yaml"]


def test_awkward_names(client, run_id, tmp_path):
    d = tmp_path / "dir with space"
    d.mkdir()
    (d / "ü ñ.txt").write_text("unicode")
    (d / "plus+and%percent.txt").write_text("escapes")
    client.log_artifacts(run_id, str(d), artifact_path="weird name")
    names = sorted(a.path for a in client.list_artifacts(run_id, "weird name"))
    assert names == ["weird name/plus+and%percent.txt", "weird name/ü ñ.txt"]
    out = client.download_artifacts(run_id, "weird name", str(tmp_path / "dl"))
    assert open(os.path.join(out, "ü ñ.txt")).read() == "unicode"
    assert open(os.path.join(out, "plus+and%percent.txt")).read() == "escapes"


def test_log_figure_and_image(client, run_id):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [3, 1, 2])
    with mlflow.start_run(run_id=run_id):
        mlflow.log_figure(fig, "plots/fig.png")
        mlflow.log_image(np.zeros((8, 8, 3), dtype=np.uint8), artifact_file="plots/black.png")
    plt.close(fig)
    files = {a.path: a for a in client.list_artifacts(run_id, "plots")}
    assert set(files) == {"plots/fig.png", "plots/black.png"}
    assert files["plots/fig.png"].file_size > 100
    png = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="plots/fig.png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_raw_proxy_put_get_list(server, client, run_id):
    root = run_root(client, run_id)
    payload = os.urandom(100_000)
    r = requests.put(artifacts_url(server, f"{root}/raw/blob.bin"), data=payload, timeout=30)
    assert r.status_code == 200, r.text
    r = requests.get(artifacts_url(server, f"{root}/raw/blob.bin"), timeout=30)
    assert r.status_code == 200 and r.content == payload
    r = requests.get(artifacts_url(server), params={"path": f"{root}/raw"}, timeout=30)
    assert r.status_code == 200
    assert r.json() == {"files": [{"path": "blob.bin", "is_dir": False, "file_size": 100_000}]}
    r = requests.get(artifacts_url(server), params={"path": f"{root}/nothing-here"}, timeout=30)
    assert r.status_code == 200 and r.json().get("files", []) == []
    assert_artifact_missing(requests.get(artifacts_url(server, f"{root}/raw/missing.bin"), timeout=30))
    # The tracking-side listing the UI uses.
    r = requests.get(f"{server.url}/api/2.0/mlflow/artifacts/list", params={"run_id": run_id, "path": "raw"}, timeout=30)
    assert r.status_code == 200
    body = r.json()
    assert body["root_uri"] == client.get_run(run_id).info.artifact_uri
    assert body["files"] == [{"path": "raw/blob.bin", "is_dir": False, "file_size": 100_000}]


def test_delete_artifact_via_rest(server, client, run_id, tmp_path):
    f = tmp_path / "x.txt"
    f.write_text("x")
    client.log_artifact(run_id, str(f), artifact_path="del")
    client.log_artifact(run_id, str(f), artifact_path="keep")
    url = artifacts_url(server, f"{run_root(client, run_id)}/del/x.txt")
    assert requests.get(url, timeout=10).content == b"x"
    r = requests.delete(url, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json() == {}
    assert_artifact_missing(requests.get(url, timeout=10))
    assert client.list_artifacts(run_id, "del") == []
    assert [a.path for a in client.list_artifacts(run_id, "keep")] == ["keep/x.txt"]


def test_unsafe_artifact_paths_rejected(server):
    for path in ["..%2F..%2Fetc%2Fpasswd", "0/%2E%2E/%2E%2E/%2E%2E/etc/passwd", "0/..%2F..%2F..%2Fetc%2Fpasswd"]:
        r = requests.get(artifacts_url(server, path), timeout=10)
        assert r.status_code in (400, 403, 404), (path, r.status_code)
        assert b"root:" not in r.content
    r = requests.get(artifacts_url(server), params={"path": "../../etc"}, timeout=10)
    assert r.status_code in (400, 403, 404), r.status_code
    r = requests.put(artifacts_url(server, "..%2F..%2Fescaped.txt"), data=b"x", timeout=10)
    assert r.status_code in (400, 403, 404), r.status_code


def _multipart_enabled(server):
    r = requests.get(f"{server.url}/api/3.0/mlflow/server-info", timeout=10)
    return r.status_code == 200 and r.json().get("multipart_uploads_enabled") is True


def test_server_info_advertises_multipart(server):
    if IS_MLFLOW:
        pytest.skip("mlflow advertises multipart only for cloud artifact stores; checked in the upload test")
    r = requests.get(f"{server.url}/api/3.0/mlflow/server-info", timeout=10)
    assert r.status_code == 200
    assert r.json()["multipart_uploads_enabled"] is True


def test_multipart_upload(server, client, run_id, tmp_path, monkeypatch):
    if IS_MLFLOW and not _multipart_enabled(server):
        pytest.skip("mlflow server supports multipart upload only for cloud artifact stores (server-info says no)")
    # The client decides from server-info (multipart_uploads_enabled) and the file size; these two
    # settings make a 12 MB file go up in three 5 MB parts (S3's minimum part size is 5 MB).
    monkeypatch.delenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", raising=False)
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(5 * 1024 * 1024))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(5 * 1024 * 1024))
    calls = {"create": [], "parts": [], "complete": [], "abort": 0}
    real_create = HttpArtifactRepository.create_multipart_upload
    real_part = HttpArtifactRepository._upload_part
    real_complete = HttpArtifactRepository.complete_multipart_upload
    real_abort = HttpArtifactRepository.abort_multipart_upload

    def create(self, local_file, num_parts=1, artifact_path=None):
        resp = real_create(self, local_file, num_parts, artifact_path)
        calls["create"].append((num_parts, len(resp.credentials)))
        return resp

    def upload_part(credential, local_file, size, start_byte):
        part = real_part(credential, local_file, size, start_byte)
        calls["parts"].append((credential.part_number, start_byte))
        return part

    def complete(self, local_file, upload_id, parts=None, artifact_path=None):
        calls["complete"].append([p.part_number for p in parts])
        return real_complete(self, local_file, upload_id, parts, artifact_path)

    def abort(self, *a, **kw):
        calls["abort"] += 1
        return real_abort(self, *a, **kw)

    monkeypatch.setattr(HttpArtifactRepository, "create_multipart_upload", create)
    monkeypatch.setattr(HttpArtifactRepository, "_upload_part", staticmethod(upload_part))
    monkeypatch.setattr(HttpArtifactRepository, "complete_multipart_upload", complete)
    monkeypatch.setattr(HttpArtifactRepository, "abort_multipart_upload", abort)

    big = tmp_path / "big.bin"
    data = os.urandom(12 * 1024 * 1024 + 123)
    big.write_bytes(data)
    with mlflow.start_run(run_id=run_id):
        mlflow.log_artifact(str(big), artifact_path="large")
    assert calls["create"] == [(3, 3)], calls
    assert sorted(calls["parts"]) == [(1, 0), (2, 5 * 1024 * 1024), (3, 10 * 1024 * 1024)], calls
    assert calls["complete"] == [[1, 2, 3]], calls
    assert calls["abort"] == 0
    files = client.list_artifacts(run_id, "large")
    assert [(f.path, f.file_size) for f in files] == [("large/big.bin", len(data))]
    out = tmp_path / "dl"
    out.mkdir()
    local = client.download_artifacts(run_id, "large/big.bin", str(out))
    with open(local, "rb") as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == hashlib.sha256(data).hexdigest()
    # At the root of the run's artifacts: the mpu URL then ends in .../artifacts, and the file
    # name comes only from the basename of the request's "path" (the client's local path).
    root_file = tmp_path / "root-level.bin"
    data2 = os.urandom(6 * 1024 * 1024)
    root_file.write_bytes(data2)
    client.log_artifact(run_id, str(root_file))
    assert calls["create"][-1] == (2, 2), calls
    assert calls["complete"][-1] == [1, 2], calls
    assert ("root-level.bin", len(data2)) in [(f.path, f.file_size) for f in client.list_artifacts(run_id)]
    local2 = client.download_artifacts(run_id, "root-level.bin", str(out))
    with open(local2, "rb") as fh:
        assert fh.read() == data2


def test_small_file_stays_single_put_even_with_multipart(client, run_id, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(5 * 1024 * 1024))
    called = []
    monkeypatch.setattr(
        HttpArtifactRepository, "create_multipart_upload", lambda *a, **k: called.append(1) or pytest.fail("mpu")
    )
    f = tmp_path / "small.json"
    f.write_text(json.dumps({"x": 1}))
    client.log_artifact(run_id, str(f))
    assert called == []
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/small.json") == {"x": 1}


def test_multipart_abort_leaves_nothing(server, client, run_id):
    if not _multipart_enabled(server):
        pytest.skip("the server does not advertise multipart upload (mlflow: local artifact store)")
    root = run_root(client, run_id)
    base = f"{server.url}/api/2.0/mlflow-artifacts/mpu"
    r = requests.post(f"{base}/create/{root}/aborted.bin", json={"path": "aborted.bin", "num_parts": 2}, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["upload_id"] and len(body["credentials"]) == 2
    assert [c["part_number"] for c in body["credentials"]] == [1, 2]
    r = requests.post(
        f"{base}/abort/{root}/aborted.bin", json={"path": "aborted.bin", "upload_id": body["upload_id"]}, timeout=10
    )
    assert r.status_code == 200, r.text
    assert "aborted.bin" not in [a.path for a in client.list_artifacts(run_id)]
