"""Fixtures for the pipeline tests: the real `dvc` (3.67.1, from tests/data/requirements.txt)
and the `sextant` binary on the same temporary git repositories. The helpers are the data
suite's (tests/data/conftest.py), loaded by path."""

import importlib.util
import os
import subprocess

import pytest

_spec = importlib.util.spec_from_file_location(
    "data_conftest", os.path.join(os.path.dirname(__file__), "..", "data", "conftest.py"))
_data = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_data)

ENV = _data.ENV
# Runs are tracked only where a test asks for it (--tracking-uri).
ENV.pop("MLFLOW_TRACKING_URI", None)
ENV.pop("MLFLOW_EXPERIMENT_NAME", None)
ROOT = _data.ROOT
SEXTANT = _data.SEXTANT
VENV_BIN = _data.VENV_BIN
run = _data.run
dvc = _data.dvc
git = _data.git
clone = _data.clone
run_doc_example = _data.run_doc_example
# The data suite's S3 fixtures (moto_server, or AWS_ENDPOINT_URL when set).
s3_endpoint = _data.s3_endpoint
s3_bucket = _data.s3_bucket


def sx(cwd, *args, check=True, env=None):
    """`sextant ARGS...` (not `sextant data`)."""
    return run([SEXTANT, *args], cwd, check=check, env=env)


def write(root, files):
    """Write {relative path: text} below root."""
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def log_lines(path):
    """The lines a pipeline's commands appended to a log file (empty when none ran)."""
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def repo(tmp_path):
    """A fresh git repository with `.dvc/` (dvc init) and nothing committed yet."""
    d = tmp_path / "repo"
    d.mkdir()
    git(d, "init", "-q", "-b", "main")
    dvc(d, "init", "-q")
    # The log the stages append to lives outside the repository, so it is no dependency.
    return d


def dvc_up_to_date(cwd):
    """`dvc status` says nothing is stale, and `dvc repro --dry` would run nothing."""
    st = dvc(cwd, "status", "--json")
    import json
    assert json.loads(st.stdout or "{}") == {}, st.stdout
    dry = dvc(cwd, "repro", "--dry")
    assert "Running stage" not in dry.stdout, dry.stdout


def popen_sextant(args, cwd, env=None):
    """Start `sextant ARGS...` in its own process group (so a test can kill it and its
    commands together, by that group's id)."""
    return subprocess.Popen([SEXTANT, *args], cwd=cwd, env=env or ENV, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
