"""The model registry through the real mlflow client: every registry call a user makes.

These tests assert MLflow's own behaviour (run them with SEXTANT_COMPAT_TARGET=mlflow to check
that), so a team's registry code works unchanged against Sextant.
"""

import uuid

import mlflow
import pytest
from mlflow.exceptions import MlflowException

from conftest import IS_SEXTANT, api, assert_error


def _name(prefix="reg"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture()
def source_run(client, exp_id):
    """A finished run with a small artifact that a version can point at."""
    with mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.log_dict({"weights": [1, 2, 3]}, "model/weights.json")
    return run.info.run_id


def test_registered_model_crud(client):
    name = _name()
    rm = client.create_registered_model(name, tags={"team": "ocean"}, description="first")
    assert rm.name == name and rm.description == "first" and rm.tags == {"team": "ocean"}
    assert rm.creation_timestamp > 0 and rm.last_updated_timestamp >= rm.creation_timestamp
    with pytest.raises(MlflowException) as e:
        client.create_registered_model(name)
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS"

    got = client.get_registered_model(name)
    assert got.name == name and got.description == "first"
    client.update_registered_model(name, description="second")
    assert client.get_registered_model(name).description == "second"

    client.set_registered_model_tag(name, "stage", "beta")
    assert client.get_registered_model(name).tags == {"team": "ocean", "stage": "beta"}
    client.delete_registered_model_tag(name, "team")
    assert client.get_registered_model(name).tags == {"stage": "beta"}

    new = _name("renamed")
    client.rename_registered_model(name, new)
    assert client.get_registered_model(new).description == "second"
    with pytest.raises(MlflowException) as e:
        client.get_registered_model(name)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    client.delete_registered_model(new)
    with pytest.raises(MlflowException) as e:
        client.get_registered_model(new)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_versions_from_run_source(client, source_run):
    name = _name()
    client.create_registered_model(name)
    src = f"runs:/{source_run}/model"
    v1 = client.create_model_version(name, src, run_id=source_run, tags={"k": "v"}, description="d1")
    v2 = client.create_model_version(name, src, run_id=source_run)
    assert (v1.version, v2.version) == ("1", "2")
    assert v1.run_id == source_run and v1.source == src and v1.current_stage == "None"
    assert v1.status == "READY" and v1.tags == {"k": "v"} and v1.description == "d1"

    got = client.get_model_version(name, "1")
    assert got.version == "1" and got.tags == {"k": "v"}
    client.update_model_version(name, "1", description="updated")
    assert client.get_model_version(name, "1").description == "updated"
    client.set_model_version_tag(name, "1", "q", "0.9")
    assert client.get_model_version(name, "1").tags == {"k": "v", "q": "0.9"}
    client.delete_model_version_tag(name, "1", "k")
    assert client.get_model_version(name, "1").tags == {"q": "0.9"}

    # Where the files are: for a runs:/ source MLflow hands back the source, which the client
    # resolves through the run.
    assert client.get_model_version_download_uri(name, "1") == src
    local = mlflow.artifacts.download_artifacts(f"models:/{name}/1")
    import json
    import os

    with open(os.path.join(local, "weights.json")) as f:
        assert json.load(f) == {"weights": [1, 2, 3]}

    client.delete_model_version(name, "2")
    with pytest.raises(MlflowException) as e:
        client.get_model_version(name, "2")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    # A deleted version's number is not reused.
    assert client.create_model_version(name, src, run_id=source_run).version == "3"
    client.delete_registered_model(name)


def test_stages_and_latest_versions(client, source_run):
    name = _name()
    client.create_registered_model(name)
    src = f"runs:/{source_run}/model"
    for _ in range(3):
        client.create_model_version(name, src, run_id=source_run)
    client.transition_model_version_stage(name, "1", "Production")
    mv = client.transition_model_version_stage(name, "2", "production", archive_existing_versions=True)
    assert mv.current_stage == "Production"
    assert client.get_model_version(name, "1").current_stage == "Archived"
    latest = {v.current_stage: v.version for v in client.get_latest_versions(name)}
    assert latest == {"Archived": "1", "Production": "2", "None": "3"}
    assert [v.version for v in client.get_latest_versions(name, stages=["Production"])] == ["2"]
    with pytest.raises(MlflowException) as e:
        client.transition_model_version_stage(name, "3", "Nowhere")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    rm = client.get_registered_model(name)
    assert sorted(v.version for v in rm.latest_versions) == ["1", "2", "3"]
    client.delete_registered_model(name)


def test_aliases(client, source_run):
    name = _name()
    client.create_registered_model(name)
    src = f"runs:/{source_run}/model"
    client.create_model_version(name, src, run_id=source_run)
    client.create_model_version(name, src, run_id=source_run)
    client.set_registered_model_alias(name, "champion", "1")
    client.set_registered_model_alias(name, "challenger", "2")
    mv = client.get_model_version_by_alias(name, "champion")
    assert mv.version == "1" and mv.aliases == ["champion"]
    assert client.get_registered_model(name).aliases == {"champion": "1", "challenger": "2"}
    # Moving an alias.
    client.set_registered_model_alias(name, "champion", "2")
    assert client.get_model_version_by_alias(name, "champion").version == "2"
    assert sorted(client.get_model_version(name, "2").aliases) == ["challenger", "champion"]
    client.delete_registered_model_alias(name, "challenger")
    assert client.get_registered_model(name).aliases == {"champion": "2"}
    with pytest.raises(MlflowException) as e:
        client.get_model_version_by_alias(name, "challenger")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"  # MLflow's code for a missing alias
    assert "challenger" in e.value.message
    for bad in ("latest", "v3", "bad alias"):
        with pytest.raises(MlflowException) as e:
            client.set_registered_model_alias(name, bad, "1")
        assert e.value.error_code == "INVALID_PARAMETER_VALUE", bad
    # Deleting a version drops the aliases that point at it.
    client.delete_model_version(name, "2")
    assert client.get_registered_model(name).aliases == {}
    client.delete_registered_model(name)


def test_search_registered_models(client):
    prefix = "srch-" + uuid.uuid4().hex[:6]
    names = [f"{prefix}-{c}" for c in "cab"]
    for i, n in enumerate(names):
        client.create_registered_model(n, tags={"idx": str(i)} if i else None)
    got = [m.name for m in client.search_registered_models(filter_string=f"name LIKE '{prefix}-%'")]
    assert got == sorted(names)  # default order: name ASC
    got = [m.name for m in client.search_registered_models(
        filter_string=f"name LIKE '{prefix}-%'", order_by=["name DESC"])]
    assert got == sorted(names, reverse=True)
    got = [m.name for m in client.search_registered_models(filter_string=f"name ILIKE '{prefix.upper()}-%'")]
    assert got == sorted(names)
    got = [m.name for m in client.search_registered_models(
        filter_string=f"name LIKE '{prefix}-%' AND tags.idx = '2'")]
    assert got == [names[2]]
    got = [m.name for m in client.search_registered_models(filter_string=f"name = '{names[0]}'")]
    assert got == [names[0]]
    # Paging through the client.
    page1 = client.search_registered_models(filter_string=f"name LIKE '{prefix}-%'", max_results=2)
    assert len(page1) == 2 and page1.token
    page2 = client.search_registered_models(
        filter_string=f"name LIKE '{prefix}-%'", max_results=2, page_token=page1.token)
    assert [m.name for m in page1] + [m.name for m in page2] == sorted(names)
    with pytest.raises(MlflowException) as e:
        client.search_registered_models(filter_string="name = ")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    for n in names:
        client.delete_registered_model(n)


def test_search_model_versions(client, source_run):
    a, b = _name("mva"), _name("mvb")
    for n in (a, b):
        client.create_registered_model(n)
    src = f"runs:/{source_run}/model"
    for _ in range(3):
        client.create_model_version(a, src, run_id=source_run)
    client.create_model_version(b, "s3://bucket/elsewhere", run_id=source_run)
    client.set_model_version_tag(a, "2", "quality", "good")

    got = [(v.name, v.version) for v in client.search_model_versions(f"name = '{a}'")]
    assert got == [(a, "3"), (a, "2"), (a, "1")]  # default order: last updated first
    client.update_model_version(a, "1", description="touched")
    got = [v.version for v in client.search_model_versions(f"name = '{a}'")]
    assert got == ["1", "3", "2"]
    got = [v.version for v in client.search_model_versions(f"name = '{a}'", order_by=["version_number ASC"])]
    assert got == ["1", "2", "3"]
    got = [v.version for v in client.search_model_versions(
        f"name = '{a}' AND version_number >= 2", order_by=["version_number DESC"])]
    assert got == ["3", "2"]
    got = [v.version for v in client.search_model_versions(f"name = '{a}' AND tags.quality = 'good'")]
    assert got == ["2"]
    got = [(v.name, v.version) for v in client.search_model_versions(
        f"name IN ('{a}', '{b}')", order_by=["name ASC", "version_number DESC"])]
    assert got == [(a, "3"), (a, "2"), (a, "1"), (b, "1")]
    got = [v.version for v in client.search_model_versions(
        f"name = '{a}' AND run_id = '{source_run}'", order_by=["version_number DESC"])]
    assert got == ["3", "2", "1"]
    got = [v.name for v in client.search_model_versions("source_path LIKE 's3://bucket/%'")]
    assert b in got and a not in got
    assert client.search_model_versions("name = 'no-such-model-at-all'") == []
    page = client.search_model_versions(f"name = '{a}'", max_results=2, order_by=["version_number DESC"])
    assert len(page) == 2 and page.token
    rest = client.search_model_versions(
        f"name = '{a}'", max_results=2, page_token=page.token, order_by=["version_number DESC"])
    assert [v.version for v in page] + [v.version for v in rest] == ["3", "2", "1"]
    for n in (a, b):
        client.delete_registered_model(n)


def test_register_model_from_run_uri_and_load(client, exp_id):
    from sklearn.linear_model import LinearRegression
    import numpy as np

    X = np.arange(20, dtype=float).reshape(10, 2)
    y = X @ np.array([1.5, -2.0]) + 0.5
    model = LinearRegression().fit(X, y)
    with mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.sklearn.log_model(model, name="model")
    name = _name()
    mv = mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
    assert mv.version == "1" and mv.run_id == run.info.run_id
    client.set_registered_model_alias(name, "champion", "1")
    for uri in (f"models:/{name}@champion", f"models:/{name}/1"):
        loaded = mlflow.pyfunc.load_model(uri)
        assert np.allclose(loaded.predict(X), model.predict(X)), uri
    client.delete_registered_model(name)


def test_registry_errors(server):
    r = api(server, "GET", "registered-models/get", params={"name": "no-such-model"})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST", message="Registered Model with name=no-such-model not found")
    r = api(server, "POST", "model-versions/create", json={"name": "no-such-model", "source": "s3://bucket/path/model"})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST")
    r = api(server, "POST", "registered-models/create", json={})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    name = _name()
    api(server, "POST", "registered-models/create", json={"name": name})
    r = api(server, "GET", "model-versions/get", params={"name": name, "version": "7"})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST")
    r = api(server, "GET", "registered-models/alias", params={"name": name, "alias": "nope"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", message="Registered model alias nope not found.")
    if IS_SEXTANT:
        r = api(server, "GET", "model-versions/get", params={"name": name, "version": "abc"})
        assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    api(server, "DELETE", "registered-models/delete", json={"name": name})
