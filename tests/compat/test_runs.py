"""Runs, params, metrics, tags, batches and datasets through the real client."""

import math
import time

import mlflow
import pandas as pd
import pytest
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException

from conftest import api, assert_error

DBL_MAX = 1.7976931348623157e308
NAME_CHARS_MSG = (
    "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), "
    "colon(:) and slashes (/)."
)


def now_ms():
    return int(time.time() * 1000)


def test_create_get(client, exp_id):
    run = client.create_run(exp_id, run_name="r1", tags={"t": "1", "mlflow.user": "alice"}, start_time=1234)
    rid = run.info.run_id
    assert run.info.run_name == "r1"
    assert run.info.status == "RUNNING"
    assert run.info.lifecycle_stage == "active"
    assert run.info.experiment_id == exp_id
    assert run.info.start_time == 1234
    assert run.info.end_time is None
    assert run.info.artifact_uri == f"mlflow-artifacts:/{exp_id}/{rid}/artifacts"
    got = client.get_run(rid)
    assert got.info.run_id == rid
    assert got.info.run_name == "r1"
    assert got.info.start_time == 1234
    assert got.info.user_id == "alice"
    assert got.data.tags == {"t": "1", "mlflow.user": "alice", "mlflow.runName": "r1"}
    assert got.data.params == {} and got.data.metrics == {}


def test_raw_run_carries_run_id_and_run_uuid(server, run_id):
    info = api(server, "GET", "runs/get", params={"run_id": run_id}).json()["run"]["info"]
    assert info["run_id"] == run_id and info["run_uuid"] == run_id
    assert info["status"] == "RUNNING"
    info = api(server, "GET", "runs/get", params={"run_uuid": run_id}).json()["run"]["info"]
    assert info["run_id"] == run_id


def test_generated_run_name(client, exp_id):
    run = client.create_run(exp_id)
    # mlflow generates "<adjective>-<noun>-<number>"
    assert run.info.run_name and len(run.info.run_name.split("-")) == 3
    assert client.get_run(run.info.run_id).data.tags["mlflow.runName"] == run.info.run_name


def test_update_terminate_delete_restore(client, exp_id):
    rid = client.create_run(exp_id, run_name="before").info.run_id
    client.update_run(rid, status="FAILED", name="after")
    got = client.get_run(rid)
    assert got.info.status == "FAILED"
    assert got.info.run_name == "after"
    assert got.data.tags["mlflow.runName"] == "after"
    client.update_run(rid, status="RUNNING")
    assert client.get_run(rid).info.run_name == "after"
    client.set_terminated(rid, status="KILLED", end_time=99999)
    got = client.get_run(rid)
    assert got.info.status == "KILLED" and got.info.end_time == 99999
    client.set_terminated(rid)
    got = client.get_run(rid)
    assert got.info.status == "FINISHED"
    assert abs(got.info.end_time - now_ms()) < 60_000
    client.delete_run(rid)
    assert client.get_run(rid).info.lifecycle_stage == "deleted"
    client.restore_run(rid)
    assert client.get_run(rid).info.lifecycle_stage == "active"


def test_run_name_tag_renames_run(client, run_id):
    client.set_tag(run_id, "mlflow.runName", "via-tag")
    assert client.get_run(run_id).info.run_name == "via-tag"


def test_raw_update_with_end_time(server, client, run_id):
    r = api(server, "POST", "runs/update", json={"run_id": run_id, "status": "FINISHED", "end_time": 5555})
    assert r.status_code == 200, r.text
    info = r.json()["run_info"]
    assert info["status"] == "FINISHED" and info["end_time"] == 5555
    assert client.get_run(run_id).info.end_time == 5555


def test_deleted_run_rejects_writes(server, client, run_id):
    client.delete_run(run_id)
    with pytest.raises(MlflowException) as e:
        client.log_metric(run_id, "m", 1.0)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    r = api(server, "POST", "runs/log-metric", json={"run_id": run_id, "key": "m", "value": 1, "timestamp": 1})
    assert_error(
        r, 400, "INVALID_PARAMETER_VALUE",
        message=f"The run {run_id} must be in the 'active' state. Current state is deleted.",
    )


def test_params(server, client, run_id):
    client.log_param(run_id, "lr", "0.1")
    client.log_param(run_id, "lr", "0.1")  # the same value again is fine
    client.log_param(run_id, "n", 5)  # the client stringifies
    with pytest.raises(MlflowException) as e:
        client.log_param(run_id, "lr", "0.2")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    r = api(server, "POST", "runs/log-parameter", json={"run_id": run_id, "key": "lr", "value": "changed"})
    assert_error(
        r, 400, "INVALID_PARAMETER_VALUE",
        message=(
            f"Changing param values is not allowed. Param with key='lr' was already logged with "
            f"value='0.1' for run ID='{run_id}'. Attempted logging new value 'changed'."
        ),
    )
    assert client.get_run(run_id).data.params == {"lr": "0.1", "n": "5"}


def test_param_conflict_in_batch_message(server, client, run_id):
    client.log_param(run_id, "p", "x")
    r = api(server, "POST", "runs/log-batch", json={"run_id": run_id, "params": [{"key": "p", "value": "x"}]})
    assert r.status_code == 200, r.text  # same value again: fine
    r = api(server, "POST", "runs/log-batch", json={"run_id": run_id, "params": [{"key": "p", "value": "changed"}]})
    assert_error(
        r, 400, "INVALID_PARAMETER_VALUE",
        message=(
            "Changing param values is not allowed. Params were already logged="
            f"'[{{'key': 'p', 'old_value': 'x', 'new_value': 'changed'}}]' for run ID='{run_id}'."
        ),
    )
    r = api(server, "POST", "runs/log-batch", json={
        "run_id": run_id, "params": [{"key": "q", "value": "1"}, {"key": "q", "value": "2"}]})
    assert_error(
        r, 400, "INVALID_PARAMETER_VALUE",
        message=(
            "Duplicate parameter keys have been submitted: ['q']. Please ensure the request contains "
            "only one param value per param key."
        ),
    )


def test_metrics_including_nan_and_infinities(server, client, run_id):
    client.log_metric(run_id, "loss", 1.0, step=0)
    client.log_metric(run_id, "loss", 0.5, step=1)
    client.log_metric(run_id, "int", 3)
    client.log_metric(run_id, "nan", float("nan"))
    client.log_metric(run_id, "pinf", float("inf"))
    client.log_metric(run_id, "ninf", float("-inf"))
    client.log_metric(run_id, "tiny", 5e-324)
    data = client.get_run(run_id).data
    assert data.metrics["loss"] == 0.5
    assert data.metrics["int"] == 3.0
    assert math.isnan(data.metrics["nan"])
    # The SQL store clamps infinities to the largest finite double.
    assert data.metrics["pinf"] == DBL_MAX
    assert data.metrics["ninf"] == -DBL_MAX
    assert data.metrics["tiny"] == 5e-324
    assert math.isnan(client.get_metric_history(run_id, "nan")[0].value)
    assert client.get_metric_history(run_id, "pinf")[0].value == DBL_MAX
    assert client.get_metric_history(run_id, "ninf")[0].value == -DBL_MAX
    # On the wire NaN travels as the string "NaN".
    raw = api(server, "GET", "runs/get", params={"run_id": run_id}).json()["run"]["data"]["metrics"]
    assert {m["key"]: m["value"] for m in raw}["nan"] == "NaN"


def test_raw_nan_and_infinity_strings_accepted(server, client, run_id):
    for key, value in [("a", "NaN"), ("b", "Infinity"), ("c", "-Infinity")]:
        r = api(server, "POST", "runs/log-metric", json={"run_id": run_id, "key": key, "value": value, "timestamp": 1})
        assert r.status_code == 200, r.text
    m = client.get_run(run_id).data.metrics
    assert math.isnan(m["a"]) and m["b"] == DBL_MAX and m["c"] == -DBL_MAX


def test_latest_metric_is_max_step_then_timestamp(client, run_id):
    client.log_metric(run_id, "m", 3.0, step=5, timestamp=100)
    client.log_metric(run_id, "m", 1.0, step=2, timestamp=900)  # later timestamp, lower step
    assert client.get_run(run_id).data.metrics["m"] == 3.0
    client.log_metric(run_id, "m", 7.0, step=5, timestamp=200)  # same step, later timestamp
    assert client.get_run(run_id).data.metrics["m"] == 7.0


def test_tags(client, run_id):
    client.set_tag(run_id, "x", "y")
    client.set_tag(run_id, "x", "z")  # tags can be overwritten
    client.set_tag(run_id, "gone", "soon")
    client.set_tag(run_id, "num", 5)
    client.delete_tag(run_id, "gone")
    tags = client.get_run(run_id).data.tags
    assert tags["x"] == "z" and tags["num"] == "5" and "gone" not in tags


def test_delete_missing_tag(server, client, run_id):
    with pytest.raises(MlflowException) as e:
        client.delete_tag(run_id, "fakeTag")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    r = api(server, "POST", "runs/delete-tag", json={"run_id": run_id, "key": "fakeTag"})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST", startswith="No tag with name: fakeTag")


def test_log_batch_and_fluent(client, exp_id):
    rid = client.create_run(exp_id).info.run_id
    now = now_ms()
    client.log_batch(
        rid,
        metrics=[Metric("m", float(i), now + i, i) for i in range(5)],
        params=[Param("p", "x")],
        tags=[RunTag("tg", "y")],
    )
    with mlflow.start_run(run_id=rid):
        mlflow.log_metrics({"a": 1.0, "b": 2.0}, step=3)
        mlflow.log_params({"q": "1", "w": 2})
        mlflow.set_tags({"z": "1"})
        mlflow.log_metric("single", 9.5)
        mlflow.log_param("single", "p")
        mlflow.set_tag("single", "t")
    run = client.get_run(rid)
    assert run.info.status == "FINISHED"
    assert run.info.end_time is not None
    assert run.data.metrics == {"m": 4.0, "a": 1.0, "b": 2.0, "single": 9.5}
    assert run.data.params == {"p": "x", "q": "1", "w": "2", "single": "p"}
    assert run.data.tags["tg"] == "y" and run.data.tags["z"] == "1" and run.data.tags["single"] == "t"
    assert [(m.step, m.value) for m in client.get_metric_history(rid, "m")] == [(i, float(i)) for i in range(5)]
    assert client.get_metric_history(rid, "a")[0].step == 3


def test_fluent_run_lifecycle(client, exp_id):
    with mlflow.start_run(experiment_id=exp_id, run_name="fluent", tags={"k": "v"}) as run:
        assert mlflow.active_run().info.run_id == run.info.run_id
    got = client.get_run(run.info.run_id)
    assert got.info.run_name == "fluent" and got.data.tags["k"] == "v"
    assert got.info.status == "FINISHED"
    with pytest.raises(ZeroDivisionError):
        with mlflow.start_run(experiment_id=exp_id) as failed:
            1 / 0  # noqa: B018
    assert client.get_run(failed.info.run_id).info.status == "FAILED"
    with mlflow.start_run(experiment_id=exp_id) as parent:
        with mlflow.start_run(nested=True) as child:
            pass
    assert client.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert RunStatus.is_terminated(RunStatus.from_string(client.get_run(parent.info.run_id).info.status))


def test_failed_batch_stores_nothing(server, client, run_id):
    client.log_param(run_id, "p", "x")
    r = api(server, "POST", "runs/log-batch", json={
        "run_id": run_id,
        "metrics": [{"key": "half", "value": 1.0, "timestamp": 1, "step": 0}],
        "tags": [{"key": "half-tag", "value": "1"}],
        "params": [{"key": "new", "value": "1"}, {"key": "p", "value": "conflict"}],
    })
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", startswith="Changing param values is not allowed.")
    data = client.get_run(run_id).data
    assert "half" not in data.metrics
    assert "half-tag" not in data.tags
    assert data.params == {"p": "x"}
    assert client.get_metric_history(run_id, "half") == []


@pytest.mark.parametrize(
    "body, message",
    [
        (
            {"metrics": [{"key": "m", "value": 1.0, "timestamp": 1, "step": i} for i in range(1001)]},
            "A batch logging request can contain at most 1000 metrics. Got 1001 metrics. "
            "Please split up metrics across multiple requests and try again.",
        ),
        (
            {"params": [{"key": f"p{i}", "value": "1"} for i in range(101)]},
            "A batch logging request can contain at most 100 params. Got 101 params. "
            "Please split up params across multiple requests and try again.",
        ),
        (
            {"tags": [{"key": f"t{i}", "value": "1"} for i in range(101)]},
            "A batch logging request can contain at most 100 tags. Got 101 tags. "
            "Please split up tags across multiple requests and try again.",
        ),
        (
            {
                "metrics": [{"key": "m", "value": 1.0, "timestamp": 1, "step": i} for i in range(1000)],
                "params": [{"key": "one", "value": "1"}],
            },
            "A batch logging request can contain at most 1000 metrics, params, and tags. "
            "Got 1001 metrics, params, and tags. "
            "Please split up metrics, params, and tags across multiple requests and try again.",
        ),
    ],
    ids=["1001-metrics", "101-params", "101-tags", "1001-entities"],
)
def test_batch_limits(server, client, run_id, body, message):
    r = api(server, "POST", "runs/log-batch", json={"run_id": run_id, **body})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", message=message)
    data = client.get_run(run_id).data
    assert data.metrics == {} and data.params == {}


def test_batch_at_the_limits_is_fine(server, client, run_id):
    r = api(server, "POST", "runs/log-batch", json={
        "run_id": run_id,
        "metrics": [{"key": "m", "value": float(i), "timestamp": 1, "step": i} for i in range(800)],
        "params": [{"key": f"p{i}", "value": str(i)} for i in range(100)],
        "tags": [{"key": f"t{i}", "value": str(i)} for i in range(100)],
    })
    assert r.status_code == 200, r.text
    data = client.get_run(run_id).data
    assert len(data.params) == 100 and data.metrics == {"m": 799.0}
    assert len(client.get_metric_history(run_id, "m")) == 800


def test_client_splits_big_batches(client, run_id):
    client.log_batch(run_id, metrics=[Metric("m", float(i), 1, i) for i in range(2500)],
                     params=[Param(f"p{i}", "v") for i in range(250)])
    assert len(client.get_metric_history(run_id, "m")) == 2500
    assert len(client.get_run(run_id).data.params) == 250


def test_key_validation(server, client, run_id):
    with pytest.raises(MlflowException) as e:
        client.log_param(run_id, "k" * 251, "v")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    r = api(server, "POST", "runs/log-parameter", json={"run_id": run_id, "key": "k" * 251, "value": "v"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", message="'Param key' exceeds the maximum length of 250 characters")
    r = api(server, "POST", "runs/set-tag", json={"run_id": run_id, "key": "t" * 251, "value": "v"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", message="'key' exceeds the maximum length of 250 characters")
    client.log_param(run_id, "k" * 250, "v")  # exactly 250 is fine
    with pytest.raises(MlflowException) as e:
        client.log_metric(run_id, "bad!key", 1.0)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    r = api(server, "POST", "runs/log-parameter", json={"run_id": run_id, "key": "bad!key", "value": "v"})
    assert_error(
        r, 400, "INVALID_PARAMETER_VALUE",
        message=f"Invalid value \"bad!key\" for parameter 'key' supplied: {NAME_CHARS_MSG}",
    )
    r = api(server, "POST", "runs/log-metric", json={"run_id": run_id, "key": "bad!key", "value": 1, "timestamp": 1})
    assert_error(
        r, 400, "INVALID_PARAMETER_VALUE",
        message=f"Invalid value \"bad!key\" for parameter 'name' supplied: {NAME_CHARS_MSG}",
    )
    for key in ["../escape", "/abs"]:
        r = api(server, "POST", "runs/set-tag", json={"run_id": run_id, "key": key, "value": "v"})
        assert_error(r, 400, "INVALID_PARAMETER_VALUE", contains="Names may be treated as files in certain cases")
    client.log_param(run_id, "ok/key.with-all_the: chars", "v")
    assert "ok/key.with-all_the: chars" in client.get_run(run_id).data.params
    assert "k" * 250 in client.get_run(run_id).data.params


def test_long_values_are_truncated(server, client, run_id):
    r = api(server, "POST", "runs/log-batch", json={
        "run_id": run_id,
        "params": [{"key": "long", "value": "a" * 5000 + "b" * 2000}],
        "tags": [{"key": "longtag", "value": "c" * 7000 + "d" * 2000}],
    })
    assert r.status_code == 200, r.text
    r = api(server, "POST", "runs/log-parameter", json={"run_id": run_id, "key": "long2", "value": "v" * 7000})
    assert r.status_code == 200, r.text
    client.set_tag(run_id, "longtag2", "t" * 9000)
    data = client.get_run(run_id).data
    assert data.params["long"] == "a" * 5000 + "b" * 1000
    assert data.params["long2"] == "v" * 6000
    assert data.tags["longtag"] == "c" * 7000 + "d" * 1000
    assert data.tags["longtag2"] == "t" * 8000


def test_log_input_dataset(client, exp_id):
    df = pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 0.25, 0.125], "c": ["x", "y", "z"]})
    ds = mlflow.data.from_pandas(df, name="train-set", targets="b")
    ds_eval = mlflow.data.from_pandas(df.head(1), name="eval-set")
    with mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.log_input(ds, context="training", tags={"split": "train"})
        mlflow.log_input(ds_eval, context="eval")
    inputs = client.get_run(run.info.run_id).inputs.dataset_inputs
    assert len(inputs) == 2
    by_name = {d.dataset.name: d for d in inputs}
    d = by_name["train-set"]
    assert d.dataset.digest == ds.digest
    assert d.dataset.source_type == ds.source._get_source_type()
    assert d.dataset.source == ds.source.to_json()
    assert d.dataset.schema == ds.to_dict()["schema"]
    assert d.dataset.profile == ds.to_dict()["profile"]
    tags = {t.key: t.value for t in d.tags}
    assert tags == {"mlflow.data.context": "training", "split": "train"}
    assert {t.key: t.value for t in by_name["eval-set"].tags} == {"mlflow.data.context": "eval"}


def test_run_not_found(server, client):
    r = api(server, "GET", "runs/get", params={"run_id": "deadbeef"})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST", message="Run with id=deadbeef not found")
    with pytest.raises(MlflowException) as e:
        client.get_run("deadbeef")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    for path, body in [
        ("runs/log-parameter", {"run_id": "deadbeef", "key": "k", "value": "v"}),
        ("runs/log-metric", {"run_id": "deadbeef", "key": "k", "value": 1, "timestamp": 1}),
        ("runs/set-tag", {"run_id": "deadbeef", "key": "k", "value": "v"}),
        ("runs/log-batch", {"run_id": "deadbeef", "params": [{"key": "k", "value": "v"}]}),
        ("runs/update", {"run_id": "deadbeef", "status": "FINISHED"}),
        ("runs/delete", {"run_id": "deadbeef"}),
        ("runs/restore", {"run_id": "deadbeef"}),
    ]:
        r = api(server, "POST", path, json=body)
        assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST", message="Run with id=deadbeef not found")


def test_run_in_missing_or_deleted_experiment(server, client):
    with pytest.raises(MlflowException) as e:
        client.create_run("98765432")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    r = api(server, "POST", "runs/create", json={"experiment_id": "98765432"})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST", message="No Experiment with id=98765432 exists")
    eid = client.create_experiment(f"deleted-{time.time_ns()}")
    client.delete_experiment(eid)
    r = api(server, "POST", "runs/create", json={"experiment_id": eid})
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
