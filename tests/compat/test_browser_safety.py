"""Browser safety (issue 14, acceptance 4): what a web page in the user's browser can send to a
server on 127.0.0.1 is refused with 403 -- a cross-origin text/plain POST, a cross-origin form
POST, a request for a foreign Host (DNS rebinding) -- and the UI carries the frame and
content-type headers. MLflow 3.17 answers 403 to the same requests (run with
SEXTANT_COMPAT_TARGET=mlflow); its bodies are plain text, Sextant's are MLflow JSON errors
whose message says what was refused and how to allow it.
"""

import uuid
from urllib.parse import urlparse

import requests

from conftest import IS_SEXTANT, api, sextant_only


def names(server):
    r = api(server, "GET", "experiments/search", params={"max_results": 1000})
    assert r.status_code == 200, r.text
    return {e["name"] for e in r.json().get("experiments", [])}


def refused(r, *needles):
    assert r.status_code == 403, (r.status_code, r.text[:500])
    if IS_SEXTANT:
        body = r.json()
        assert body["error_code"] == "PERMISSION_DENIED", body
        for n in needles:
            assert n in body["message"], body["message"]


def test_cross_origin_text_plain_post_is_refused(server):
    name = "csrf-" + uuid.uuid4().hex[:8]
    # What `fetch(url, {method: "POST", mode: "no-cors", body: JSON.stringify(...)})` sends.
    r = api(server, "POST", "experiments/create", data=f'{{"name": "{name}"}}',
            headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": "http://evil.example",
                     "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"})
    refused(r, "cross-origin", "http://evil.example", "--cors-allowed-origins")
    assert name not in names(server)


def test_cross_origin_form_post_is_refused(server):
    name = "csrf-" + uuid.uuid4().hex[:8]
    # What an auto-submitted <form method=post> on another site sends (no fetch metadata in
    # older browsers: the Origin alone must do).
    r = api(server, "POST", "experiments/create", data={"name": name},
            headers={"Origin": "http://evil.example"})
    assert r.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    refused(r, "cross-origin")
    assert name not in names(server)


def test_foreign_host_is_refused(server):
    port = urlparse(server.url).port
    for method, path, kw in (
        ("GET", "experiments/search", {"params": {"max_results": 1}}),
        ("POST", "experiments/create", {"json": {"name": "rebound-" + uuid.uuid4().hex[:8]}}),
    ):
        r = api(server, method, path, headers={"Host": f"rebind.evil.example:{port}"}, **kw)
        refused(r, "rebind.evil.example", "add the host to --allowed-hosts")
    # Health checks by address stay open.
    r = requests.get(server.url + "/health", headers={"Host": "10.9.8.7"}, timeout=10)
    assert r.status_code == 200


@sextant_only("mlflow answers a same-origin text/plain POST with 400 (content type), not 403")
def test_simple_bodies_are_refused_on_the_json_api_from_the_same_origin(server):
    r = api(server, "POST", "experiments/create", data="name=x",
            headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": server.url,
                     "Sec-Fetch-Site": "same-origin"})
    refused(r, "application/json")


def test_same_origin_json_from_the_ui_passes(server):
    name = "ui-" + uuid.uuid4().hex[:8]
    r = api(server, "POST", "experiments/create", json={"name": name},
            headers={"Origin": server.url, "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200, r.text
    assert name in names(server)


def test_the_page_carries_frame_and_content_type_headers(server):
    r = requests.get(server.url + "/", headers={"Accept": "text/html"}, timeout=10)
    assert r.status_code == 200
    assert r.headers.get("X-Frame-Options") == "SAMEORIGIN"
    assert r.headers.get("X-Content-Type-Options") == "nosniff"
    if IS_SEXTANT:
        assert "frame-ancestors 'self'" in r.headers.get("Content-Security-Policy", "")
        assert r.headers.get("Referrer-Policy") == "same-origin"
