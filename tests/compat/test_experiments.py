"""Experiments through the real client: create, get, search, rename, delete, restore, tags."""

import time
import uuid

import mlflow
import pytest
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException

from conftest import api, assert_error


def uniq(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_default_experiment_exists(server, client):
    exp = client.get_experiment("0")
    assert exp.name == "Default"
    assert exp.lifecycle_stage == "active"
    assert exp.artifact_location == "mlflow-artifacts:/0"
    assert client.get_experiment_by_name("Default").experiment_id == "0"
    r = api(server, "GET", "experiments/get", params={"experiment_id": "0"})
    assert r.status_code == 200
    assert r.json()["experiment"]["name"] == "Default"


def test_create_with_tags_get_and_get_by_name(client):
    name = uniq("create")
    before = int(time.time() * 1000) - 5000
    eid = client.create_experiment(name, tags={"team": "a", "project.key": "x y"})
    assert isinstance(eid, str) and eid.isdigit()
    exp = client.get_experiment(eid)
    assert exp.experiment_id == eid
    assert exp.name == name
    assert exp.tags == {"team": "a", "project.key": "x y"}
    assert exp.lifecycle_stage == "active"
    assert exp.artifact_location == f"mlflow-artifacts:/{eid}"
    assert before <= exp.creation_time <= int(time.time() * 1000) + 5000
    assert exp.last_update_time >= exp.creation_time
    by_name = client.get_experiment_by_name(name)
    assert by_name.experiment_id == eid and by_name.tags == exp.tags
    assert client.get_experiment_by_name(uniq("never-created")) is None


def test_fluent_set_experiment_creates_then_reuses(client):
    name = uniq("fluent")
    exp = mlflow.set_experiment(name)
    assert client.get_experiment_by_name(name).experiment_id == exp.experiment_id
    assert mlflow.set_experiment(name).experiment_id == exp.experiment_id
    assert mlflow.get_experiment_by_name(name).name == name
    eid = mlflow.create_experiment(uniq("fluent-create"), tags={"k": "v"})
    assert mlflow.get_experiment(eid).tags == {"k": "v"}


def test_rename(client):
    name = uniq("rename")
    eid = client.create_experiment(name)
    client.rename_experiment(eid, name + "-b")
    assert client.get_experiment(eid).name == name + "-b"
    assert client.get_experiment_by_name(name + "-b").experiment_id == eid
    assert client.get_experiment_by_name(name) is None


def test_rename_to_taken_name_is_a_400(server, client):
    name = uniq("taken")
    client.create_experiment(name)
    other = client.create_experiment(name + "-other")
    r = api(server, "POST", "experiments/update", json={"experiment_id": other, "new_name": name})
    # mlflow's SQL store answers BAD_REQUEST here (an IntegrityError); either 400 code is fine.
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] in ("BAD_REQUEST", "RESOURCE_ALREADY_EXISTS", "INVALID_PARAMETER_VALUE")
    assert client.get_experiment(other).name == name + "-other"


def test_set_and_delete_tag(client):
    eid = client.create_experiment(uniq("tags"))
    client.set_experiment_tag(eid, "k", "v")
    client.set_experiment_tag(eid, "k2", "v2")
    assert client.get_experiment(eid).tags == {"k": "v", "k2": "v2"}
    client.set_experiment_tag(eid, "k", "overwritten")
    assert client.get_experiment(eid).tags["k"] == "overwritten"
    client.delete_experiment_tag(eid, "k")
    assert client.get_experiment(eid).tags == {"k2": "v2"}
    mlflow.set_experiment(experiment_id=eid)
    mlflow.set_experiment_tags({"f1": "a", "f2": "b"})
    assert client.get_experiment(eid).tags == {"k2": "v2", "f1": "a", "f2": "b"}


def test_duplicate_name_is_resource_already_exists(server, client):
    name = uniq("dup")
    client.create_experiment(name)
    with pytest.raises(MlflowException) as e:
        client.create_experiment(name)
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS"
    r = api(server, "POST", "experiments/create", json={"name": name})
    # mlflow appends the database's IntegrityError text after this prefix.
    assert_error(r, 400, "RESOURCE_ALREADY_EXISTS", startswith=f"Experiment(name={name}) already exists.")


def test_name_of_deleted_experiment_is_still_taken(client):
    name = uniq("deleted-name")
    eid = client.create_experiment(name)
    client.delete_experiment(eid)
    with pytest.raises(MlflowException) as e:
        client.create_experiment(name)
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS"
    got = client.get_experiment_by_name(name)
    assert got.experiment_id == eid and got.lifecycle_stage == "deleted"


def test_delete_restore_and_view_types(client):
    prefix = uniq("views")
    keep = client.create_experiment(prefix + "-keep")
    gone = client.create_experiment(prefix + "-gone")
    rid = client.create_run(gone).info.run_id
    client.delete_experiment(gone)
    assert client.get_experiment(gone).lifecycle_stage == "deleted"
    # Deleting an experiment deletes its runs too (SQL store behaviour) ...
    assert client.get_run(rid).info.lifecycle_stage == "deleted"
    flt = f"name LIKE '{prefix}%'"

    def ids(view):
        return sorted((e.experiment_id for e in client.search_experiments(view_type=view, filter_string=flt)), key=int)

    assert ids(ViewType.ACTIVE_ONLY) == [keep]
    assert ids(ViewType.DELETED_ONLY) == [gone]
    assert ids(ViewType.ALL) == sorted([keep, gone], key=int)
    assert [e.experiment_id for e in client.search_experiments(filter_string=flt)] == [keep]
    # ... and restoring it restores them.
    client.restore_experiment(gone)
    assert client.get_experiment(gone).lifecycle_stage == "active"
    assert client.get_run(rid).info.lifecycle_stage == "active"
    assert ids(ViewType.ACTIVE_ONLY) == sorted([keep, gone], key=int)
    assert ids(ViewType.DELETED_ONLY) == []


def test_delete_missing_experiment_is_404(server):
    r = api(server, "POST", "experiments/delete", json={"experiment_id": "987654321"})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST", message="No Experiment with id=987654321 exists")


@pytest.fixture(scope="module")
def seven(client):
    prefix = uniq("srch")
    ids = []
    for i in range(7):
        ids.append(client.create_experiment(f"{prefix}-{i}", tags={"i": str(i), "parity": "odd" if i % 2 else "even"}))
        time.sleep(0.005)  # distinct creation_time values
    return prefix, ids


def test_search_filter_on_name_and_tags(client, seven):
    prefix, ids = seven
    found = client.search_experiments(filter_string=f"name LIKE '{prefix}-%'", order_by=["name DESC"])
    assert [e.experiment_id for e in found] == list(reversed(ids))
    assert client.search_experiments(filter_string=f"name LIKE '{prefix.upper()}-%'") == []
    assert len(client.search_experiments(filter_string=f"name ILIKE '{prefix.upper()}-%'")) == 7
    assert [e.experiment_id for e in client.search_experiments(filter_string=f"name = '{prefix}-4'")] == [ids[4]]
    tagged = client.search_experiments(filter_string=f"name LIKE '{prefix}%' AND tags.i = '3'")
    assert [e.experiment_id for e in tagged] == [ids[3]]
    odd = client.search_experiments(
        filter_string=f"name LIKE '{prefix}%' AND tags.parity = 'odd'", order_by=["name ASC"]
    )
    assert [e.experiment_id for e in odd] == [ids[1], ids[3], ids[5]]
    not_odd = client.search_experiments(filter_string=f"name LIKE '{prefix}%' AND tag.parity != 'odd'")
    assert sorted(e.experiment_id for e in not_odd) == sorted([ids[0], ids[2], ids[4], ids[6]])
    like = client.search_experiments(filter_string=f"name LIKE '{prefix}%' AND tags.parity LIKE 'ev%'")
    assert len(like) == 4
    assert client.search_experiments(filter_string=f"name LIKE '{prefix}%' AND tags.nope = 'x'") == []


def test_search_filter_on_creation_time(client, seven):
    prefix, ids = seven
    created = {i: client.get_experiment(i).creation_time for i in ids}
    pivot = created[ids[3]]
    for op, keep in [(">=", lambda c: c >= pivot), ("<", lambda c: c < pivot), ("=", lambda c: c == pivot)]:
        found = client.search_experiments(filter_string=f"name LIKE '{prefix}-%' AND creation_time {op} {pivot}")
        assert {e.experiment_id for e in found} == {i for i in ids if keep(created[i])}, op


def test_search_order_by(client, seven):
    prefix, ids = seven
    flt = f"name LIKE '{prefix}-%'"
    assert [e.experiment_id for e in client.search_experiments(filter_string=flt, order_by=["name ASC"])] == ids
    by_id = client.search_experiments(filter_string=flt, order_by=["experiment_id DESC"])
    assert [e.experiment_id for e in by_id] == sorted(ids, key=int, reverse=True)
    # The default order is creation_time DESC (newest first), then experiment_id.
    assert [e.experiment_id for e in client.search_experiments(filter_string=flt)] == list(reversed(ids))
    by_time = client.search_experiments(filter_string=flt, order_by=["creation_time ASC"])
    assert [e.experiment_id for e in by_time] == ids


def test_search_paging(client, seven):
    prefix, ids = seven
    seen, token, pages = [], None, 0
    while True:
        page = client.search_experiments(
            max_results=3, filter_string=f"name LIKE '{prefix}-%'", order_by=["name ASC"], page_token=token
        )
        assert len(page) <= 3
        seen.extend(e.experiment_id for e in page)
        pages += 1
        token = page.token
        if not token:
            break
        assert pages < 10
    assert seen == ids
    assert pages >= 3


def test_missing_experiment_errors(server, client):
    r = api(server, "GET", "experiments/get", params={"experiment_id": "99999999"})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST", message="No Experiment with id=99999999 exists")
    r = api(server, "GET", "experiments/get-by-name", params={"experiment_name": "nope-nope"})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST", message="Could not find experiment with name 'nope-nope'")
    with pytest.raises(MlflowException) as e:
        client.get_experiment("99999999")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
