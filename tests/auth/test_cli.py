"""The sextant command line against `sextant server --auth`: `sextant models` and
`sextant token` send the mlflow client's credentials from the same variables
(MLFLOW_TRACKING_USERNAME/PASSWORD as Basic, MLFLOW_TRACKING_TOKEN as Bearer), a 401 or 403 is
an error with a hint, tokens are created, listed and revoked, and `--user` does not decide who
acted."""

import json
import os
import subprocess
import tempfile
import uuid

import pytest
import requests

from test_auth import ADMIN, ADMIN_PW, BIN, Server


@pytest.fixture(scope="module")
def srv():
    with tempfile.TemporaryDirectory() as d:
        s = Server("sextant", d)
        try:
            yield s
        finally:
            s.stop()


def sx(srv, *args, user=None, password=None, token=None, home=None, cwd=None):
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN",
                        "SEXTANT_USER")}
    env["MLFLOW_TRACKING_URI"] = srv.url
    env["HOME"] = home or tempfile.gettempdir()
    if user:
        env["MLFLOW_TRACKING_USERNAME"] = user
    if password:
        env["MLFLOW_TRACKING_PASSWORD"] = password
    if token:
        env["MLFLOW_TRACKING_TOKEN"] = token
    return subprocess.run([BIN, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def admin_post(srv, endpoint, body):
    r = requests.post(f"{srv.url}/api/2.0/mlflow/{endpoint}", json=body, auth=(ADMIN, ADMIN_PW), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_models_sends_credentials_and_explains_401_and_403(srv):
    model = "cli-" + uuid.uuid4().hex[:6]
    admin_post(srv, "registered-models/create", {"name": model})
    bob, bob_pw = "bob-" + uuid.uuid4().hex[:6], "pw-" + uuid.uuid4().hex
    admin_post(srv, "users/create", {"username": bob, "password": bob_pw})

    p = sx(srv, "models", "list")
    assert p.returncode == 2, p
    assert "requires authentication" in p.stderr and "MLFLOW_TRACKING_TOKEN" in p.stderr and "hint:" in p.stderr

    p = sx(srv, "models", "list", user=ADMIN, password="wrong-password")
    assert p.returncode == 2 and "did not accept the credentials" in p.stderr, p.stderr
    assert "wrong-password" not in p.stderr

    p = sx(srv, "models", "list", "--json", user=ADMIN, password=ADMIN_PW)
    assert p.returncode == 0, p.stderr
    assert model in [m["name"] for m in json.loads(p.stdout)["models"]]

    # ~/.mlflow/credentials, as the mlflow client reads it.
    with tempfile.TemporaryDirectory() as home:
        os.makedirs(os.path.join(home, ".mlflow"))
        with open(os.path.join(home, ".mlflow", "credentials"), "w") as f:
            f.write(f"[mlflow]\nmlflow_tracking_username = {ADMIN}\nmlflow_tracking_password = {ADMIN_PW}\n")
        p = sx(srv, "models", "show", model, home=home)
        assert p.returncode == 0, p.stderr

    # A READ user: refused (exit 1) with the server's reason and a hint.
    p = sx(srv, "models", "protect", model, "--alias", "production", user=bob, password=bob_pw)
    assert p.returncode == 1, p
    assert "403" in p.stderr and "MANAGE" in p.stderr and "lacks the permission" in p.stderr

    # With auth on, --user does not decide who acted: the audit log names the admin.
    p = sx(srv, "models", "protect", model, "--alias", "production", "--user", "mallory",
           user=ADMIN, password=ADMIN_PW)
    assert p.returncode == 0, p.stderr
    p = sx(srv, "models", "log", model, "--json", user=ADMIN, password=ADMIN_PW)
    entries = json.loads(p.stdout)["entries"]
    protect = [e for e in entries if e["action"] == "protect_alias"]
    assert [e["actor"] for e in protect] == [ADMIN] and protect[0]["actor_source"].startswith("auth:")


def test_token_create_list_revoke(srv):
    name = "ci-" + uuid.uuid4().hex[:6]
    p = sx(srv, "token", "create", "--name", name, "--expires", "12h", user=ADMIN, password=ADMIN_PW)
    assert p.returncode == 0, p.stderr
    assert "will not be shown again" in p.stdout and "export MLFLOW_TRACKING_TOKEN=" in p.stdout
    secret = p.stdout.split("export MLFLOW_TRACKING_TOKEN=")[1].split()[0]

    p = sx(srv, "token", "list", user=ADMIN, password=ADMIN_PW)
    assert p.returncode == 0 and name in p.stdout and "EXPIRES" in p.stdout, p.stderr
    assert secret not in p.stdout
    p = sx(srv, "token", "list", "--json", user=ADMIN, password=ADMIN_PW)
    (tok,) = [t for t in json.loads(p.stdout)["tokens"] if t["name"] == name]
    assert 11.9 * 3600e3 < tok["expires_at"] - tok["created_at"] <= 12 * 3600e3 + 1000

    # The token works as MLFLOW_TRACKING_TOKEN (Bearer), for models and for tokens.
    p = sx(srv, "models", "list", token=secret)
    assert p.returncode == 0, p.stderr
    p = sx(srv, "token", "list", "--json", token=secret)
    assert name in [t["name"] for t in json.loads(p.stdout)["tokens"]]

    p = sx(srv, "token", "create", "--name", "x", "--expires", "5y", user=ADMIN, password=ADMIN_PW)
    assert p.returncode == 2 and "never" in p.stderr

    p = sx(srv, "token", "revoke", tok["id"], user=ADMIN, password=ADMIN_PW)
    assert p.returncode == 0 and "revoked" in p.stdout, p.stderr
    p = sx(srv, "models", "list", token=secret)
    assert p.returncode == 2 and "MLFLOW_TRACKING_TOKEN" in p.stderr and "revoked" in p.stderr


def test_run_sends_the_same_credentials(srv, tmp_path):
    exp = "cli-run-" + uuid.uuid4().hex[:6]
    p = subprocess.run([BIN, "run", "-e", exp, "--", "true"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120, env={**{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")},
                                         "MLFLOW_TRACKING_URI": srv.url, "HOME": str(tmp_path)})
    assert p.returncode == 2 and "requires authentication" in p.stderr and "hint:" in p.stderr, p
    p = sx(srv, "run", "-e", exp, "--", "true", user=ADMIN, password=ADMIN_PW, home=str(tmp_path), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    r = requests.get(f"{srv.url}/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": exp},
                     auth=(ADMIN, ADMIN_PW), timeout=30)
    assert r.status_code == 200, r.text
