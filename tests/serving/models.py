"""The scikit-learn model matrix: trained, converted with skl2onnx, logged with mlflow.onnx,
registered, approved and aliased through Sextant's API."""

import numpy as np
import pandas as pd
import requests
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (GradientBoostingClassifier, GradientBoostingRegressor,
                              HistGradientBoostingClassifier, HistGradientBoostingRegressor,
                              RandomForestClassifier, RandomForestRegressor)
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

ALIAS = "champion"  # the protected alias every model of the matrix is served under
RNG = np.random.RandomState(42)
X = RNG.rand(200, 4).astype(np.float32)
Y_REG = (X @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.1 * RNG.rand(200)).astype(np.float32)
Y_BIN = (X[:, 0] + X[:, 1] > 1.0).astype(np.int64)
Y_MULTI = (X[:, 0] * 3).astype(np.int64).clip(0, 2)


def mixed_frame(n, seed=0):
    r = np.random.RandomState(seed)
    return pd.DataFrame({
        "length": r.rand(n).astype(np.float32) * 300,
        "draught": r.rand(n).astype(np.float32) * 20,
        "flag": r.choice(["NO", "PA", "LR", "MT"], n),
        "kind": r.choice(["tanker", "bulk", "container"], n),
    })


def numeric(estimator, y):
    return lambda: (estimator.fit(X, y), X)


def pipeline():
    df = mixed_frame(200)
    y = ((df["length"] > 150) ^ (df["flag"] == "PA")).astype(np.int64)
    pipe = Pipeline([
        ("prep", ColumnTransformer([
            ("num", StandardScaler(), ["length", "draught"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["flag", "kind"]),
        ])),
        ("clf", LogisticRegression()),
    ])
    return pipe.fit(df, y), df


MATRIX = {
    "linear-regression": numeric(LinearRegression(), Y_REG),
    "logistic-regression": numeric(LogisticRegression(), Y_BIN),
    "random-forest-regressor": numeric(RandomForestRegressor(n_estimators=10, max_depth=5, random_state=0), Y_REG),
    "random-forest-classifier": numeric(RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0), Y_BIN),
    "decision-tree-classifier-3": numeric(DecisionTreeClassifier(max_depth=4, random_state=0), Y_MULTI),
    "gradient-boosting-regressor": numeric(GradientBoostingRegressor(n_estimators=20, random_state=0), Y_REG),
    "gradient-boosting-classifier": numeric(GradientBoostingClassifier(n_estimators=20, random_state=0), Y_BIN),
    "hist-gradient-boosting-regressor": numeric(HistGradientBoostingRegressor(max_iter=20, random_state=0), Y_REG),
    "hist-gradient-boosting-classifier": numeric(HistGradientBoostingClassifier(max_iter=20, random_state=0), Y_MULTI),
    "mlp-classifier": numeric(MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0), Y_MULTI),
    "pipeline-mixed": pipeline,
}


def _bool_attributes_as_ints():
    """skl2onnx 1.20 passes HistGradientBoosting's `nodes_missing_value_tracks_true` as Python
    booleans, which onnx 1.23 refuses for an ints attribute; ONNX wants 0/1 ints there."""
    import onnx.helper as h

    if getattr(h.make_attribute, "_sextant_bools", False):
        return
    original = h.make_attribute

    def make_attribute(key, value, *args, **kwargs):
        if isinstance(value, np.ndarray) and value.dtype == bool:
            value = value.astype(np.int64).tolist()
        elif isinstance(value, (list, tuple)) and any(isinstance(v, (bool, np.bool_)) for v in value):
            value = [int(v) for v in value]
        return original(key, value, *args, **kwargs)

    make_attribute._sextant_bools = True
    h.make_attribute = make_attribute


def to_onnx(model, sample):
    _bool_attributes_as_ints()
    from skl2onnx import to_onnx as convert

    opts = {id(model): {"zipmap": False}} if hasattr(model, "predict_proba") else None
    if isinstance(model, Pipeline):
        opts = {id(model.steps[-1][1]): {"zipmap": False}}
    return convert(model, sample[:1], options=opts, target_opset={"": 17, "ai.onnx.ml": 3})


def reference(onx, inputs):
    """onnxruntime's answer in Python: {output name: array}."""
    import onnxruntime as rt

    sess = rt.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    if isinstance(inputs, pd.DataFrame):
        feed = {i.name: inputs[i.name].to_numpy().reshape(-1, 1) for i in sess.get_inputs()}
    else:
        feed = {sess.get_inputs()[0].name: inputs}
    return dict(zip(names, sess.run(None, feed)))


def log_and_register(name, onx, example, tracking):
    """Log with mlflow.onnx (input example and signature), register; returns the version."""
    import mlflow
    from mlflow.models import infer_signature

    ref = reference(onx, example)
    first = next(iter(ref.values()))
    with mlflow.start_run():
        info = mlflow.onnx.log_model(onx, name="model", input_example=example,
                                     signature=infer_signature(example, first))
    mv = mlflow.register_model(info.model_uri, name)
    return str(mv.version)


def sextant_api(tracking, method, path, body=None):
    r = requests.request(method, f"{tracking}/api/sextant/v1/{path}", json=body, timeout=30)
    assert r.status_code == 200, (method, path, r.status_code, r.text)
    return r.json()


def approve(tracking, name, version):
    sextant_api(tracking, "POST", f"models/{name}/versions/{version}/review",
                {"decision": "approve", "comment": "checked by the serving suite"})


def promote(tracking, name, version, alias):
    sextant_api(tracking, "PUT", f"models/{name}/aliases/{alias}", {"version": version})


def request_body(inputs):
    if isinstance(inputs, pd.DataFrame):
        return {"dataframe_split": {"columns": list(inputs.columns),
                                    "data": inputs.astype(object).values.tolist()}}
    return {"inputs": inputs.tolist()}
