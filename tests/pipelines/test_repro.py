"""`sextant repro` against real dvc 3.67.1 on the same repositories: what runs, what is
skipped, parallel stages, resume after SIGKILL, the run cache across clones, and DVC agreeing
afterwards that nothing is stale."""

import json
import os
import signal
import time

from conftest import ENV, clone, dvc, dvc_up_to_date, git, log_lines, popen_sextant, sx, write


def foreach_matrix_pipeline(root, log):
    write(root, {
        "params.yaml": "vessels: [tanker, ferry]\nscale:\n  tanker: 2\n  ferry: 3\ntitle: fleet\n",
        "raw/tanker.csv": "t,1\n",
        "raw/ferry.csv": "f,2\n",
        "dvc.yaml": f"""stages:
  prepare:
    foreach: ${{vessels}}
    do:
      cmd: echo prepare ${{item}} >> {log} && mkdir -p prep && cat raw/${{item}}.csv > prep/${{item}}.txt
      deps: ["raw/${{item}}.csv"]
      outs: ["prep/${{item}}.txt"]
  train:
    matrix:
      vessel: ${{vessels}}
      lr: [1, 2]
    cmd: echo train ${{key}} >> {log} && mkdir -p models && echo ${{item.lr}} x | cat - prep/${{item.vessel}}.txt > models/${{key}}.txt
    deps: ["prep/${{item.vessel}}.txt"]
    params: ["scale.${{item.vessel}}"]
    outs: ["models/${{key}}.txt"]
  report:
    cmd: echo report >> {log} && echo ${{title}} > report.txt && cat models/*.txt >> report.txt
    deps: [models]
    params: [title]
    outs: [report.txt]
""",
    })


def test_foreach_and_matrix_rerun_only_what_a_param_change_reaches(repo, tmp_path):
    log = tmp_path / "ran.log"
    foreach_matrix_pipeline(repo, log)
    sx(repo, "repro")
    ran = log_lines(log)
    assert sorted(ran) == sorted([
        "prepare tanker", "prepare ferry",
        "train tanker-1", "train tanker-2", "train ferry-1", "train ferry-2",
        "report"]), ran
    assert ran.index("report") == len(ran) - 1
    lock = (repo / "dvc.lock").read_text()
    for name in ("prepare@tanker", "train@ferry-2", "report"):
        assert f"  {name}:\n" in lock, lock
    dvc_up_to_date(repo)

    # Nothing changed: nothing runs.
    out = sx(repo, "repro").stdout
    assert len(log_lines(log)) == 7 and "up to date" in out, out

    # A param only the ferry stages read: the two ferry trainings run again; report does not,
    # since the trained files did not change (the command does not print the param).
    (repo / "params.yaml").write_text(
        "vessels: [tanker, ferry]\nscale:\n  tanker: 2\n  ferry: 4\ntitle: fleet\n")
    sx(repo, "repro")
    assert sorted(log_lines(log)[7:]) == ["train ferry-1", "train ferry-2"]
    dvc_up_to_date(repo)

    # A param only report reads.
    (repo / "params.yaml").write_text(
        "vessels: [tanker, ferry]\nscale:\n  tanker: 2\n  ferry: 4\ntitle: ships\n")
    st = sx(repo, "data", "status", "--json").stdout
    assert json.loads(st) == json.loads(dvc(repo, "status", "--json").stdout), st
    sx(repo, "repro")
    assert log_lines(log)[9:] == ["report"]
    assert (repo / "report.txt").read_text().startswith("ships\n")
    dvc_up_to_date(repo)

    # A dependency of one prepare stage: it, its two trainings and report run.
    (repo / "raw" / "tanker.csv").write_text("t,9\n")
    sx(repo, "repro")
    assert sorted(log_lines(log)[10:]) == sorted(
        ["prepare tanker", "train tanker-1", "train tanker-2", "report"])
    dvc_up_to_date(repo)


def simple_pipeline(root, log, extra=""):
    write(root, {
        "params.yaml": "n: 1\n",
        "data.txt": "hello\n",
        "dvc.yaml": f"""stages:
  a:
    cmd: echo a >> {log} && cat data.txt > a.txt
    deps: [data.txt]
    outs: [a.txt]
  b:
    cmd: echo b >> {log} && echo ${{n}} | cat - a.txt > b.txt
    deps: [a.txt]
    params: [n]
    outs: [b.txt]
{extra}""",
    })


def test_lock_written_by_sextant_and_by_dvc_are_identical(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        git(d, "init", "-q")
        dvc(d, "init", "-q")
        simple_pipeline(d, tmp_path / f"{d.name}.log")
        # The same command text in both (the log paths differ otherwise).
        text = (d / "dvc.yaml").read_text().replace(str(tmp_path / f"{d.name}.log"), "../ran.log")
        (d / "dvc.yaml").write_text(text)
    dvc(a, "repro")
    sx(b, "repro")
    assert (b / "dvc.lock").read_text() == (a / "dvc.lock").read_text()
    assert (b / ".gitignore").read_text() == (a / ".gitignore").read_text()
    # Each tool accepts the other's lock: nothing to do.
    out = sx(a, "repro").stdout
    assert "up to date" in out, out
    dvc_up_to_date(b)


def test_parallel_stages_overlap(repo, tmp_path):
    write(repo, {
        "in.txt": "x\n",
        "dvc.yaml": """stages:
  left:
    cmd: (date +%s.%N; sleep 2; date +%s.%N) > left.txt
    deps: [in.txt]
    outs: [left.txt]
  right:
    cmd: (date +%s.%N; sleep 2; date +%s.%N) > right.txt
    deps: [in.txt]
    outs: [right.txt]
  join:
    cmd: cat left.txt right.txt > join.txt
    deps: [left.txt, right.txt]
    outs: [join.txt]
""",
    })
    sx(repo, "repro", "-j", "2")
    l0, l1 = map(float, (repo / "left.txt").read_text().split())
    r0, r1 = map(float, (repo / "right.txt").read_text().split())
    assert l0 < r1 and r0 < l1, (l0, l1, r0, r1)  # the two intervals overlap
    assert (repo / "join.txt").read_text() == (repo / "left.txt").read_text() + (repo / "right.txt").read_text()
    dvc_up_to_date(repo)


def test_sigkill_midway_resumes_without_rerunning_finished_stages(repo, tmp_path):
    log = tmp_path / "ran.log"
    write(repo, {
        "in.txt": "x\n",
        "dvc.yaml": f"""stages:
  s1:
    cmd: echo s1 >> {log} && cp in.txt s1.txt
    deps: [in.txt]
    outs: [s1.txt]
  s2:
    cmd: echo s2 >> {log} && cp s1.txt s2.txt
    deps: [s1.txt]
    outs: [s2.txt]
  s3:
    cmd: echo s3 >> {log} && sleep $((SLOW+0)) && cp s2.txt s3.txt
    deps: [s2.txt]
    outs: [s3.txt]
  s4:
    cmd: echo s4 >> {log} && cp s3.txt s4.txt
    deps: [s3.txt]
    outs: [s4.txt]
""",
    })
    # The slow stage really slow, killed (with its commands) while it runs.
    proc = popen_sextant(["repro"], repo, env=dict(ENV, SLOW="60"))
    deadline = time.time() + 60
    while "s3" not in log_lines(log) and time.time() < deadline:
        time.sleep(0.05)
    assert "s3" in log_lines(log), log_lines(log)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = log_lines(log)
    assert before.count("s1") == 1 and before.count("s2") == 1 and "s4" not in before, before
    lock = (repo / "dvc.lock").read_text()
    assert "  s2:\n" in lock and "  s3:\n" not in lock, lock
    sx(repo, "repro", env=dict(ENV, SLOW="0"))
    after = log_lines(log)[len(before):]
    assert after == ["s3", "s4"], after
    dvc_up_to_date(repo)


def test_fresh_clone_with_pull_restores_instead_of_running(repo, tmp_path):
    log = tmp_path / "ran.log"
    simple_pipeline(repo, log)
    storage = tmp_path / "storage"
    sx(repo, "data", "remote", "add", "storage", str(storage), "--default")
    # n=1 runs and is pushed, then n=2 runs and is pushed and committed.
    sx(repo, "repro", "--push")
    b_of_n1 = (repo / "b.txt").read_text()
    (repo / "params.yaml").write_text("n: 2\n")
    sx(repo, "repro", "--push")
    assert log_lines(log) == ["a", "b", "b"]
    assert (storage / "runs").is_dir()
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pipeline")

    fresh = clone(repo, tmp_path / "fresh")
    assert not (fresh / "b.txt").exists()
    out = sx(fresh, "repro", "--pull").stdout
    assert log_lines(log) == ["a", "b", "b"], out  # nothing ran
    assert "checking out outputs" in out, out
    assert (fresh / "b.txt").read_text() == (repo / "b.txt").read_text()
    dvc_up_to_date(fresh)

    # Back to n=1, which ran on the other machine: restored from the pulled run cache.
    (fresh / "params.yaml").write_text("n: 1\n")
    out = sx(fresh, "repro", "--pull", "--json").stdout
    report = {s["stage"]: s for s in json.loads(out)["stages"]}
    assert report["b"]["action"] == "restored" and report["b"]["restored_from"] == "run-cache", out
    assert report["a"]["action"] == "skipped", out
    assert log_lines(log) == ["a", "b", "b"]
    assert (fresh / "b.txt").read_text() == b_of_n1
    dvc_up_to_date(fresh)


def test_dvc_restores_from_a_run_cache_sextant_wrote(repo, tmp_path):
    log = tmp_path / "ran.log"
    simple_pipeline(repo, log)
    sx(repo, "repro")
    (repo / "params.yaml").write_text("n: 2\n")
    sx(repo, "repro")
    assert log_lines(log) == ["a", "b", "b"]
    (repo / "params.yaml").write_text("n: 1\n")
    out = dvc(repo, "repro").stdout
    assert "is cached - skipping run" in out, out
    assert log_lines(log) == ["a", "b", "b"]  # dvc found sextant's entry: nothing ran
    dvc_up_to_date(repo)


def test_sextant_restores_from_a_run_cache_dvc_wrote(repo, tmp_path):
    log = tmp_path / "ran.log"
    simple_pipeline(repo, log)
    dvc(repo, "repro")
    (repo / "params.yaml").write_text("n: 2\n")
    dvc(repo, "repro")
    (repo / "params.yaml").write_text("n: 1\n")
    out = sx(repo, "repro").stdout
    assert "is cached" in out, out
    assert log_lines(log) == ["a", "b", "b"]
    dvc_up_to_date(repo)


def test_dry_force_and_single_item(repo, tmp_path):
    log = tmp_path / "ran.log"
    simple_pipeline(repo, log)
    out = sx(repo, "repro", "--dry").stdout
    assert "Would run stage 'a'" in out and "Would run stage 'b'" in out, out
    assert not log.exists() and not (repo / "dvc.lock").exists()
    sx(repo, "repro")
    (repo / "data.txt").write_text("changed\n")
    out = sx(repo, "repro", "--dry", "--json").stdout
    stages = {s["stage"]: s for s in json.loads(out)["stages"]}
    assert stages["a"]["action"] == "would-run"
    assert "dependency data.txt modified" in stages["a"]["reasons"]
    assert any("upstream stage 'a'" in r for r in stages["b"]["reasons"])
    sx(repo, "repro", "-s", "a")
    assert log_lines(log) == ["a", "b", "a"]
    sx(repo, "repro", "--force", "-s", "b")
    assert log_lines(log) == ["a", "b", "a", "b"]
    dvc_up_to_date(repo)


def test_dag_text_json_and_dot(repo, tmp_path):
    simple_pipeline(repo, tmp_path / "ran.log")
    text = sx(repo, "dag").stdout
    assert text.splitlines()[0] == "a" and "b  <- a (a.txt)" in text, text
    v = json.loads(sx(repo, "dag", "--json").stdout)
    assert [n["name"] for n in v["nodes"]] == ["a", "b"]
    assert v["edges"] == [{"from": "a", "to": "b", "paths": ["a.txt"]}]
    dot = sx(repo, "dag", "--dot").stdout
    assert '"a" -> "b";' in dot and dot.startswith("strict digraph {")


def test_two_concurrent_repros_share_the_work(repo, tmp_path):
    log = tmp_path / "ran.log"
    stages = "".join(
        f"  s{i}:\n    cmd: echo s{i} >> {log} && sleep 1 && cp in.txt o{i}.txt\n"
        f"    deps: [in.txt]\n    outs: [o{i}.txt]\n" for i in range(4))
    write(repo, {"in.txt": "x\n", "dvc.yaml": "stages:\n" + stages})
    procs = [popen_sextant(["repro", "-j", "2"], repo) for _ in range(2)]
    for p in procs:
        assert p.wait(timeout=120) == 0
    assert sorted(log_lines(log)) == ["s0", "s1", "s2", "s3"]  # each ran once, in one of them
    from conftest import run
    assert sorted(run(["git", "ls-files", "-o", "--exclude-standard"], repo).stdout.split()) == [
        ".gitignore", "dvc.lock", "dvc.yaml", "in.txt"]  # no temporary files left
    assert sorted((repo / ".gitignore").read_text().split()) == [f"/o{i}.txt" for i in range(4)]
    dvc_up_to_date(repo)


def test_pull_fetches_data_dependencies_tracked_by_dvc_files(repo, tmp_path):
    log = tmp_path / "ran.log"
    write(repo, {"data.txt": "hello\n"})
    storage = tmp_path / "storage"
    sx(repo, "data", "remote", "add", "storage", str(storage), "--default")
    sx(repo, "data", "add", "data.txt")
    sx(repo, "data", "push")
    write(repo, {"dvc.yaml": f"stages:\n  a:\n    cmd: echo a >> {log} && cat data.txt data.txt > a.txt\n"
                             "    deps: [data.txt]\n    outs: [a.txt]\n"})
    sx(repo, "repro", "--push")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data and pipeline")
    fresh = clone(repo, tmp_path / "fresh")
    p = sx(fresh, "repro", check=False)
    assert p.returncode == 2 and "dependency 'data.txt' of stage 'a' does not exist" in p.stderr
    assert "sextant repro --pull" in p.stderr, p.stderr
    sx(fresh, "repro", "--pull")
    assert (fresh / "data.txt").read_text() == "hello\n"
    assert (fresh / "a.txt").read_text() == "hello\nhello\n"
    assert log_lines(log) == ["a"]
    dvc_up_to_date(fresh)


def test_foreach_matrix_lock_identical_to_dvcs_and_read_back(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        git(d, "init", "-q")
        dvc(d, "init", "-q")
        foreach_matrix_pipeline(d, "../ran.log")
        # models/ is a dependency of report: its .gitignore (written as trainings finish) must
        # not depend on which parallel stage finished first.
        write(d, {"models/.gitignore": "".join(
            f"/{v}-{lr}.txt\n" for v in ("tanker", "ferry") for lr in (1, 2))})
    dvc(a, "repro")
    sx(b, "repro", "-j", "3")  # parallel: entries still in the order a sequential run writes
    assert (b / "dvc.lock").read_text() == (a / "dvc.lock").read_text()
    # dvc's lock read by sextant: nothing to do; and the other way round.
    out = sx(a, "repro").stdout
    assert "Running stage" not in out and "up to date" in out, out
    dvc_up_to_date(b)


def test_run_cache_travels_through_an_s3_remote(repo, tmp_path, s3_bucket):
    client, bucket = s3_bucket
    log = tmp_path / "ran.log"
    simple_pipeline(repo, log)
    sx(repo, "data", "remote", "add", "store", f"s3://{bucket}/dvcstore", "--default")
    sx(repo, "data", "remote", "modify", "store", "endpointurl", ENV["AWS_ENDPOINT_URL"])
    sx(repo, "repro", "--push")
    b_of_n1 = (repo / "b.txt").read_text()
    (repo / "params.yaml").write_text("n: 2\n")
    sx(repo, "repro", "--push")
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="dvcstore/runs/")["Contents"]]
    assert len(keys) == 3, keys  # a once, b twice
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pipeline")
    fresh = clone(repo, tmp_path / "fresh")
    (fresh / "params.yaml").write_text("n: 1\n")
    out = json.loads(sx(fresh, "repro", "--pull", "--json").stdout)
    actions = {s["stage"]: (s["action"], s.get("restored_from")) for s in out["stages"]}
    assert actions == {"a": ("restored", "dvc.lock"), "b": ("restored", "run-cache")}, actions
    assert log_lines(log) == ["a", "b", "b"]
    assert (fresh / "b.txt").read_text() == b_of_n1
    dvc_up_to_date(fresh)


def test_data_gc_keeps_the_outputs_dvc_lock_records(repo, tmp_path):
    simple_pipeline(repo, tmp_path / "ran.log")
    sx(repo, "repro")
    (repo / "params.yaml").write_text("n: 2\n")
    sx(repo, "repro")
    out = sx(repo, "data", "gc", "--force").stdout
    assert "Removed 1 unused object(s)" in out, out  # b.txt of n=1; a.txt and b.txt of n=2 stay
    dvc_up_to_date(repo)
    assert "Nothing to remove" in sx(repo, "data", "gc").stdout


def test_data_push_and_pull_move_lock_outputs_both_ways_with_dvc(repo, tmp_path):
    simple_pipeline(repo, tmp_path / "ran.log")
    storage = tmp_path / "storage"
    sx(repo, "data", "remote", "add", "storage", str(storage), "--default")
    sx(repo, "repro")
    sx(repo, "data", "push")  # the outputs dvc.lock records, as `dvc push` sends them
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pipeline")
    for tool, name in ((sx, "with-sextant"), (dvc, "with-dvc")):
        fresh = clone(repo, tmp_path / name)
        if tool is sx:
            out = sx(fresh, "data", "pull").stdout
            assert "a.txt: checked out (dvc.lock)" in out, out
            (fresh / "a.txt").unlink()
            out = sx(fresh, "data", "checkout").stdout
            assert "a.txt: checked out (dvc.lock)" in out, out
        else:
            dvc(fresh, "pull")
        assert (fresh / "b.txt").read_text() == (repo / "b.txt").read_text()
        dvc_up_to_date(fresh)
    # And what dvc pushed, sextant pulls.
    other = tmp_path / "storage2"
    dvc(repo, "remote", "add", "-f", "-d", "storage", str(other))
    dvc(repo, "push")
    git(repo, "commit", "-qam", "other remote")
    fresh = clone(repo, tmp_path / "from-dvc")
    sx(fresh, "data", "pull")
    assert (fresh / "a.txt").read_text() == (repo / "a.txt").read_text()
    dvc_up_to_date(fresh)


def test_keep_going_runs_what_does_not_depend_on_a_failed_stage(repo):
    write(repo, {"dvc.yaml": (
        "stages:\n"
        "  a:\n    cmd: echo a > a.txt\n    outs: [a.txt]\n"
        "  bad:\n    cmd: exit 3\n    deps: [a.txt]\n    outs: [bad.txt]\n"
        "  after:\n    cmd: cp bad.txt after.txt\n    deps: [bad.txt]\n    outs: [after.txt]\n"
        "  other:\n    cmd: cp a.txt other.txt\n    deps: [a.txt]\n    outs: [other.txt]\n")})
    proc = sx(repo, "repro", "--json", check=False)
    assert proc.returncode == 1, proc.stderr
    actions = {s["stage"]: s["action"] for s in json.loads(proc.stdout)["stages"]}
    assert actions == {"a": "ran", "bad": "failed", "after": "not-run", "other": "not-run"}
    proc = sx(repo, "repro", "--keep-going", "--json", check=False)
    assert proc.returncode == 1, proc.stderr
    actions = {s["stage"]: s["action"] for s in json.loads(proc.stdout)["stages"]}
    assert actions == {"a": "skipped", "bad": "failed", "after": "not-run", "other": "ran"}
    assert (repo / "other.txt").read_text() == "a\n"
    assert not (repo / "after.txt").exists()
