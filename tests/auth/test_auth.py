"""Authentication and permissions, driven by the real mlflow client (3.17).

The MLflow-defined checks run against `sextant server --auth` AND against the real
`mlflow server --app-name basic-auth` from this venv (the `target` fixture), so the suite asserts
MLflow's own behaviour. Sextant-only checks (tokens, review, forged headers) run on Sextant.
Every server is started on a free loopback port and stopped by its PID.
"""

import base64
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("SEXTANT_BIN", os.path.join(ROOT, "target", "debug", "sextant"))
ADMIN, ADMIN_PW = "root", "root-pw-" + uuid.uuid4().hex[:8]

os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
for _v in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
    os.environ.pop(_v, None)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, target, workdir):
        self.target = target
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        self.log = open(os.path.join(workdir, f"{target}.log"), "wb")
        if target == "sextant":
            env["SEXTANT_ADMIN_PASSWORD"] = ADMIN_PW
            cmd = [BIN, "server", "--auth", "--admin-user", ADMIN, "--port", str(self.port),
                   "--data-dir", os.path.join(workdir, "data")]
        else:
            ini = os.path.join(workdir, "basic_auth.ini")
            with open(ini, "w") as f:
                f.write("[mlflow]\ndefault_permission = READ\n"
                        f"database_uri = sqlite:///{workdir}/auth.db\n"
                        f"admin_username = {ADMIN}\nadmin_password = {ADMIN_PW}\n"
                        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
            env["MLFLOW_AUTH_CONFIG_PATH"] = ini
            env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = uuid.uuid4().hex
            cmd = [os.path.join(os.path.dirname(sys.executable), "mlflow"), "server",
                   "--app-name", "basic-auth", "--host", "127.0.0.1", "--port", str(self.port),
                   "--backend-store-uri", f"sqlite:///{workdir}/mlflow.db",
                   "--artifacts-destination", os.path.join(workdir, "artifacts"),
                   "--workers", "1"]
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{target} server exited: see {self.log.name}")
            try:
                if requests.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{target} server did not start: see {self.log.name}")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the group of the PID we started
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module", params=["sextant", "mlflow"])
def server(request):
    with tempfile.TemporaryDirectory() as d:
        s = Server(request.param, d)
        try:
            yield s
        finally:
            s.stop()


class As:
    """Run mlflow client calls with one user's credentials (or none)."""

    def __init__(self, url, user=None, password=None, token=None):
        self.url, self.user, self.password, self.token = url, user, password, token

    def __enter__(self):
        import mlflow
        self.saved = {k: os.environ.get(k) for k in
                      ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")}
        for k in self.saved:
            os.environ.pop(k, None)
        if self.user:
            os.environ["MLFLOW_TRACKING_USERNAME"] = self.user
            os.environ["MLFLOW_TRACKING_PASSWORD"] = self.password
        if self.token:
            os.environ["MLFLOW_TRACKING_TOKEN"] = self.token
        mlflow.set_tracking_uri(self.url)
        return mlflow.MlflowClient(self.url)

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def status_of(exc_info):
    e = exc_info.value
    code = getattr(e, "get_http_status_code", None)
    return code() if code else None


def admin_client(server):
    import mlflow.server
    with As(server.url, ADMIN, ADMIN_PW):
        return mlflow.server.get_app_client("basic-auth", tracking_uri=server.url)


def test_no_credentials_is_401(server):
    r = requests.post(server.url + "/api/2.0/mlflow/experiments/search", json={"max_results": 1})
    assert r.status_code == 401
    assert requests.get(server.url + "/health").status_code == 200
    from mlflow.exceptions import MlflowException
    with As(server.url) as c, pytest.raises(MlflowException) as ei:
        c.search_experiments()
    assert status_of(ei) == 401 or "401" in str(ei.value)
    with As(server.url, ADMIN, "wrong") as c, pytest.raises(MlflowException):
        c.search_experiments()


def test_read_and_edit_users(server):
    from mlflow.exceptions import MlflowException
    auth = None
    with As(server.url, ADMIN, ADMIN_PW):
        import mlflow.server
        auth = mlflow.server.get_app_client("basic-auth", tracking_uri=server.url)
        sfx = uuid.uuid4().hex[:6]
        reader, editor = f"reader{sfx}", f"editor{sfx}"
        u = auth.create_user(reader, "reader-password-1")
        assert u.username == reader and not u.is_admin
        auth.create_user(editor, "editor-password-1")
        assert auth.get_user(editor).username == editor
    # The admin makes an experiment and a model, and gives the editor EDIT on the experiment.
    with As(server.url, ADMIN, ADMIN_PW) as c:
        exp = c.create_experiment(f"auth-exp-{sfx}")
        model = f"auth-model-{sfx}"
        c.create_registered_model(model)
        run = c.create_run(exp)
        c.log_metric(run.info.run_id, "m", 1.0)
        auth.grant_user_permission(reader, "experiment", exp, "READ")
        auth.grant_user_permission(editor, "experiment", exp, "EDIT")
        auth.grant_user_permission(reader, "registered_model", model, "READ")
        got = auth.get_user_permission(editor, "experiment", exp)
        assert got.permission == "EDIT" and got.allowed
    # READ: search and read, but no runs and no versions.
    with As(server.url, reader, "reader-password-1") as c:
        assert exp in [e.experiment_id for e in c.search_experiments()]
        assert c.get_run(run.info.run_id).data.metrics["m"] == 1.0
        assert c.get_registered_model(model).name == model
        with pytest.raises(MlflowException) as ei:
            c.create_run(exp)
        assert status_of(ei) == 403, ei.value
        with pytest.raises(MlflowException) as ei:
            c.create_model_version(model, f"runs:/{run.info.run_id}/model", run.info.run_id)
        assert status_of(ei) == 403, ei.value
    # EDIT: logs runs and their artifacts (through the server's artifact proxy).
    with As(server.url, editor, "editor-password-1") as c:
        r = c.create_run(exp)
        c.log_param(r.info.run_id, "p", "v")
        c.log_metric(r.info.run_id, "loss", 0.5)
        c.log_text(r.info.run_id, "hello", "notes.txt")
        c.set_terminated(r.info.run_id)
        assert c.get_run(r.info.run_id).data.params["p"] == "v"
    # READ: downloads that artifact, but cannot add one.
    with As(server.url, reader, "reader-password-1") as c:
        import mlflow.artifacts
        with tempfile.TemporaryDirectory() as d:
            got = mlflow.artifacts.download_artifacts(
                run_id=r.info.run_id, artifact_path="notes.txt", dst_path=d)
            assert open(got).read() == "hello"
        with pytest.raises(Exception) as ei:
            c.log_text(r.info.run_id, "overwritten", "notes.txt")
        assert "403" in str(ei.value) or status_of(ei) == 403, ei.value
    # A role with a DENY override takes the reader's READ away; removing it gives it back.
    with As(server.url, ADMIN, ADMIN_PW):
        role = auth.create_role("default", f"deny-{sfx}", "no access")
        rp = auth.add_role_permission(role.id, "experiment", exp, "DENY")
        assert rp.permission == "DENY"
        auth.assign_role(reader, role.id)
        assert role.id in [r.id for r in auth.list_user_roles(reader)]
        assert [a.role_id for a in auth.list_role_users(role.id)] == [role.id]
    with As(server.url, reader, "reader-password-1") as c:
        with pytest.raises(MlflowException) as ei:
            c.get_run(run.info.run_id)
        assert status_of(ei) == 403
    with As(server.url, ADMIN, ADMIN_PW):
        auth.unassign_role(reader, role.id)
        auth.delete_role(role.id)
        auth.revoke_user_permission(reader, "experiment", exp)
        auth.delete_user(editor)
        with pytest.raises(MlflowException):
            auth.get_user(editor)


# ------------------------------------------------------------------------------ Sextant only

def basic(user, pw):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}


@pytest.fixture(scope="module")
def sextant():
    with tempfile.TemporaryDirectory() as d:
        s = Server("sextant", d)
        try:
            yield s
        finally:
            s.stop()


def test_tokens_work_until_revoked_or_expired(sextant):
    from mlflow.exceptions import MlflowException
    url = sextant.url
    r = requests.post(url + "/api/sextant/v1/tokens", json={"name": "ci", "expires_in_seconds": None},
                      headers=basic(ADMIN, ADMIN_PW))
    assert r.status_code == 200, r.text
    tok = r.json()
    assert tok["secret"].startswith("sxt_") and tok["token"]["name"] == "ci"
    with As(url, token=tok["secret"]) as c:
        exp = c.create_experiment(f"tok-{uuid.uuid4().hex[:6]}")
        assert c.get_experiment(exp).experiment_id == exp
    listed = requests.get(url + "/api/sextant/v1/tokens", headers=basic(ADMIN, ADMIN_PW)).json()
    assert tok["token"]["id"] in [t["id"] for t in listed["tokens"]]
    r = requests.delete(url + f"/api/sextant/v1/tokens/{tok['token']['id']}", headers=basic(ADMIN, ADMIN_PW))
    assert r.status_code == 200, r.text
    with As(url, token=tok["secret"]) as c, pytest.raises(MlflowException):
        c.get_experiment(exp)
    # An expired token is refused.
    r = requests.post(url + "/api/sextant/v1/tokens", json={"name": "short", "expires_in_seconds": 1},
                      headers=basic(ADMIN, ADMIN_PW))
    short = r.json()["secret"]
    assert requests.get(url + "/api/2.0/mlflow/experiments/get", params={"experiment_id": exp},
                        headers={"Authorization": f"Bearer {short}"}).status_code == 200
    time.sleep(1.5)
    assert requests.get(url + "/api/2.0/mlflow/experiments/get", params={"experiment_id": exp},
                        headers={"Authorization": f"Bearer {short}"}).status_code == 401


def test_session_sign_in_and_out(sextant):
    url = sextant.url
    assert requests.get(url + "/api/sextant/v1/session").json() == {"auth_enabled": True, "user": None}
    assert requests.post(url + "/api/sextant/v1/session",
                         json={"username": ADMIN, "password": "nope"}).status_code == 401
    s = requests.Session()
    r = s.post(url + "/api/sextant/v1/session", json={"username": ADMIN, "password": ADMIN_PW})
    assert r.status_code == 200, r.text
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert s.get(url + "/api/sextant/v1/session").json()["user"]["username"] == ADMIN
    assert s.post(url + "/api/2.0/mlflow/experiments/search", json={"max_results": 1}).status_code == 200
    s.delete(url + "/api/sextant/v1/session")
    assert s.post(url + "/api/2.0/mlflow/experiments/search", json={"max_results": 1}).status_code == 401


def test_review_needs_manage_and_ignores_forged_names(sextant):
    url = sextant.url
    sfx = uuid.uuid4().hex[:6]
    adm = basic(ADMIN, ADMIN_PW)
    for u in ("rev", "edt"):
        r = requests.post(url + "/api/2.0/mlflow/users/create",
                          json={"username": f"{u}{sfx}", "password": "password-of-" + u}, headers=adm)
        assert r.status_code == 200, r.text
    model = f"gate-{sfx}"
    assert requests.post(url + "/api/2.0/mlflow/registered-models/create", json={"name": model},
                         headers=adm).status_code == 200
    r = requests.post(url + "/api/2.0/mlflow/model-versions/create",
                      json={"name": model, "source": "mlflow-artifacts:/0/x/artifacts/model"}, headers=adm)
    assert r.status_code == 200, r.text
    requests.post(url + "/api/3.0/mlflow/users/permissions/grant",
                  json={"username": f"edt{sfx}", "resource_type": "registered_model",
                        "resource_id": model, "permission": "EDIT"}, headers=adm)
    for who in (basic(f"rev{sfx}", "password-of-rev"), basic(f"edt{sfx}", "password-of-edt")):
        forged = dict(who, **{"X-Sextant-User": ADMIN})
        r = requests.post(url + f"/api/sextant/v1/models/{model}/versions/1/review",
                          json={"decision": "approve", "comment": "lgtm"}, headers=forged)
        assert r.status_code == 403, r.text
        r = requests.put(url + f"/api/sextant/v1/models/{model}/protected-aliases/production", headers=forged)
        assert r.status_code == 403, r.text
    # The audit log names the verified user only.
    audit = requests.get(url + f"/api/sextant/v1/models/{model}/audit", headers=adm)
    assert audit.status_code == 200, audit.text
    entries = audit.json()["entries"]
    assert entries, audit.text
    for e in entries:
        assert e["actor"] == ADMIN and e["actor_source"] == "auth:basic", e
