"""`sextant run -- CMD`: every recorded item, checked through the real mlflow client."""

import hashlib
import json
import os
import signal
import subprocess
import textwrap
import time

import pytest

from conftest import PYTHON, artifact_paths, artifact_text, run_json, sextant_bin, sextant_run


def git(cwd, *args):
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", *args],
        cwd=cwd, check=True, capture_output=True, text=True,
    ).stdout.strip()


def exp_id(client, name):
    return client.get_experiment_by_name(name).experiment_id


TRAIN = textwrap.dedent(
    """
    import json, os, sys, time
    print("training starts", flush=True)
    print("a warning", file=sys.stderr, flush=True)
    with open("live.jsonl", "a") as f:
        for step in range(5):
            f.write(json.dumps({"step": step, "loss": 1.0 / (step + 1), "val": {"acc": step / 10}}) + "\\n")
            f.flush()
            time.sleep(0.4)
        f.write('{"step": 5, "loss": 0.')  # a line half written when the command ends
    x = [0] * 3_000_000  # some memory for the RSS samples
    t = time.time()
    while time.time() - t < 0.8:
        pass
    json.dump({"accuracy": 0.93, "test": {"f1": 0.81}, "note": "not a number"}, open("eval.json", "w"))
    open("eval.csv", "w").write("step,rmse,mae\\n1,0.5,0.25\\n2,0.4,0.2\\n")
    open("extra.yaml", "w").write("auc: 0.77\\n")
    os.makedirs("model", exist_ok=True)
    open("model/weights.bin", "wb").write(b"\\x00\\x01weights")
    open("model/config.json", "w").write('{"layers": 2}')
    open("report.txt", "w").write("all good")
    print("env", os.environ["MLFLOW_RUN_ID"], os.environ["MLFLOW_TRACKING_URI"], os.environ["MLFLOW_EXPERIMENT_ID"], flush=True)
    """
)


@pytest.fixture()
def repo(workdir):
    git(workdir, "init", "-q", "-b", "feature/x")
    with open(os.path.join(workdir, "train.py"), "w") as f:
        f.write(TRAIN)
    with open(os.path.join(workdir, "requirements.txt"), "w") as f:
        f.write("numpy==2.0\n")
    git(workdir, "add", ".")
    git(workdir, "commit", "-q", "-m", "first")
    git(workdir, "remote", "add", "origin", "https://ci-bot:s3cr3t@git.example.invalid/team/proj.git")
    # Dirty: a change to a tracked file and an untracked file.
    with open(os.path.join(workdir, "train.py"), "a") as f:
        f.write("# tuned\n")
    with open(os.path.join(workdir, "scratch.txt"), "w") as f:
        f.write("notes\n")
    with open(os.path.join(workdir, "params.yaml"), "w") as f:
        f.write("model:\n  depth: 4\n  layers: [64, 32]\nlr: 0.1\n")
    with open(os.path.join(workdir, "params.json"), "w") as f:
        json.dump({"data": {"split": 0.8}, "lr": 0.2}, f)
    with open(os.path.join(workdir, "params.toml"), "w") as f:
        f.write('optimizer = "adam"\n[schedule]\nwarmup = 100\n')
    return workdir


def test_records_every_item(server, client, experiment, repo):
    head = git(repo, "rev-parse", "HEAD")
    proc = sextant_run(
        server,
        ["--experiment", experiment, "--name", "full", "--json",
         "--params", "params.yaml", "--params", "params.json", "--params", "params.toml",
         "--param", "seed=7", "--param", "lr=0.3",
         "--tag", "team=vision", "--env-var", "SEXTANT_TEST_VAR", "--env-var", "SEXTANT_TEST_UNSET",
         "--metrics", "eval.json", "--metrics", "eval.csv", "--metrics", "extra.yaml",
         "--live-metrics", "live.jsonl",
         "--output", "model", "--output", "report.txt", "--output", "missing.bin",
         "--sample-interval", "0.5"],
        repo,
        [PYTHON, "train.py"],
        env={"SEXTANT_TEST_VAR": "blue"},
    )
    assert proc.returncode == 0, proc.stderr
    out = run_json(proc)
    assert out["status"] == "FINISHED" and out["exit_code"] == 0 and out["created"] is True
    run_id = out["run_id"]
    # Passed through live to our stdout/stderr.
    assert "training starts" in proc.stdout and "a warning" in proc.stderr
    # The child was pointed at the same run.
    assert f"env {run_id} {server} {exp_id(client, experiment)}" in proc.stdout

    run = client.get_run(run_id)
    assert run.info.experiment_id == exp_id(client, experiment)
    assert run.info.status == "FINISHED" and run.info.run_name == "full"
    assert run.info.end_time >= run.info.start_time

    # Params: files in order then flags; nested keys dotted; lists kept whole.
    assert run.data.params == {
        "model.depth": "4", "model.layers": "[64,32]", "lr": "0.3", "data.split": "0.8",
        "optimizer": "adam", "schedule.warmup": "100", "seed": "7",
    }

    tags = run.data.tags
    assert tags["mlflow.source.git.commit"] == head
    assert tags["mlflow.source.git.branch"] == "feature/x"
    assert tags["mlflow.source.git.repoURL"] == "https://git.example.invalid/team/proj.git"
    assert "s3cr3t" not in json.dumps(tags)
    assert tags["mlflow.source.name"] == "train.py"
    assert tags["mlflow.source.type"] == "LOCAL"
    assert tags["mlflow.user"] == run.info.user_id != ""
    assert tags["mlflow.runName"] == "full"
    assert tags["team"] == "vision"
    assert tags["sextant.command"] == f"{PYTHON} train.py"
    assert os.path.realpath(tags["sextant.cwd"]) == os.path.realpath(repo)
    assert tags["sextant.exit_code"] == "0"
    assert 2.0 < float(tags["sextant.duration_s"]) < 60
    assert tags["sextant.start_time"].endswith("Z") and tags["sextant.end_time"] > tags["sextant.start_time"]
    assert tags["sextant.git.dirty"] == "true"
    assert tags["sextant.git.untracked"] == "4"  # the three params files and scratch.txt
    assert tags["sextant.host"] == os.uname().nodename
    assert tags["sextant.env.os"] == "linux"
    assert tags["sextant.env.cpu_count"] == str(len(os.sched_getaffinity(0)))
    with open("/proc/meminfo") as f:
        total_kb = int(f.readline().split()[1])
    assert tags["sextant.env.memory_total_mb"] == str(total_kb // 1024)
    assert tags["sextant.env.var.SEXTANT_TEST_VAR"] == "blue"
    assert "sextant.env.var.SEXTANT_TEST_UNSET" not in tags
    want_hash = hashlib.sha256(open(os.path.join(repo, "requirements.txt"), "rb").read()).hexdigest()
    assert tags["sextant.lock.requirements.txt"] == "sha256:" + want_hash
    import platform

    assert tags["sextant.env.python_version"] == platform.python_version()

    # Artifacts: the diff, the untracked list, logs, packages, outputs (the missing one warned).
    paths = artifact_paths(client, run_id)
    assert paths == sorted([
        "code/git-diff.patch", "code/untracked.txt", "environment/pip-freeze.txt",
        "logs/stderr.txt", "logs/stdout.txt",
        "model/config.json", "model/weights.bin", "report.txt",
    ]), paths
    diff = artifact_text(client, run_id, "code/git-diff.patch")
    assert "+# tuned" in diff and "train.py" in diff
    # The stored diff rebuilds the exact code: apply it to a clean checkout of the commit.
    clone = repo + "-clone"
    subprocess.run(["git", "clone", "-q", repo, clone], check=True)
    try:
        git(clone, "checkout", "-q", head)
        with open(os.path.join(clone, "d.patch"), "w") as f:
            f.write(diff)
        git(clone, "apply", "d.patch")
        assert open(os.path.join(clone, "train.py")).read() == open(os.path.join(repo, "train.py")).read()
    finally:
        subprocess.run(["rm", "-rf", clone], check=True)
    untracked = artifact_text(client, run_id, "code/untracked.txt").split()
    assert "scratch.txt" in untracked and "params.yaml" in untracked
    assert "training starts" in artifact_text(client, run_id, "logs/stdout.txt")
    assert artifact_text(client, run_id, "logs/stderr.txt").startswith("a warning")
    freeze = artifact_text(client, run_id, "environment/pip-freeze.txt")
    import mlflow

    assert f"mlflow=={mlflow.__version__}" in freeze.splitlines() or f"mlflow-skinny=={mlflow.__version__}" in freeze
    assert artifact_text(client, run_id, "report.txt") == "all good"
    assert artifact_text(client, run_id, "model/config.json") == '{"layers": 2}'
    assert "missing.bin" in " ".join(out["warnings"])

    # Live metrics: every complete line, at its step; the half-written last line is dropped.
    loss = client.get_metric_history(run_id, "loss")
    assert [(m.step, round(m.value, 6)) for m in loss] == [(s, round(1.0 / (s + 1), 6)) for s in range(5)]
    assert [m.step for m in client.get_metric_history(run_id, "val.acc")] == list(range(5))
    # Metrics files, read at the end.
    metrics = run.data.metrics
    assert metrics["accuracy"] == 0.93 and metrics["test.f1"] == 0.81 and "note" not in metrics
    assert metrics["auc"] == 0.77
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "rmse")] == [(1, 0.5), (2, 0.4)]
    # System metrics: sampled with steps 0, 1, 2, ... while it ran.
    for key in ["system/cpu_percent", "system/rss_mb", "system/tree_cpu_percent", "system/tree_rss_mb",
                "system/tree_processes", "system/host_memory_used_percent"]:
        hist = client.get_metric_history(run_id, key)
        steps = [m.step for m in hist]
        assert len(steps) >= 3 and steps == list(range(len(steps))), (key, steps)
    assert max(m.value for m in client.get_metric_history(run_id, "system/rss_mb")) > 20  # the 3M list
    assert max(m.value for m in client.get_metric_history(run_id, "system/cpu_percent")) > 30  # the busy loop


def test_failing_command_is_failed_and_keeps_outputs(server, client, experiment, workdir):
    proc = sextant_run(
        server, ["-e", experiment, "--json", "--output", "out"], workdir,
        ["sh", "-c", "mkdir out; echo partial > out/result.txt; echo boom >&2; exit 3"],
    )
    assert proc.returncode == 3
    out = run_json(proc)
    run = client.get_run(out["run_id"])
    assert run.info.status == "FAILED" and out["status"] == "FAILED"
    assert run.data.tags["sextant.exit_code"] == "3"
    assert artifact_text(client, out["run_id"], "out/result.txt") == "partial\n"
    assert artifact_text(client, out["run_id"], "logs/stderr.txt") == "boom\n"
    assert "sextant.git.dirty" not in run.data.tags  # not a git work tree


@pytest.mark.parametrize("code", [0, 1, 42, 255])
def test_exit_code_passes_through(server, client, experiment, workdir, code):
    proc = sextant_run(server, ["-e", experiment, "--json"], workdir, ["sh", "-c", f"exit {code}"])
    assert proc.returncode == code
    out = run_json(proc)
    assert out["exit_code"] == code
    assert client.get_run(out["run_id"]).info.status == ("FINISHED" if code == 0 else "FAILED")


def test_a_command_killed_by_a_signal_is_killed(server, client, experiment, workdir):
    proc = sextant_run(server, ["-e", experiment, "--json"], workdir, ["sh", "-c", "echo bye; kill -9 $$"])
    assert proc.returncode == 128 + 9
    out = run_json(proc)
    run = client.get_run(out["run_id"])
    assert run.info.status == "KILLED"
    assert run.data.tags["sextant.signal"] == "SIGKILL" and run.data.tags["sextant.exit_code"] == "137"
    assert artifact_text(client, out["run_id"], "logs/stdout.txt") == "bye\n"


def start_sextant_run(server, args, cwd, command):
    env = dict(os.environ, MLFLOW_TRACKING_URI=server)
    return subprocess.Popen(
        [sextant_bin(), "run", *args, "--", *command], cwd=cwd, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )


def wait_for_line(stream, text, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if text in line:
            return
        if not line:
            time.sleep(0.05)
    raise AssertionError(f"never printed {text!r}")


@pytest.mark.parametrize("trap", [False, True])
def test_sigterm_kills_the_run_and_keeps_the_logs(server, client, experiment, workdir, trap):
    # The command prints, then waits; with `trap` it handles SIGTERM itself and exits 0.
    script = (
        "import signal, sys, time\n"
        + ("signal.signal(signal.SIGTERM, lambda *a: (print('cleaning up', flush=True), sys.exit(0)))\n" if trap else "")
        + "print('started', flush=True)\n"
        "print('to stderr', file=sys.stderr, flush=True)\n"
        "time.sleep(60)\n"
    )
    p = start_sextant_run(server, ["-e", experiment, "--json", "--output", "nothing-yet"], workdir, [PYTHON, "-c", script])
    wait_for_line(p.stdout, "started")
    time.sleep(0.3)
    p.send_signal(signal.SIGTERM)
    stdout, stderr = p.communicate(timeout=60)
    out = json.loads([l for l in stdout.splitlines() if l.startswith("{")][-1])
    assert p.returncode == (0 if trap else 128 + 15), stderr
    run = client.get_run(out["run_id"])
    assert run.info.status == "KILLED" and out["status"] == "KILLED"
    assert run.data.tags["sextant.received_signal"] == "SIGTERM"
    logged = artifact_text(client, out["run_id"], "logs/stdout.txt")
    assert logged.startswith("started\n")
    assert ("cleaning up" in logged) == trap
    assert artifact_text(client, out["run_id"], "logs/stderr.txt") == "to stderr\n"
    if not trap:
        assert run.data.tags["sextant.signal"] == "SIGTERM"


def test_logs_are_uploaded_while_the_command_runs(server, client, experiment, workdir):
    p = start_sextant_run(
        server, ["-e", experiment, "--json", "--upload-interval", "0.5"], workdir,
        [PYTHON, "-c", "import os, time; print('early', os.environ['MLFLOW_RUN_ID'], flush=True); time.sleep(30)"],
    )
    try:
        line = ""
        while "early" not in line:
            line = p.stdout.readline()
        run_id = line.split()[1]
        deadline = time.monotonic() + 20
        text = ""
        while time.monotonic() < deadline:
            try:
                text = artifact_text(client, run_id, "logs/stdout.txt")
            except Exception:  # noqa: BLE001 - not uploaded yet
                text = ""
            if "early" in text:
                break
            time.sleep(0.2)
        assert "early" in text
        assert client.get_run(run_id).info.status == "RUNNING"
    finally:
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=60)


def test_python_mlflow_calls_log_into_the_wrapping_run(server, client, experiment, workdir):
    script = textwrap.dedent(
        """
        import mlflow
        mlflow.log_param("inner_param", "x")
        for step in range(3):
            mlflow.log_metric("inner_metric", step * 1.5, step=step)
        mlflow.set_tag("inner_tag", "y")
        print("inner run", mlflow.active_run().info.run_id)
        """
    )
    proc = sextant_run(server, ["-e", experiment, "--json", "--sample-interval", "0"], workdir, [PYTHON, "-c", script])
    assert proc.returncode == 0, proc.stderr
    out = run_json(proc)
    assert f"inner run {out['run_id']}" in proc.stdout
    run = client.get_run(out["run_id"])
    assert run.data.params["inner_param"] == "x" and run.data.tags["inner_tag"] == "y"
    assert [(m.step, m.value) for m in client.get_metric_history(out["run_id"], "inner_metric")] == [(0, 0.0), (1, 1.5), (2, 3.0)]
    assert run.info.status == "FINISHED"
    assert [r.info.run_id for r in client.search_runs([exp_id(client, experiment)])] == [out["run_id"]]


def test_stages_attach_by_run_id(server, client, experiment, workdir):
    first = run_json(sextant_run(server, ["-e", experiment, "--json"], workdir, ["true"]))
    rid = first["run_id"]
    ok = sextant_run(server, ["--run-id", rid, "--stage", "build", "--json", "--live-metrics", "m.jsonl"], workdir,
                     ["sh", "-c", "echo built; echo '{\"step\": 1, \"build_time\": 3}' > m.jsonl"])
    assert ok.returncode == 0 and run_json(ok)["status"] == "FINISHED" and run_json(ok)["stage"] == "build"
    bad = sextant_run(server, ["--json", "--stage", "test"], workdir, ["sh", "-c", "echo failing >&2; exit 1"],
                      env={"SEXTANT_RUN_ID": rid})
    assert bad.returncode == 1 and run_json(bad)["status"] == "FAILED"
    # A later stage that succeeds does not hide the failure.
    later = sextant_run(server, ["--run-id", rid, "--json", "--stage", "deploy"], workdir, ["true"])
    assert run_json(later)["status"] == "FAILED"
    run = client.get_run(rid)
    assert run.info.status == "FAILED"
    t = run.data.tags
    assert (t["sextant.stages.build.status"], t["sextant.stages.test.status"], t["sextant.stages.deploy.status"]) == (
        "FINISHED", "FAILED", "FINISHED")
    assert t["sextant.stages.test.exit_code"] == "1"
    assert artifact_text(client, rid, "stages/build/logs/stdout.txt") == "built\n"
    assert artifact_text(client, rid, "stages/test/logs/stderr.txt") == "failing\n"
    assert run.data.metrics["build_time"] == 3
    # Retrying the failed stage successfully clears the failure.
    retry = sextant_run(server, ["--run-id", rid, "--json", "--stage", "test"], workdir, ["true"])
    assert run_json(retry)["status"] == "FINISHED" and client.get_run(rid).info.status == "FINISHED"


def concurrent_stages(server, experiment, workdir, key, n):
    procs = []
    for i in range(n):
        script = f"echo '{{\"step\": 0, \"stage_{i}_metric\": {i}}}' > live{i}.jsonl; sleep 1"
        procs.append(start_sextant_run(
            server, ["-e", experiment, "--run-key", key, "--stage", f"s{i}", "--json", "--live-metrics", f"live{i}.jsonl",
                     "--sample-interval", "0.3"],
            workdir, ["sh", "-c", script]))
    outs = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        assert p.returncode == 0, stderr
        outs.append(json.loads([l for l in stdout.splitlines() if l.startswith("{")][-1]))
    return outs


@pytest.mark.parametrize("n", [2, 8])
def test_concurrent_stages_with_one_run_key_fill_one_run(server, client, experiment, workdir, n):
    from mlflow.entities import ViewType

    key = "build-42"
    outs = concurrent_stages(server, experiment, workdir, key, n)
    run_ids = {o["run_id"] for o in outs}
    assert len(run_ids) == 1, outs
    assert sum(o["created"] for o in outs) == 1
    (rid,) = run_ids
    eid = exp_id(client, experiment)
    active = client.search_runs([eid], filter_string=f"tags.`sextant.run_key` = '{key}'")
    assert [r.info.run_id for r in active] == [rid]
    # The runs that lost the race are deleted, never left active.
    everything = client.search_runs([eid], run_view_type=ViewType.ALL)
    assert all(r.info.lifecycle_stage == "deleted" for r in everything if r.info.run_id != rid)
    run = client.get_run(rid)
    assert run.info.status == "FINISHED"
    for i in range(n):
        assert run.data.metrics[f"stage_{i}_metric"] == i
        assert run.data.tags[f"sextant.stages.s{i}.status"] == "FINISHED"
        assert client.get_metric_history(rid, f"system/s{i}/tree_rss_mb")
    # A later stage with the same key, e.g. on another machine, joins the same run.
    again = run_json(sextant_run(server, ["-e", experiment, "--run-key", key, "--stage", "late", "--json"], workdir, ["true"]))
    assert again["run_id"] == rid and again["created"] is False


def test_an_unreachable_server_fails_before_the_command_runs(workdir):
    proc = sextant_run("http://127.0.0.1:9", ["-e", "x"], workdir, ["touch", "ran"])
    assert proc.returncode == 2
    assert "cannot reach the tracking server" in proc.stderr and "hint:" in proc.stderr
    assert not os.path.exists(os.path.join(workdir, "ran"))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--params", "p.ini"], "cannot tell the format"),
        (["--params", "broken.yaml"], "is not valid YAML"),
        (["--param", "novalue"], "expected KEY=VALUE"),
        (["--param", "bad:key=1"], "not a valid MLflow key"),
        (["--run-id", "0123456789abcdef0123456789abcdef"], "does not exist"),
    ],
)
def test_bad_input_is_refused_before_the_command_runs(server, workdir, args, message):
    with open(os.path.join(workdir, "broken.yaml"), "w") as f:
        f.write("a: [1, 2\n")
    proc = sextant_run(server, args, workdir, ["touch", "ran"])
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert not os.path.exists(os.path.join(workdir, "ran"))


def test_a_missing_program_is_a_failed_run_with_a_hint(server, client, experiment, workdir):
    proc = sextant_run(server, ["-e", experiment], workdir, ["no-such-program-xyz"])
    assert proc.returncode == 2 and "cannot start `no-such-program-xyz`" in proc.stderr and "hint:" in proc.stderr
    (run,) = client.search_runs([exp_id(client, experiment)])
    assert run.info.status == "FAILED" and "no-such-program-xyz" in run.data.tags["sextant.error"]


def test_a_stage_whose_params_conflict_is_refused_and_marked_failed(server, client, experiment, workdir):
    rid = run_json(sextant_run(server, ["-e", experiment, "--json", "--param", "lr=0.1"], workdir, ["true"]))["run_id"]
    proc = sextant_run(server, ["--run-id", rid, "--stage", "tune", "--param", "lr=0.2"], workdir, ["touch", "ran"])
    assert proc.returncode == 2 and "lr" in proc.stderr
    assert not os.path.exists(os.path.join(workdir, "ran"))
    run = client.get_run(rid)
    assert run.data.params["lr"] == "0.1"
    assert run.data.tags["sextant.stages.tune.status"] == "FAILED" and "sextant.stages.tune.error" in run.data.tags
    assert run.info.status == "FAILED"


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 128 + 2), (signal.SIGHUP, 128 + 1)])
def test_other_signals_are_forwarded(server, client, experiment, workdir, sig, code):
    # Without a terminal SIGINT is forwarded too (with one, Ctrl-C reaches the command itself).
    p = start_sextant_run(server, ["-e", experiment, "--json"], workdir,
                          [PYTHON, "-c", "import signal, time; signal.signal(signal.SIGINT, signal.SIG_DFL); print('up', flush=True); time.sleep(60)"])
    wait_for_line(p.stdout, "up")
    time.sleep(0.2)
    p.send_signal(sig)
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == code, stderr
    out = json.loads([l for l in stdout.splitlines() if l.startswith("{")][-1])
    run = client.get_run(out["run_id"])
    assert run.info.status == "KILLED" and run.data.tags["sextant.signal"] == signal.Signals(sig).name


def test_a_second_sigterm_kills_a_command_that_ignores_the_first(server, client, experiment, workdir):
    p = start_sextant_run(server, ["-e", experiment, "--json"], workdir,
                          [PYTHON, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"])
    wait_for_line(p.stdout, "up")
    time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert p.poll() is None, "the first SIGTERM is only forwarded"
    p.send_signal(signal.SIGTERM)
    stdout, _ = p.communicate(timeout=60)
    assert p.returncode == 128 + 9
    out = json.loads([l for l in stdout.splitlines() if l.startswith("{")][-1])
    assert client.get_run(out["run_id"]).data.tags["sextant.signal"] == "SIGKILL"


def test_a_background_process_holding_the_output_does_not_block_the_end(server, client, experiment, workdir):
    started = time.monotonic()
    proc = sextant_run(server, ["-e", experiment, "--json"], workdir, ["sh", "-c", "sleep 20 & echo done"], timeout=60)
    assert time.monotonic() - started < 15
    out = run_json(proc)
    assert out["status"] == "FINISHED"
    assert artifact_text(client, out["run_id"], "logs/stdout.txt") == "done\n"


def test_python_flag_records_packages_without_pip(server, client, experiment, workdir):
    venv = os.path.join(workdir, "venv")
    subprocess.run([PYTHON, "-m", "venv", "--without-pip", venv], check=True)
    with open(os.path.join(workdir, "uv.lock"), "w") as f:
        f.write("version = 1\n")
    proc = sextant_run(server, ["-e", experiment, "--json", "--python", os.path.join(venv, "bin", "python")], workdir,
                       ["sh", "-c", "true"])
    out = run_json(proc)
    run = client.get_run(out["run_id"])
    import platform

    assert run.data.tags["sextant.env.python_version"] == platform.python_version()
    assert "environment/pip-freeze.txt" in artifact_paths(client, out["run_id"])
    # No pip in that venv: the list comes from importlib.metadata (nothing installed there).
    assert "pip==" not in artifact_text(client, out["run_id"], "environment/pip-freeze.txt")
    assert run.data.tags["sextant.lock.uv.lock"] == "sha256:" + hashlib.sha256(b"version = 1\n").hexdigest()
    # Not a Python command and no --python: no package list.
    plain = run_json(sextant_run(server, ["-e", experiment, "--json"], workdir, ["true"]))
    assert "environment/pip-freeze.txt" not in artifact_paths(client, plain["run_id"])


def test_metrics_files_are_read_when_the_command_fails(server, client, experiment, workdir):
    proc = sextant_run(server, ["-e", experiment, "--json", "--metrics", "m.csv"], workdir,
                       ["sh", "-c", "printf 'key,value\\nfinal_loss,2.5\\n' > m.csv; exit 1"])
    out = run_json(proc)
    assert out["status"] == "FAILED"
    assert client.get_run(out["run_id"]).data.metrics["final_loss"] == 2.5
