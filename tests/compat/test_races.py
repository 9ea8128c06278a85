"""Races through the HTTP server, with real concurrency, on the store the suite runs against
(SEXTANT_COMPAT_BACKEND=sqlite or postgres; issue 15, acceptance 1): approve/reject/promote/
protect races never leave a protected alias on an unapproved version; two different values of
one param at once give exactly one 200 and one 400; concurrent version registrations never get
a 5xx. (The same races run in the store's conformance suite on both backends.)"""

import uuid
from concurrent.futures import ThreadPoolExecutor

import requests

from conftest import sextant_only

pytestmark = sextant_only("the review API and its race guarantees are Sextant's own")


def mlf(server, method, path, body):
    return requests.request(method, f"{server.url}/api/2.0/mlflow/{path}", json=body, timeout=60)


def sx(server, method, path, body=None):
    return requests.request(method, f"{server.url}/api/sextant/v1/{path}", json=body, timeout=60)


def ok(resp):
    assert resp.status_code == 200, (resp.status_code, resp.text)
    return resp.json()


def test_review_races_never_protect_an_unapproved_version(server, exp_id):
    pool = ThreadPoolExecutor(max_workers=8)
    for i in range(40):
        name = f"race-{i}-{uuid.uuid4().hex[:6]}"
        ok(mlf(server, "POST", "registered-models/create", {"name": name}))
        for _ in range(3):
            ok(mlf(server, "POST", "model-versions/create",
                   {"name": name, "source": f"mlflow-artifacts:/{exp_id}/race/{name}"}))
        for v in (1, 2):
            ok(sx(server, "POST", f"models/{name}/versions/{v}/review",
                  {"decision": "approve", "comment": "baseline"}))
        for alias in ("production", "staging"):
            ok(sx(server, "PUT", f"models/{name}/aliases/{alias}", {"version": "1"}))
        ok(sx(server, "PUT", f"models/{name}/protected-aliases/production"))
        ops = [
            lambda: sx(server, "POST", f"models/{name}/versions/2/review", {"decision": "reject", "comment": "race"}),
            lambda: sx(server, "PUT", f"models/{name}/aliases/production", {"version": "2"}),
            lambda: mlf(server, "POST", "registered-models/alias", {"name": name, "alias": "staging", "version": "3"}),
            lambda: sx(server, "PUT", f"models/{name}/protected-aliases/staging"),
            lambda: sx(server, "POST", f"models/{name}/versions/3/review", {"decision": "approve", "comment": "race"}),
        ]
        for r in pool.map(lambda op: op(), ops):
            assert r.status_code in (200, 400), (i, r.status_code, r.text)
        shown = ok(sx(server, "GET", f"models/{name}"))
        status = {v["version"]: v["review_status"] for v in shown["versions"]}
        for a in shown["model"].get("aliases", []):
            if a["alias"] in shown["protected_aliases"]:
                assert status[a["version"]] == "approved", (i, a, status)
    pool.shutdown()


def test_different_values_of_one_param_at_once_give_one_success(server, exp_id):
    def pair(i):
        run = ok(mlf(server, "POST", "runs/create", {"experiment_id": exp_id}))["run"]["info"]["run_id"]
        with ThreadPoolExecutor(max_workers=2) as p:
            a, b = p.map(lambda v: mlf(server, "POST", "runs/log-parameter",
                                       {"run_id": run, "key": "lr", "value": v}), ["0.1", "0.2"])
        got = ok(mlf(server, "GET", f"runs/get?run_id={run}", None))["run"]["data"]["params"]
        return i, a, b, got

    with ThreadPoolExecutor(max_workers=8) as pool:
        for i, a, b, got in pool.map(pair, range(200)):
            codes = sorted([a.status_code, b.status_code])
            assert codes == [200, 400], (i, a.text, b.text)
            loser = a if a.status_code == 400 else b
            assert loser.json()["error_code"] == "INVALID_PARAMETER_VALUE", loser.text
            winner = "0.1" if a.status_code == 200 else "0.2"
            assert got == [{"key": "lr", "value": winner}], (i, got)


def test_concurrent_version_creation_never_fails(server, exp_id):
    name = "versions-" + uuid.uuid4().hex[:8]
    ok(mlf(server, "POST", "registered-models/create", {"name": name}))
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(
            lambda i: mlf(server, "POST", "model-versions/create",
                          {"name": name, "source": f"mlflow-artifacts:/{exp_id}/v/{i}"}),
            range(80)))
    assert all(r.status_code == 200 for r in answers), [(r.status_code, r.text) for r in answers if r.status_code != 200]
    numbers = sorted(int(r.json()["model_version"]["version"]) for r in answers)
    assert numbers == list(range(1, 81))
