"""Sextant's review layer on the registry: pending review, approve/reject with comments,
protected aliases, checks that block approval, reports, and the audit log. Driven over HTTP
(Sextant's /api/sextant/v1) and through the unmodified mlflow client, which must hit the same
rules when it moves an alias."""

import uuid

import mlflow
import pytest
import requests
from mlflow.exceptions import MlflowException

from conftest import sextant_only

pytestmark = sextant_only("the review layer is Sextant's own")


def sx(server, method, path, user="alice", **kw):
    kw.setdefault("timeout", 30)
    headers = kw.pop("headers", {})
    if user:
        headers["X-Sextant-User"] = user
    return requests.request(method, f"{server.url}/api/sextant/v1/{path}", headers=headers, **kw)


@pytest.fixture()
def model(client, exp_id):
    """A registered model with two versions from one run that logged a report."""
    with mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.log_text("<html><body>ROC looks fine</body></html>", "reports/eval.html")
        mlflow.log_dict({"w": 1}, "model/w.json")
    name = "rev-" + uuid.uuid4().hex[:10]
    client.create_registered_model(name)
    for _ in range(2):
        client.create_model_version(name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    return name


def test_new_versions_are_pending(server, model):
    r = sx(server, "GET", f"models/{model}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [v["review_status"] for v in body["versions"]] == ["pending_review", "pending_review"]
    r = sx(server, "GET", f"models/{model}/versions/1/review")
    assert r.json()["review"]["status"] == "pending_review"
    assert "decided_by" not in r.json()["review"]


def test_approve_and_reject_need_comments_and_are_recorded(server, model):
    r = sx(server, "POST", f"models/{model}/versions/1/review", json={"decision": "approve"})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "comment" in r.json()["message"]
    r = sx(server, "POST", f"models/{model}/versions/1/review", json={"decision": "approve", "comment": "AUC 0.93 on holdout"})
    assert r.status_code == 200, r.text
    rev = r.json()["review"]
    assert rev["status"] == "approved" and rev["decided_by"] == "alice" and rev["comment"] == "AUC 0.93 on holdout"
    assert rev["decided_at"] > 0
    r = sx(server, "POST", f"models/{model}/versions/2/review", user="bob",
           json={"decision": "reject", "comment": "drift on tankers"})
    assert r.json()["review"]["status"] == "rejected" and r.json()["review"]["decided_by"] == "bob"
    r = sx(server, "POST", f"models/{model}/versions/2/review", json={"decision": "maybe", "comment": "x"})
    assert r.status_code == 400


def test_protected_alias_only_takes_approved_versions(server, client, model):
    r = sx(server, "PUT", f"models/{model}/protected-aliases/production")
    assert r.status_code == 200 and r.json()["protected_aliases"] == ["production"]

    # Through Sextant's API: refused, naming the rule.
    r = sx(server, "PUT", f"models/{model}/aliases/production", json={"version": "1"})
    assert r.status_code == 400, r.text
    msg = r.json()["message"]
    assert "protected" in msg and "approved" in msg and "pending review" in msg
    # Through the unmodified mlflow client: the same rule.
    with pytest.raises(MlflowException) as e:
        client.set_registered_model_alias(model, "production", "1")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "protected" in e.value.message
    assert client.get_registered_model(model).aliases == {}

    # Unprotected aliases are unaffected.
    client.set_registered_model_alias(model, "candidate", "1")

    sx(server, "POST", f"models/{model}/versions/1/review", json={"decision": "approve", "comment": "ok"})
    r = sx(server, "PUT", f"models/{model}/aliases/production", json={"version": "1"})
    assert r.status_code == 200, r.text
    assert r.json()["model_version"]["version"] == "1"
    assert client.get_model_version_by_alias(model, "production").version == "1"

    # A version a protected alias points at cannot be rejected out from under it.
    r = sx(server, "POST", f"models/{model}/versions/1/review", json={"decision": "reject", "comment": "oops"})
    assert r.status_code == 400 and "protected" in r.json()["message"]
    # A rejected version cannot take the alias either.
    sx(server, "POST", f"models/{model}/versions/2/review", json={"decision": "reject", "comment": "worse"})
    r = sx(server, "PUT", f"models/{model}/aliases/production", json={"version": "2"})
    assert r.status_code == 400 and "rejected" in r.json()["message"]
    assert client.get_model_version_by_alias(model, "production").version == "1"

    # Protecting an alias that points at an unapproved version is refused.
    client.set_registered_model_alias(model, "canary", "2")
    r = sx(server, "PUT", f"models/{model}/protected-aliases/canary")
    assert r.status_code == 400 and "rejected" in r.json()["message"]
    # Unprotect: anything goes again.
    r = sx(server, "DELETE", f"models/{model}/protected-aliases/production")
    assert r.json()["protected_aliases"] == []
    client.set_registered_model_alias(model, "production", "2")


def test_failed_checks_block_approval_unless_overridden(server, model):
    r = sx(server, "POST", f"models/{model}/versions/1/checks", user="ci-bot",
           json={"name": "latency", "passed": True, "details": "p99 12ms"})
    assert r.status_code == 200, r.text
    r = sx(server, "POST", f"models/{model}/versions/1/checks", user="ci-bot",
           json={"name": "fairness", "passed": False, "details": "gap 0.08 > 0.05"})
    checks = {c["name"]: c for c in r.json()["review"]["checks"]}
    assert checks["fairness"]["passed"] is False and checks["latency"]["passed"] is True
    assert checks["fairness"]["recorded_by"] == "ci-bot"

    r = sx(server, "POST", f"models/{model}/versions/1/review", json={"decision": "approve", "comment": "ship it"})
    assert r.status_code == 400, r.text
    assert "fairness" in r.json()["message"] and "override" in r.json()["message"]
    # Rejecting needs no override.
    r = sx(server, "POST", f"models/{model}/versions/2/checks", json={"name": "fairness", "passed": False})
    assert r.status_code == 200
    r = sx(server, "POST", f"models/{model}/versions/1/review",
           json={"decision": "approve", "comment": "accepted risk, ticket 42", "override_failed_checks": True})
    assert r.status_code == 200, r.text
    assert r.json()["review"]["overrode_failed_checks"] is True
    log = sx(server, "GET", f"models/{model}/audit", params={"version": "1"}).json()["entries"]
    approve = [e for e in log if e["action"] == "approve"][-1]
    assert approve["details"]["overrode_failed_checks"] is True
    assert approve["details"]["failed_checks"] == ["fairness"]
    # A check that passes on a re-run clears the block for the next version's decision.
    sx(server, "POST", f"models/{model}/versions/2/checks", json={"name": "fairness", "passed": True})
    r = sx(server, "POST", f"models/{model}/versions/2/review", json={"decision": "approve", "comment": "fixed"})
    assert r.status_code == 200 and r.json()["review"]["overrode_failed_checks"] is False


def test_review_report_links_a_run_artifact(server, model):
    r = sx(server, "PUT", f"models/{model}/versions/1/report", json={"path": "reports/missing.html"})
    assert r.status_code == 400 and "no artifact" in r.json()["message"]
    r = sx(server, "PUT", f"models/{model}/versions/1/report", json={"path": "reports/eval.html"})
    assert r.status_code == 200, r.text
    assert r.json()["review"]["report"] == "reports/eval.html"
    assert sx(server, "GET", f"models/{model}/versions/1/review").json()["review"]["report"] == "reports/eval.html"


def test_audit_log_lists_every_decision_and_alias_move_in_order(server, client, model):
    sx(server, "PUT", f"models/{model}/protected-aliases/production", user="lead")
    sx(server, "POST", f"models/{model}/versions/1/review", user="rev", json={"decision": "approve", "comment": "c1"})
    sx(server, "PUT", f"models/{model}/aliases/production", user="lead", json={"version": "1"})
    sx(server, "POST", f"models/{model}/versions/2/review", user="rev", json={"decision": "approve", "comment": "c2"})
    sx(server, "PUT", f"models/{model}/aliases/production", user="lead", json={"version": "2"})
    client.delete_registered_model_alias(model, "production")  # through mlflow: still audited
    entries = sx(server, "GET", f"models/{model}/audit").json()["entries"]
    actions = [(e["action"], e.get("version"), e["actor"]) for e in entries]
    assert actions == [
        ("create_model", None, "anonymous"),
        ("create_version", "1", "anonymous"),
        ("create_version", "2", "anonymous"),
        ("protect_alias", None, "lead"),
        ("approve", "1", "rev"),
        ("set_alias", "1", "lead"),
        ("approve", "2", "rev"),
        ("set_alias", "2", "lead"),
        ("delete_alias", "2", "anonymous"),
    ]
    ids = [e["id"] for e in entries]
    assert ids == sorted(ids)
    move = entries[7]
    assert move["details"]["alias"] == "production" and move["details"]["previous_version"] == "1"
    assert entries[4]["comment"] == "c1" and entries[4]["actor_source"] == "header"
    per_version = sx(server, "GET", f"models/{model}/audit", params={"version": "2"}).json()["entries"]
    assert [e["action"] for e in per_version] == ["create_version", "approve", "set_alias", "delete_alias"]
    # The log survives a rename: it belongs to the model, not to its name.
    new = model + "-renamed"
    client.rename_registered_model(model, new)
    entries2 = sx(server, "GET", f"models/{new}/audit").json()["entries"]
    assert [e["id"] for e in entries2[:len(entries)]] == ids
    assert entries2[-1]["action"] == "rename_model" and entries2[-1]["details"]["old_name"] == model


def test_models_listing_and_openapi(server, model):
    r = sx(server, "GET", "models")
    mine = [m for m in r.json()["models"] if m["name"] == model]
    assert mine and mine[0]["versions"] == 2 and mine[0]["pending_review"] == 2
    r = sx(server, "GET", "openapi.yaml", user=None)
    assert r.status_code == 200 and r.text.startswith("openapi: 3")
    import yaml

    spec = yaml.safe_load(r.text)
    assert spec["openapi"].startswith("3.") and "/models/{name}/versions/{version}/review" in spec["paths"]
    # Every documented path answers (not the fallback 404 of an unknown route): 200 where the
    # test can fill every parameter, else at least a refusal by the route itself.
    run_id = sx(server, "GET", f"models/{model}").json()["versions"][0]["run_id"]
    for path in spec["paths"]:
        concrete = (path.replace("{name}", model).replace("{version}", "1")
                    .replace("{alias}", "x").replace("{run_id}", run_id))
        methods = spec["paths"][path]
        if "get" in methods:
            params = methods["get"].get("parameters", []) + methods.get("parameters", [])
            needs_query = any(p.get("in") == "query" and p.get("required") for p in params)
            resp = sx(server, "GET", concrete.lstrip("/"))
            if needs_query:
                assert resp.status_code in (200, 400), (path, resp.status_code, resp.text[:200])
                assert resp.json().get("error_code") in (None, "INVALID_PARAMETER_VALUE"), resp.text
            elif resp.status_code == 400 and "400" in methods["get"].get("responses", {}):
                # A documented refusal of this server's configuration (tokens without --auth).
                assert resp.json().get("error_code") == "INVALID_PARAMETER_VALUE", resp.text
                assert "--auth" in resp.json()["message"], resp.text
            else:
                assert resp.status_code == 200, (path, resp.status_code, resp.text[:200])
    r = sx(server, "GET", "models/no-such-model-xyz")
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def _cli(server, *args, user="carol"):
    import json
    import os
    import subprocess

    from conftest import ROOT

    binary = os.environ.get("SEXTANT_BIN") or os.path.join(ROOT, "target", "debug", "sextant")
    env = dict(os.environ, MLFLOW_TRACKING_URI=server.url)
    proc = subprocess.run([binary, "models", *args, "--user", user], env=env,
                          capture_output=True, text=True, timeout=60)
    out = None
    if "--json" in args and proc.returncode == 0:
        out = json.loads(proc.stdout)
    return proc, out


def test_models_cli_json_and_exit_codes(server, model):
    proc, out = _cli(server, "show", model, "--json")
    assert proc.returncode == 0, proc.stderr
    assert [v["review_status"] for v in out["versions"]] == ["pending_review", "pending_review"]
    proc, out = _cli(server, "check", model, "1", "--name", "lint", "--failed", "--details", "3 issues", "--json")
    assert proc.returncode == 0 and out["review"]["checks"][0]["passed"] is False
    proc, _ = _cli(server, "review", model, "1", "--approve", "-m", "looks fine")
    assert proc.returncode == 1 and "lint" in proc.stderr  # refused: a failed check
    proc, out = _cli(server, "review", model, "1", "--approve", "-m", "known issue", "--override-failed-checks", "--json")
    assert proc.returncode == 0 and out["review"]["overrode_failed_checks"] is True
    proc, out = _cli(server, "report", model, "1", "reports/eval.html", "--json")
    assert proc.returncode == 0 and out["review"]["report"] == "reports/eval.html"
    proc, _ = _cli(server, "log", model, "--version", "1")
    assert proc.returncode == 0
    assert "override of failed checks: lint" in proc.stdout and "carol" in proc.stdout
    proc, out = _cli(server, "list", "--json")
    assert any(m["name"] == model and m["approved"] == 1 for m in out["models"])
    proc, _ = _cli(server, "show", "no-such-model-" + uuid.uuid4().hex[:6])
    assert proc.returncode == 1 and "not found" in proc.stderr
    # No server to talk to: a clear error, exit 2.
    import os
    import subprocess

    from conftest import ROOT

    binary = os.environ.get("SEXTANT_BIN") or os.path.join(ROOT, "target", "debug", "sextant")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    proc = subprocess.run([binary, "models", "list"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "MLFLOW_TRACKING_URI" in proc.stderr
