"""Error codes, statuses and messages exactly as the client expects; never a 5xx for user errors."""

import pytest
import requests
from mlflow.exceptions import MlflowException, RestException

from conftest import api, assert_error, sextant_only

DOCS_HINT = "See the API docs for more information about request parameters."


def test_missing_required_parameter(server, run_id):
    r = api(server, "POST", "runs/log-parameter", json={"run_id": run_id, "value": "v"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", message=f"Missing value for required parameter 'key'. {DOCS_HINT}")
    r = api(server, "POST", "runs/log-metric", json={"run_id": run_id, "key": "m", "value": 1})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", startswith="Missing value for required parameter 'timestamp'.")
    r = api(server, "GET", "runs/get")
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", startswith="Missing value for required parameter 'run_id'.")
    r = api(server, "GET", "metrics/get-history", params={"run_id": run_id})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", startswith="Missing value for required parameter 'metric_key'.")
    r = api(server, "POST", "experiments/create", json={"name": ""})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", startswith="Missing value for required parameter 'name'.")


def test_wrong_type(server):
    r = api(server, "POST", "runs/log-parameter", json={"run_id": 31, "key": "k", "value": "v"})
    # Note the two spaces after "supplied:" (an empty detail string, then " Hint: ...").
    assert_error(
        r, 400, "INVALID_PARAMETER_VALUE",
        message=f"Invalid value 31 for parameter 'run_id' supplied:  Hint: Value was of type 'int'. {DOCS_HINT}",
    )
    r = api(server, "POST", "runs/log-batch", json={"run_id": "x", "metrics": "not-a-list"})
    assert_error(
        r, 400, "INVALID_PARAMETER_VALUE",
        message=f"Invalid value \"not-a-list\" for parameter 'metrics' supplied:  Hint: Value was of type 'str'. {DOCS_HINT}",
    )


def test_negative_timestamp(server, run_id):
    r = api(server, "POST", "runs/log-metric", json={"run_id": run_id, "key": "m", "value": 1.0, "timestamp": -5})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", startswith="Invalid value -5 for parameter 'timestamp' supplied")


def test_missing_content_type(server):
    r = requests.post(f"{server.url}/api/2.0/mlflow/experiments/create", data='{"name": "x"}', timeout=10)
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", message="Bad Request. Content-Type header is missing.")


def test_unknown_endpoint_is_404(server, client):
    for method in ("GET", "POST"):
        r = requests.request(method, f"{server.url}/api/2.0/mlflow/does-not-exist", json={}, timeout=10)
        assert r.status_code == 404, (method, r.status_code)
    r = requests.get(f"{server.url}/api/2.0/mlflow/runs/does-not-exist", timeout=10)
    assert r.status_code == 404
    # Through the client, an unknown endpoint surfaces as ENDPOINT_NOT_FOUND (a non-JSON 404) or
    # as a JSON error body with that code.
    from mlflow.utils.rest_utils import call_endpoint
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.protos.service_pb2 import GetRun

    with pytest.raises(MlflowException) as e:
        call_endpoint(get_default_host_creds(server.url), "/api/2.0/mlflow/nope/nope", "GET", "{}", GetRun.Response())
    assert e.value.error_code == "ENDPOINT_NOT_FOUND"


@pytest.mark.parametrize(
    "method, path, params_or_body, status, code, message",
    [
        ("GET", "runs/get", {"run_id": "deadbeef"}, 404, "RESOURCE_DOES_NOT_EXIST", "Run with id=deadbeef not found"),
        ("GET", "experiments/get", {"experiment_id": "424242"}, 404, "RESOURCE_DOES_NOT_EXIST",
         "No Experiment with id=424242 exists"),
        ("GET", "experiments/get-by-name", {"experiment_name": "no such"}, 404, "RESOURCE_DOES_NOT_EXIST",
         "Could not find experiment with name 'no such'"),
        ("GET", "registered-models/get", {"name": "no-such-model"}, 404, "RESOURCE_DOES_NOT_EXIST",
         "Registered Model with name=no-such-model not found"),
        ("POST", "runs/create", {"experiment_id": "424242"}, 404, "RESOURCE_DOES_NOT_EXIST",
         "No Experiment with id=424242 exists"),
        ("POST", "experiments/update", {"experiment_id": "424242", "new_name": "x"}, 404,
         "RESOURCE_DOES_NOT_EXIST", "No Experiment with id=424242 exists"),
        ("POST", "experiments/search", {"max_results": 50001}, 400, "INVALID_PARAMETER_VALUE", None),
        ("POST", "runs/search", {"experiment_ids": ["abc"]}, 400, "INVALID_PARAMETER_VALUE", None),
        ("POST", "runs/search", {"experiment_ids": ["0"], "page_token": "%%%not-base64"}, 400,
         "INVALID_PARAMETER_VALUE", None),
        ("POST", "experiments/create", {"name": "x" * 501}, 400, "INVALID_PARAMETER_VALUE",
         "'name' exceeds the maximum length of 500 characters"),
    ],
)
def test_error_table(server, method, path, params_or_body, status, code, message):
    if method == "GET":
        r = api(server, method, path, params=params_or_body)
    else:
        r = api(server, method, path, json=params_or_body)
    assert_error(r, status, code, message=message)


def test_client_raises_rest_exception_with_code(client):
    with pytest.raises(RestException) as e:
        client.get_run("deadbeef")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert "Run with id=deadbeef not found" in str(e.value)
    assert e.value.get_http_status_code() == 404


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("POST", "runs/log-batch", {"metrics": "not-a-list"}),
        ("POST", "runs/log-metric", {"key": "m", "value": 1.0, "timestamp": -5}),
        ("POST", "runs/log-metric", {"key": "m", "value": "abc", "timestamp": 1}),
        ("POST", "runs/log-metric", {"key": "m", "value": 1.0, "timestamp": "soon"}),
        ("POST", "runs/log-parameter", {"key": "k", "value": {"nested": 1}}),
        ("POST", "runs/set-tag", {"key": "../escape", "value": "v"}),
        ("POST", "runs/set-tag", {"key": "k" * 300, "value": "v"}),
        ("POST", "runs/search", {"experiment_ids": "0"}),
        ("POST", "runs/search", {"experiment_ids": ["0"], "max_results": -1}),
        ("POST", "runs/search", {"experiment_ids": ["0"], "filter": "metrics.x = = 1"}),
        ("POST", "runs/search", {"experiment_ids": ["0"], "order_by": ["metrics.x UP"]}),
        ("GET", "metrics/get-history", None),
        ("GET", "metrics/get-history", {"metric_key": "m", "max_results": "many"}),
        ("POST", "experiments/create", {"name": ["list"]}),
        ("POST", "experiments/create", {}),
        ("POST", "experiments/search", {"filter": "name = "}),
        ("POST", "experiments/search", {"view_type": "SOMETIMES"}),
        ("POST", "experiments/set-experiment-tag", {"experiment_id": "0", "key": "", "value": "v"}),
        ("POST", "runs/update", {"status": "NOT_A_STATUS"}),
        ("POST", "runs/delete", {}),
        ("POST", "runs/log-batch", {"params": [{"key": "p"}]}),
        ("POST", "runs/log-inputs", {"datasets": [{"dataset": {"name": "d"}}]}),
        ("GET", "registered-models/get", {"name": ""}),
    ],
)
def test_user_mistakes_never_5xx(server, run_id, method, path, body):
    """Answers to bad input are 4xx with an error_code; a 5xx would make the client retry."""
    if isinstance(body, dict) and "run_id" not in body and path.startswith(("runs/", "metrics/")) and path != "runs/search":
        body = {"run_id": run_id, **body}
    if method == "GET":
        r = api(server, method, path, params=body if body is not None else {"run_id": run_id})
    else:
        r = api(server, method, path, json=body)
    assert r.status_code < 500, (r.status_code, r.text[:300])
    if r.status_code != 200:  # mlflow tolerates a few of these (e.g. an unknown enum name)
        assert 400 <= r.status_code < 500
        assert r.json()["error_code"], r.text


@sextant_only("mlflow's server stores a non-numeric metric value in log-batch as 0.0 and answers 200")
def test_non_numeric_metric_in_batch_is_400(server, client, run_id):
    r = api(server, "POST", "runs/log-batch", json={
        "run_id": run_id, "metrics": [{"key": "m", "value": "abc", "timestamp": 1, "step": 0}]})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    assert client.get_run(run_id).data.metrics == {}


@sextant_only("mlflow's server answers 500 with an HTML page for a body that is not JSON")
def test_malformed_json_is_400(server, run_id):
    for data in ["{not json", "[1, 2]", "", "null"]:
        r = requests.post(
            f"{server.url}/api/2.0/mlflow/runs/log-batch", data=data,
            headers={"Content-Type": "application/json"}, timeout=10,
        )
        assert 400 <= r.status_code < 500, (data, r.status_code, r.text[:200])
        assert r.json()["error_code"], data
