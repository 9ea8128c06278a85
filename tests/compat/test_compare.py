"""`sextant compare` end to end: suites of runs logged by the real mlflow client, the binary's
verdict and exit status, the comparison stored in the `comparisons` experiment, the reports."""

import json
import os
import random
import re
import subprocess
import uuid

import pytest
from mlflow import MlflowClient

from conftest import IS_SEXTANT, ROOT

pytestmark = pytest.mark.skipif(not IS_SEXTANT, reason="sextant compare is a Sextant command")

PROBLEMS = [f"route-{i:02d}" for i in range(10)]
SEEDS = 5
SHIFTED = set(PROBLEMS[:8])  # the problems where the candidate's cost moves
SHIFT = 15.0
BRANCH = "mlflow.source.git.branch"


def sextant(*args, env=None):
    binary = os.environ.get("SEXTANT_BIN") or os.path.join(ROOT, "target", "debug", "sextant")
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=300, env=env)


def log_suite(client, exp_id, branch, suite, shift, start, problems=PROBLEMS, seeds=SEEDS, fail=()):
    """One suite: every problem run with every seed; `shift` added to cost on SHIFTED problems.
    Returns the run ids by problem."""
    ids = {}
    for pi, problem in enumerate(problems):
        for seed in range(seeds):
            rng = random.Random(f"{problem}-{seed}-{suite}")
            run = client.create_run(
                exp_id,
                start_time=start + pi * 100 + seed,
                tags={"problem": problem, BRANCH: branch, "sextant.suite": suite, "seed": str(seed)},
            )
            rid = run.info.run_id
            cost = 100.0 + 10.0 * pi + rng.gauss(0.0, 1.0) + (shift if problem in SHIFTED else 0.0)
            client.log_metric(rid, "cost", cost)
            client.log_metric(rid, "feasible", 1.0 - 0.01 * seed)
            client.set_terminated(rid, "FAILED" if (problem, seed) in fail else "FINISHED")
            ids.setdefault(problem, []).append(rid)
    return ids


@pytest.fixture(scope="module")
def suites(client):
    exp_name = "compare-" + uuid.uuid4().hex[:8]
    exp_id = client.create_experiment(exp_name)
    old = log_suite(client, exp_id, "main", "nightly-1", 0.0, 1_000_000, problems=PROBLEMS[:2], seeds=2)
    main = log_suite(client, exp_id, "main", "nightly-2", 0.0, 2_000_000)
    better = log_suite(client, exp_id, "faster", "pr-7", -SHIFT, 3_000_000, fail={(PROBLEMS[3], 4)})
    worse = log_suite(client, exp_id, "slower", "pr-8", +SHIFT, 4_000_000)
    # A problem only the baseline has: listed, not dropped silently.
    extra = log_suite(client, exp_id, "main", "nightly-2", 0.0, 2_500_000, problems=["route-extra"], seeds=2)
    main.update(extra)
    return {"exp": exp_name, "old": old, "main": main, "better": better, "worse": worse}


def compare(suites, *extra, candidate="faster"):
    return sextant(
        "compare",
        "--experiment", suites["exp"],
        "--baseline", "tags.sextant.suite = 'nightly-2'",
        "--candidate", f"tags.`{BRANCH}` = '{candidate}'",
        "--by", "tags.problem",
        "--metric", "cost:min",
        "--bootstrap", "2000",
        *extra,
    )


def test_improvement_is_detected_stored_and_reported(client, suites, tmp_path):
    html, md = tmp_path / "report.html", tmp_path / "comment.md"
    r = compare(suites, "--json", "--html", str(html), "--markdown", str(md))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["verdict"] == "improved"
    assert out["exit_code"] == 0
    (m,) = out["metrics"]
    assert m["verdict"] == "improved", m["reason"]
    assert m["suite"]["problems"] == len(PROBLEMS)
    assert m["suite"]["wins"] >= len(SHIFTED)
    assert m["suite"]["p_adjusted"] < 0.05
    for p in m["problems"]:
        d = p["difference"]
        if p["problem"] in SHIFTED:
            # The known shift: the whole interval of the difference is below zero.
            assert d["high"] < 0 and abs(d["estimate"] + SHIFT) < 3, p
            assert p["a12"] == 1.0
        else:
            assert abs(d["estimate"]) < 3, p
        assert d["seed"] is not None and d["resamples"] == 2000
    # 5 seeds per side over 10 problems cannot pass Holm at 0.05: said, not hidden.
    assert "no single problem can show a significant change" in m["per_problem_note"]
    assert {p["verdict"] for p in m["problems"]} == {"underpowered"}

    # Failed runs and one-sided problems are listed.
    failed = [e for e in out["excluded_runs"] if e["reason"] == "run FAILED"]
    assert [e["run_id"] for e in failed] == [suites["better"][PROBLEMS[3]][4]]
    assert {(o["problem"], o["present_on"]) for o in out["one_sided_problems"]} == {("route-extra", "baseline")}

    # The stored comparison run.
    rid = out["comparison_run_id"]
    run = client.get_run(rid)
    assert client.get_experiment(run.info.experiment_id).name == "comparisons"
    assert run.info.status == "FINISHED"
    assert run.data.tags["sextant.compare.verdict"] == "improved"
    assert run.data.tags["sextant.compare.verdict.cost"] == "improved"
    assert run.data.metrics["cost/signed_rank_p_adjusted"] == pytest.approx(m["suite"]["p_adjusted"])
    assert run.data.metrics["cost/wins"] == m["suite"]["wins"]
    arts = {a.path for a in client.list_artifacts(rid)}
    assert {"comparison.json", "compared_runs.json", "report.md", "report.html"} <= arts
    linked = json.load(open(client.download_artifacts(rid, "compared_runs.json", str(tmp_path))))
    all_candidate = {i for ids in suites["better"].values() for i in ids}
    assert set(linked["candidate"]) == all_candidate
    assert set(run.data.tags["sextant.compare.candidate_run_ids"].split(",")) == all_candidate
    all_main = {i for ids in suites["main"].values() for i in ids}
    assert set(linked["baseline"]) == all_main

    # The HTML report: self-contained (no script, no external reference), one box plot and one
    # difference plot per problem, and the performance profile.
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script|<link|<img|\bsrc=|\bhref=|https?://|url\(", page)
    assert page.count('class="box"') == len(PROBLEMS)
    assert page.count('class="diff"') == len(PROBLEMS)
    assert page.count('class="profile"') == 1
    assert rid in page
    text = md.read_text()
    assert "| cost:min | **improved** |" in text
    assert "route-extra" in text and "run FAILED" in text


def test_regression_exits_1(suites):
    r = compare(suites, "--no-store", candidate="slower")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "REGRESSED" in r.stdout
    assert re.search(r"cost:min .* regressed", r.stdout), r.stdout


def test_swapping_sides_mirrors_the_verdict(suites):
    r = sextant(
        "compare", "--experiment", suites["exp"], "--no-store", "--json", "--bootstrap", "200",
        "--baseline", f"tags.`{BRANCH}` = 'faster'",
        "--candidate", "tags.sextant.suite = 'nightly-2'",
        "--metric", "cost:min",
    )
    assert r.returncode == 1, r.stderr
    assert json.loads(r.stdout)["metrics"][0]["verdict"] == "regressed"


def test_baseline_latest_on_takes_the_newest_complete_suite(suites):
    r = sextant(
        "compare", "--experiment", suites["exp"], "--no-store", "--json", "--bootstrap", "200",
        "--baseline-latest-on", "main",
        "--candidate", f"tags.`{BRANCH}` = 'faster'",
        "--metric", "cost",
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert "nightly-2" in out["baseline"]["selector"]
    assert set(out["baseline"]["run_ids"]) == {i for ids in suites["main"].values() for i in ids}


def test_small_suite_is_reported_as_too_small(suites):
    # Only five problems: the signed-rank test can never reach p < 0.05.
    names = ", ".join(f"'{p}'" for p in PROBLEMS[:5])
    r = sextant(
        "compare", "--experiment", suites["exp"], "--no-store", "--bootstrap", "200",
        "--baseline", f"tags.sextant.suite = 'nightly-2' AND tags.problem IN ({names})",
        "--candidate", f"tags.`{BRANCH}` = 'faster' AND tags.problem IN ({names})",
        "--metric", "cost",
    )
    assert r.returncode == 0, r.stderr
    assert "suite too small to detect a change at alpha" in r.stdout
    assert "at least 6 problems" in r.stdout


def test_require_complete_turns_gaps_into_an_error(suites):
    r = compare(suites, "--no-store", "--require-complete")
    assert r.returncode == 2
    assert "run FAILED" in r.stderr and "route-extra" in r.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--metric", "cost:up"], "unknown direction"),
        (["--metric", "cost", "--alpha", "2"], "--alpha"),
        (["--metric", "cost", "--by", "metrics.x"], "not a grouping key"),
        (["--metric", "no_such_metric"], "no problem has metric no_such_metric"),
        (["--metric", "cost", "--experiment", "does-not-exist-anywhere"], "does not exist"),
    ],
)
def test_usage_and_data_errors_exit_2(suites, args, message):
    base = ["compare", "--baseline", "tags.sextant.suite = 'nightly-2'",
            "--candidate", f"tags.`{BRANCH}` = 'faster'", "--no-store"]
    if "--experiment" not in args:
        base += ["--experiment", suites["exp"]]
    r = sextant(*base, *args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr, r.stderr


def test_missing_candidate_is_a_usage_error():
    r = sextant("compare", "--baseline", "x = 1", "--metric", "cost")
    assert r.returncode == 2
    assert "--candidate" in r.stderr


def test_no_tracking_server_is_an_error_with_a_hint(suites):
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    r = sextant("compare", "--baseline", "x = 1", "--candidate", "y = 2", "--metric", "cost", env=env)
    assert r.returncode == 2
    assert "hint:" in r.stderr
