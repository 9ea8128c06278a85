"""search_runs with MLflow's filter grammar, ordering (NULLs, NaN), paging and view types."""

import base64
import json
import time
import uuid

import mlflow
import pandas as pd
import pytest
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException

from conftest import api, assert_error, sextant_only

N = 8
OPT = {0: "adam", 1: "sgd", 2: "rmsprop", 3: "adam", 4: "sgd", 5: "rmsprop", 6: "adam"}  # run 7: none


@pytest.fixture(scope="module")
def fleet(server):
    """Eight runs with varied metrics, params, tags and attributes in a fresh experiment.

    run i:  start_time 1000+i; user alice (even) / bob (odd)
            acc = i/10 for i <= 5, missing for 6 and 7
            score = 10*i for i <= 5, missing for 6, NaN for 7
            loss: step 0 = 100, step 1 = i (latest value i)
            params: opt (OPT, missing for 7), "a b" = i, label = Alpha (even) / alpha (odd)
            tags: group even/odd, flag=yes for i < 4, mlflow.user
            status FINISHED (end_time 2000+i) for i < 4, FAILED (end_time 2000+i) for 4, 5,
            RUNNING (no end_time) for 6, 7
    """
    from mlflow import MlflowClient

    c = MlflowClient(server.url)
    eid = c.create_experiment("search-" + uuid.uuid4().hex[:8])
    runs = []
    for i in range(N):
        user = "alice" if i % 2 == 0 else "bob"
        r = c.create_run(
            eid, run_name=f"run-{i}", start_time=1000 + i,
            tags={"group": "odd" if i % 2 else "even", "mlflow.user": user},
        )
        rid = r.info.run_id
        metrics = [Metric("loss", 100.0, 1, 0), Metric("loss", float(i), 2, 1)]
        if i <= 5:
            metrics += [Metric("acc", i / 10, 1, 0), Metric("score", 10.0 * i, 1, 0)]
        if i == 7:
            metrics.append(Metric("score", float("nan"), 1, 0))
        params = [Param("a b", str(i)), Param("label", "Alpha" if i % 2 == 0 else "alpha")]
        if i in OPT:
            params.append(Param("opt", OPT[i]))
        tags = [RunTag("flag", "yes")] if i < 4 else []
        c.log_batch(rid, metrics=metrics, params=params, tags=tags)
        if i < 4:
            c.set_terminated(rid, status="FINISHED", end_time=2000 + i)
        elif i < 6:
            c.set_terminated(rid, status="FAILED", end_time=2000 + i)
        runs.append(rid)
    return c, eid, runs


def names(runs):
    return [r.info.run_name for r in runs]


def rn(*idx):
    return [f"run-{i}" for i in idx]


def search(fleet, flt="", order=None, **kw):
    c, eid, _ = fleet
    return names(c.search_runs([eid], filter_string=flt, order_by=order, **kw))


# Results come back in the default order, start_time DESC, so run-7 first.
@pytest.mark.parametrize(
    "flt, expected",
    [
        ("", rn(7, 6, 5, 4, 3, 2, 1, 0)),
        # metrics, all comparators; matched on the latest value
        ("metrics.acc > 0.15", rn(5, 4, 3, 2)),
        ("metrics.acc >= 0.2", rn(5, 4, 3, 2)),
        ("metrics.acc < 0.2", rn(1, 0)),
        ("metrics.acc <= 0.1", rn(1, 0)),
        ("metrics.acc = 0.3", rn(3)),
        ("metrics.acc != 0.3", rn(5, 4, 2, 1, 0)),
        ("metrics.loss < 2", rn(1, 0)),
        ("metrics.loss > 99", []),
        ("metrics.acc > -1e300", rn(5, 4, 3, 2, 1, 0)),
        # params
        ("params.opt = 'adam'", rn(6, 3, 0)),
        ("params.opt != 'adam'", rn(5, 4, 2, 1)),
        ("params.opt LIKE '%prop'", rn(5, 2)),
        ("params.opt LIKE 's_d'", rn(4, 1)),
        ("params.label LIKE 'A%'", rn(6, 4, 2, 0)),
        ("params.label LIKE 'a%'", rn(7, 5, 3, 1)),
        ("params.label = 'alpha'", rn(7, 5, 3, 1)),
        ("params.label ILIKE 'ALPHA'", rn(7, 6, 5, 4, 3, 2, 1, 0)),
        ("params.label ILIKE 'a%'", rn(7, 6, 5, 4, 3, 2, 1, 0)),
        ("params.opt IS NULL", rn(7)),
        ("params.opt IS NOT NULL", rn(6, 5, 4, 3, 2, 1, 0)),
        ("params.nothing IS NULL", rn(7, 6, 5, 4, 3, 2, 1, 0)),
        # tags
        ("tags.group = 'odd'", rn(7, 5, 3, 1)),
        ("tags.group != 'odd'", rn(6, 4, 2, 0)),
        ("tags.group LIKE 'o%'", rn(7, 5, 3, 1)),
        ("tags.group ILIKE 'ODD'", rn(7, 5, 3, 1)),
        ("tags.flag IS NULL", rn(7, 6, 5, 4)),
        ("tags.flag IS NOT NULL", rn(3, 2, 1, 0)),
        ("tags.flag != 'no'", rn(3, 2, 1, 0)),  # != does not match runs without the tag
        # backticked and double-quoted keys
        ("tags.`mlflow.user` = 'alice'", rn(6, 4, 2, 0)),
        ("tags.`mlflow.runName` = 'run-1'", rn(1)),
        ("params.`a b` = '3'", rn(3)),
        ('params."a b" = \'4\'', rn(4)),
        # attributes
        ("attributes.status = 'FAILED'", rn(5, 4)),
        ("attributes.status != 'RUNNING'", rn(5, 4, 3, 2, 1, 0)),
        ("attributes.status LIKE 'FIN%'", rn(3, 2, 1, 0)),
        ("attributes.status ILIKE 'fail%'", rn(5, 4)),
        ("attributes.run_name = 'run-2'", rn(2)),
        ("attributes.run_name != 'run-2'", rn(7, 6, 5, 4, 3, 1, 0)),
        ("attributes.run_name LIKE 'run-1%'", rn(1)),
        ("attributes.run_name ILIKE 'RUN-3'", rn(3)),
        ("attributes.`run name` = 'run-5'", rn(5)),
        ("attributes.start_time >= 1006", rn(7, 6)),
        ("attributes.start_time < 1002", rn(1, 0)),
        ("attributes.start_time = 1003", rn(3)),
        ("attributes.start_time != 1003", rn(7, 6, 5, 4, 2, 1, 0)),
        ("attributes.created > 1005", rn(7, 6)),
        ("attributes.end_time > 2003", rn(5, 4)),
        ("attributes.end_time <= 2001", rn(1, 0)),
        ("attributes.user_id = 'bob'", rn(7, 5, 3, 1)),
        ("attributes.user_id LIKE 'ali%'", rn(6, 4, 2, 0)),
        ("attributes.artifact_uri LIKE 'mlflow-artifacts:/%'", rn(7, 6, 5, 4, 3, 2, 1, 0)),
        # aliases of the entity prefixes, and a bare attribute
        ("metric.acc <= 0.1", rn(1, 0)),
        ("param.opt = 'sgd'", rn(4, 1)),
        ("parameter.opt = 'sgd'", rn(4, 1)),
        ("parameters.opt = 'sgd'", rn(4, 1)),
        ("tag.group = 'even'", rn(6, 4, 2, 0)),
        ("attribute.status = 'FAILED'", rn(5, 4)),
        ("attr.status = 'FAILED'", rn(5, 4)),
        ("run.status = 'FAILED'", rn(5, 4)),
        ("status = 'FAILED'", rn(5, 4)),
        ("run_name = 'run-0'", rn(0)),
        # AND chains, keywords in any case
        ("metrics.acc >= 0.1 AND params.opt = 'adam'", rn(3)),
        ("metrics.acc >= 0.1 and params.opt = 'adam' and tags.group = 'odd'", rn(3)),
        ("tags.flag = 'yes' AND tags.group = 'even' AND attributes.status = 'FINISHED'", rn(2, 0)),
        ("params.opt = 'adam' AND params.opt = 'sgd'", []),
        ("metrics.acc > 0.1 AND metrics.loss < 4 AND attributes.start_time > 1000", rn(3, 2)),
    ],
)
def test_filter(fleet, flt, expected):
    assert search(fleet, flt) == expected


def test_run_id_in_and_not_in(fleet):
    _, _, runs = fleet
    assert search(fleet, f"attributes.run_id IN ('{runs[0]}', '{runs[2]}')") == rn(2, 0)
    assert search(fleet, f"attributes.run_id = '{runs[4]}'") == rn(4)
    assert search(fleet, f"run_id NOT IN ('{runs[0]}', '{runs[2]}')") == rn(7, 6, 5, 4, 3, 1)
    assert search(fleet, f"attributes.run_id IN ('{runs[5]}') AND metrics.acc > 0.1") == rn(5)
    assert search(fleet, "attributes.run_id IN ('0000')") == []
    assert search(fleet, f"attributes.artifact_uri LIKE '%{runs[3]}%'") == rn(3)


@sextant_only("IN / NOT IN on params and tags is a Sextant extension (mlflow rejects it)")
def test_in_on_params_and_tags(fleet):
    assert search(fleet, "params.opt IN ('sgd', 'rmsprop')") == rn(5, 4, 2, 1)
    assert search(fleet, "params.opt NOT IN ('adam')") == rn(5, 4, 2, 1)
    assert search(fleet, "tags.group IN ('odd')") == rn(7, 5, 3, 1)
    assert search(fleet, "tags.group NOT IN ('odd')") == rn(6, 4, 2, 0)
    assert search(fleet, "tags.flag IN ('yes', 'no') AND params.opt IN ('adam')") == rn(3, 0)


def test_in_on_params_rejected_by_mlflow(server, fleet):
    """What the reference server says to the extension (Sextant accepts it instead)."""
    from conftest import IS_SEXTANT

    if IS_SEXTANT:
        pytest.skip("Sextant accepts IN on params (extension)")
    r = api(server, "POST", "runs/search", json={"experiment_ids": [fleet[1]], "filter": "params.opt IN ('a')"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize(
    "order, expected",
    [
        # Numbers ascending/descending; a NaN sorts after every number and a missing value after
        # NaN, in either direction. Ties keep the default order: start_time DESC, then run_id.
        (["metrics.score DESC"], rn(5, 4, 3, 2, 1, 0, 7, 6)),
        (["metrics.score ASC"], rn(0, 1, 2, 3, 4, 5, 7, 6)),
        (["metrics.score"], rn(0, 1, 2, 3, 4, 5, 7, 6)),
        (["metrics.acc DESC"], rn(5, 4, 3, 2, 1, 0, 7, 6)),
        (["metrics.loss DESC"], rn(7, 6, 5, 4, 3, 2, 1, 0)),
        (["metric.loss ASC"], rn(0, 1, 2, 3, 4, 5, 6, 7)),
        # Strings; missing values last in either direction.
        (["params.opt ASC"], rn(6, 3, 0, 5, 2, 4, 1, 7)),
        (["params.opt DESC"], rn(4, 1, 5, 2, 6, 3, 0, 7)),
        (["params.opt ASC", "attributes.start_time ASC"], rn(0, 3, 6, 2, 5, 1, 4, 7)),
        (["params.`a b` DESC"], rn(7, 6, 5, 4, 3, 2, 1, 0)),
        (["tags.flag DESC"], rn(3, 2, 1, 0, 7, 6, 5, 4)),
        (["tags.flag ASC", "attributes.start_time ASC"], rn(0, 1, 2, 3, 4, 5, 6, 7)),
        (["tags.group ASC", "metrics.acc DESC"], rn(4, 2, 0, 6, 5, 3, 1, 7)),
        (["tag.group DESC", "attributes.run_name DESC"], rn(7, 5, 3, 1, 6, 4, 2, 0)),
        # Attributes; a running run has no end_time and sorts last.
        (["attributes.start_time ASC"], rn(0, 1, 2, 3, 4, 5, 6, 7)),
        (["attributes.start_time DESC"], rn(7, 6, 5, 4, 3, 2, 1, 0)),
        (["attributes.end_time ASC"], rn(0, 1, 2, 3, 4, 5, 7, 6)),
        (["attributes.end_time DESC"], rn(5, 4, 3, 2, 1, 0, 7, 6)),
        (["attributes.run_name ASC"], rn(0, 1, 2, 3, 4, 5, 6, 7)),
        (["attributes.status ASC", "attributes.start_time ASC"], rn(4, 5, 0, 1, 2, 3, 6, 7)),
        (["attr.status DESC"], rn(7, 6, 3, 2, 1, 0, 5, 4)),
        (["attributes.user_id ASC"], rn(6, 4, 2, 0, 7, 5, 3, 1)),
        (["start_time ASC"], rn(0, 1, 2, 3, 4, 5, 6, 7)),
        (["attributes.created ASC"], rn(0, 1, 2, 3, 4, 5, 6, 7)),
    ],
)
def test_order_by(fleet, order, expected):
    assert search(fleet, order=order) == expected


def test_order_by_with_filter(fleet):
    assert search(fleet, "metrics.acc >= 0.2", ["metrics.acc ASC"]) == rn(2, 3, 4, 5)
    assert search(fleet, "tags.group = 'odd'", ["params.opt DESC"]) == rn(1, 5, 3, 7)


def _all_pages(c, eid, page_size, **kw):
    out, token, pages = [], None, 0
    while True:
        page = c.search_runs([eid], max_results=page_size, page_token=token, **kw)
        assert len(page) <= page_size
        out.extend(r.info.run_id for r in page)
        pages += 1
        token = page.token
        if not token:
            return out, pages
        assert pages < 100


@pytest.fixture(scope="module")
def many(server):
    """23 runs, some with equal start_time (paging must still be stable), some missing the metric."""
    from mlflow import MlflowClient

    c = MlflowClient(server.url)
    eid = c.create_experiment("paging-" + uuid.uuid4().hex[:8])
    ids = []
    for i in range(23):
        rid = c.create_run(eid, start_time=5000 + i // 3, run_name=f"p{i:02d}").info.run_id
        if i % 4:
            c.log_metric(rid, "m", float(i % 5), step=0)
        ids.append(rid)
    return c, eid, ids


@pytest.mark.parametrize(
    "order",
    [None, ["metrics.m DESC"], ["attributes.run_name ASC"], ["metrics.m ASC", "attributes.run_name DESC"]],
)
@pytest.mark.parametrize("page_size", [1, 5, 7, 23, 50])
def test_paging_has_no_gaps_or_duplicates(many, order, page_size):
    c, eid, ids = many
    everything = [r.info.run_id for r in c.search_runs([eid], order_by=order, max_results=1000)]
    assert sorted(everything) == sorted(ids)
    paged, pages = _all_pages(c, eid, page_size, order_by=order)
    assert paged == everything
    assert pages >= -(-len(ids) // page_size)


def test_page_token_is_opaque_but_bad_tokens_are_400(server, many):
    c, eid, ids = many
    r = api(server, "POST", "runs/search", json={"experiment_ids": [eid], "max_results": 5})
    body = r.json()
    assert len(body["runs"]) == 5
    token = body["next_page_token"]
    assert isinstance(token, str) and token
    r2 = api(server, "POST", "runs/search", json={"experiment_ids": [eid], "max_results": 5, "page_token": token})
    assert r2.status_code == 200
    assert not {x["info"]["run_id"] for x in r2.json()["runs"]} & {x["info"]["run_id"] for x in body["runs"]}
    for bad in ["%%%not-base64", base64.b64encode(b"not json").decode(), base64.b64encode(b'{"x": 1}').decode()]:
        r = api(server, "POST", "runs/search", json={"experiment_ids": [eid], "page_token": bad})
        assert_error(r, 400, "INVALID_PARAMETER_VALUE")


def test_search_across_experiments(server, fleet, many):
    c, eid, runs = fleet
    _, eid2, ids2 = many
    got = c.search_runs([eid, eid2], max_results=1000)
    assert len(got) == len(runs) + len(ids2)
    got = c.search_runs([eid, eid2], filter_string="metrics.m >= 0")
    assert {r.info.experiment_id for r in got} == {eid2}


def test_view_types(fleet):
    c, eid, runs = fleet
    c.delete_run(runs[1])
    try:
        assert runs[1] not in [r.info.run_id for r in c.search_runs([eid])]
        assert [r.info.run_id for r in c.search_runs([eid], run_view_type=ViewType.DELETED_ONLY)] == [runs[1]]
        assert len(c.search_runs([eid], run_view_type=ViewType.ALL)) == N
        assert len(c.search_runs([eid], run_view_type=ViewType.ACTIVE_ONLY)) == N - 1
        assert names(c.search_runs([eid], "tags.group = 'odd'", run_view_type=ViewType.DELETED_ONLY)) == rn(1)
    finally:
        c.restore_run(runs[1])
    assert len(c.search_runs([eid])) == N


def test_dataset_filters(server, client):
    eid = client.create_experiment("ds-" + uuid.uuid4().hex[:8])
    df = pd.DataFrame({"x": [1, 2, 3]})
    train = mlflow.data.from_pandas(df, name="train-data")
    other = mlflow.data.from_pandas(df.head(2), name="other-data")
    with mlflow.start_run(experiment_id=eid, run_name="a"):
        mlflow.log_input(train, context="training")
    time.sleep(0.01)  # distinct start times, so the default order is deterministic
    with mlflow.start_run(experiment_id=eid, run_name="b"):
        mlflow.log_input(other, context="eval")
    with mlflow.start_run(experiment_id=eid, run_name="c"):
        pass

    def s(flt):
        return names(client.search_runs([eid], flt))

    assert s("dataset.name = 'train-data'") == ["a"]
    assert s("datasets.name LIKE '%-data'") == ["b", "a"]
    assert s("dataset.context = 'eval'") == ["b"]
    assert s(f"dataset.digest = '{train.digest}'") == ["a"]
    assert s(f"dataset.digest IN ('{train.digest}', '{other.digest}')") == ["b", "a"]


def test_fluent_search_returns_dataframe(fleet):
    _, eid, runs = fleet
    df = mlflow.search_runs([eid], filter_string="metrics.acc > 0.25", order_by=["metrics.acc DESC"])
    assert isinstance(df, pd.DataFrame)
    assert list(df["tags.mlflow.runName"]) == rn(5, 4, 3)
    assert list(df["metrics.acc"]) == [0.5, 0.4, 0.3]
    assert list(df["params.opt"]) == ["rmsprop", "sgd", "adam"]
    assert list(df["run_id"]) == [runs[5], runs[4], runs[3]]
    assert list(df["status"]) == ["FAILED", "FAILED", "FINISHED"]
    runs_list = mlflow.search_runs([eid], filter_string="params.opt = 'adam'", output_format="list")
    assert sorted(r.info.run_name for r in runs_list) == rn(0, 3, 6)
    everything = mlflow.search_runs(search_all_experiments=True, filter_string="tags.group = 'even'")
    assert set(rn(0, 2, 4, 6)) <= set(everything["tags.mlflow.runName"])


# Each bad filter must be a 400 INVALID_PARAMETER_VALUE whose message names the problem: it must
# contain every needle. mlflow's own wording is in the comment; Sextant may word it better.
@pytest.mark.parametrize(
    "flt, needles",
    [
        # "Expected numeric value type for metric. Found 'x'"
        ("metrics.acc > 'x'", ["'x'"]),
        # "Invalid entity type 'nonsense'. Valid values are ['metric', 'parameter', 'tag', ...]"
        ("nonsense.key = 'x'", ["nonsense"]),
        # "Invalid attribute key 'bogus' specified. Valid keys are ..."
        ("attributes.bogus = 'x'", ["bogus"]),
        # "Invalid comparator '~' not one of ..."
        ("params.opt ~ 'x'", ["~"]),
        # "Invalid clause(s) in filter string: 'metrics.acc', '>'"
        ("metrics.acc >", ["metrics.acc"]),
        # "Invalid clause(s) in filter string: 'OR'"
        ("params.opt = 'a' OR params.opt = 'b'", ["OR"]),
        # "Expected numeric value type for metric. Found '1'"
        ("metrics.acc LIKE '1'", []),
        # "Invalid comparator '>' not one of ..."
        ("params.opt > 'a'", [">"]),
        # "Expected a quoted string value for param ..."
        ("params.opt = 1", ["quoted"]),
        ("attributes.start_time = 'x'", []),
        ("attributes.status > 'x'", []),
        ("params.opt = 'unterminated", []),
        ("(params.opt = 'a')", []),
    ],
)
def test_bad_filters_are_400_with_a_message(server, fleet, flt, needles):
    _, eid, _ = fleet
    r = api(server, "POST", "runs/search", json={"experiment_ids": [eid], "filter": flt})
    body = assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    assert body["message"]
    for needle in needles:
        assert needle in body["message"], body["message"]


def test_bad_filter_through_the_client(fleet):
    c, eid, _ = fleet
    with pytest.raises(MlflowException) as e:
        c.search_runs([eid], filter_string="metrics.acc >> 1")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize(
    "order",
    [["nonsense.key"], ["attributes.bogus"], ["metrics.acc SIDEWAYS"], ["params.opt ASC DESC"]],
)
def test_bad_order_by_is_400(server, fleet, order):
    _, eid, _ = fleet
    r = api(server, "POST", "runs/search", json={"experiment_ids": [eid], "order_by": order})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


@sextant_only("mlflow's server answers 500 INTERNAL_ERROR for a duplicate order_by key (a user mistake)")
def test_duplicate_order_by_is_400(server, fleet):
    _, eid, _ = fleet
    r = api(server, "POST", "runs/search", json={"experiment_ids": [eid], "order_by": ["metrics.acc", "metrics.acc DESC"]})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE", contains="duplicate")


def test_max_results_limit(server, fleet):
    c, eid, _ = fleet
    r = api(server, "POST", "runs/search", json={"experiment_ids": [eid], "max_results": 50001})
    assert_error(
        r, 400, "INVALID_PARAMETER_VALUE",
        startswith="Invalid value 50001 for parameter 'max_results' supplied",
    )
    r = api(server, "POST", "runs/search", json={"experiment_ids": [eid], "max_results": 50000})
    assert r.status_code == 200
    assert len(r.json()["runs"]) == N
    with pytest.raises(MlflowException):
        c.search_runs([eid], max_results=50001)


def test_raw_search_response_shape(server, fleet):
    _, eid, runs = fleet
    r = api(server, "POST", "runs/search", json={
        "experiment_ids": [eid], "filter": "params.opt = 'sgd'", "order_by": ["attributes.start_time ASC"]})
    assert r.status_code == 200
    body = r.json()
    assert "next_page_token" not in body or not body["next_page_token"]
    got = body["runs"]
    assert [x["info"]["run_id"] for x in got] == [runs[1], runs[4]]
    data = got[0]["data"]
    assert {p["key"]: p["value"] for p in data["params"]}["opt"] == "sgd"
    assert {m["key"]: m["value"] for m in data["metrics"]}["loss"] == 1.0
    json.dumps(body)  # plain JSON
