"""MLflow 3 logged models and the registry: sklearn log_model / load_model round trips."""

import uuid

import mlflow
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return LogisticRegression().fit(X, y), X


@pytest.fixture(scope="module")
def logged(server, trained):
    from mlflow import MlflowClient

    model, X = trained
    client = MlflowClient(server.url)
    exp_id = client.create_experiment("models-" + uuid.uuid4().hex[:8])
    with mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.log_param("C", 1.0)
        mlflow.log_metric("acc", float(model.score(X, model.predict(X))))
        info = mlflow.sklearn.log_model(model, name="model", input_example=X[:2])
    return client, exp_id, run.info.run_id, info


def test_sklearn_load_by_run_uri(logged, trained):
    _, _, run_id, _ = logged
    model, X = trained
    loaded = mlflow.sklearn.load_model(f"runs:/{run_id}/model")
    assert (loaded.predict(X) == model.predict(X)).all()
    assert np.allclose(loaded.predict_proba(X), model.predict_proba(X))


def test_pyfunc_load_by_model_id(logged, trained):
    _, _, _, info = logged
    model, X = trained
    assert info.model_id and info.model_uri == f"models:/{info.model_id}"
    by_id = mlflow.pyfunc.load_model(f"models:/{info.model_id}")
    assert (np.asarray(by_id.predict(X)) == model.predict(X)).all()
    assert (mlflow.sklearn.load_model(info.model_uri).predict(X) == model.predict(X)).all()


def test_logged_model_get_and_search(logged):
    client, exp_id, run_id, info = logged
    lm = client.get_logged_model(info.model_id)
    assert lm.model_id == info.model_id
    assert lm.name == "model"
    assert lm.experiment_id == exp_id
    assert str(lm.status).endswith("READY")
    assert lm.source_run_id == run_id
    assert lm.params.get("C") == "1.0"
    assert lm.artifact_location == f"mlflow-artifacts:/{exp_id}/models/{info.model_id}/artifacts"
    found = client.search_logged_models(experiment_ids=[exp_id])
    assert [m.model_id for m in found] == [info.model_id]
    assert [m.model_id for m in client.search_logged_models(experiment_ids=[exp_id], filter_string="name = 'model'")] == [
        info.model_id]
    assert client.search_logged_models(experiment_ids=[exp_id], filter_string="name = 'other'") == []
    assert [m.model_id for m in mlflow.search_logged_models(experiment_ids=[exp_id], output_format="list")] == [
        info.model_id]
    outputs = client.get_run(run_id).outputs
    assert [o.model_id for o in outputs.model_outputs] == [info.model_id]
    # The model's files are under its own artifact root.
    files = {a.path for a in mlflow.artifacts.list_artifacts(artifact_uri=info.model_uri)}
    assert "MLmodel" in files


def test_logged_model_tags(logged):
    client, _, _, info = logged
    client.set_logged_model_tags(info.model_id, {"stage": "test", "owner": "ci"})
    assert client.get_logged_model(info.model_id).tags["stage"] == "test"
    client.delete_logged_model_tag(info.model_id, "stage")
    tags = client.get_logged_model(info.model_id).tags
    assert "stage" not in tags and tags["owner"] == "ci"


def test_register_alias_and_load(logged, trained):
    client, _, run_id, info = logged
    model, X = trained
    name = "reg-" + uuid.uuid4().hex[:8]
    mv = mlflow.register_model(info.model_uri, name)
    assert mv.name == name and mv.version == "1"
    assert mv.run_id == run_id
    client.set_registered_model_alias(name, "champion", mv.version)
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    by_alias = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    assert (np.asarray(by_alias.predict(X)) == model.predict(X)).all()
    by_version = mlflow.sklearn.load_model(f"models:/{name}/1")
    assert (by_version.predict(X) == model.predict(X)).all()
    assert [m.name for m in client.search_registered_models(filter_string=f"name = '{name}'")] == [name]
    assert [v.version for v in client.search_model_versions(f"name = '{name}'")] == ["1"]
    mv2 = mlflow.register_model(info.model_uri, name)
    assert mv2.version == "2"
    client.delete_registered_model_alias(name, "champion")
    client.delete_registered_model(name)
