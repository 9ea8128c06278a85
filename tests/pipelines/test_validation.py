"""Invalid pipelines are refused before anything runs, with a message naming the stages,
paths and expressions involved (exit code 2, nothing written)."""

import pytest

from conftest import sx, write

CASES = {
    "cycle": (
        "stages:\n  a:\n    cmd: cp b.txt a.txt\n    deps: [b.txt]\n    outs: [a.txt]\n"
        "  b:\n    cmd: cp a.txt b.txt\n    deps: [a.txt]\n    outs: [b.txt]\n",
        ["cycle", "b -> a -> b"],
    ),
    "two stages, one output": (
        "stages:\n  a:\n    cmd: echo a > o.txt\n    outs: [o.txt]\n"
        "  b:\n    cmd: echo b > o.txt\n    outs: [o.txt]\n",
        ["'o.txt'", "two stages", "'a'", "'b'"],
    ),
    "own output": (
        "stages:\n  a:\n    cmd: echo a >> o.txt\n    deps: [o.txt]\n    outs: [o.txt]\n",
        ["stage 'a' depends on its own output", "'o.txt'"],
    ),
    "missing dependency": (
        "stages:\n  a:\n    cmd: cat nope.txt > o.txt\n    deps: [nope.txt]\n    outs: [o.txt]\n",
        ["dependency 'nope.txt' of stage 'a' does not exist", "no stage has it as an output"],
    ),
    "bad reference": (
        "vars:\n  - model: {lr: 0.1}\nstages:\n  a:\n    cmd: train --lr ${model.lrx}\n    outs: [o.txt]\n",
        ["stages.a.cmd", "model.lrx", "'model' has no 'lrx'"],
    ),
    "bad syntax": (
        "stages:\n  a:\n    cmd: train --lr ${model.}\n    outs: [o.txt]\n",
        ["stages.a.cmd", "${model.}"],
    ),
    "bad reference in foreach": (
        "stages:\n  t:\n    foreach: [x, y]\n    do:\n      cmd: echo ${item} ${nope}\n      outs: [\"${item}.txt\"]\n",
        ["stages.t@x.cmd", "nope"],
    ),
    "unknown key": (
        "stages:\n  a:\n    cmd: echo\n    dep: [x]\n",
        ["stages.a", "unknown key 'dep'"],
    ),
    "unknown output flag": (
        "stages:\n  a:\n    cmd: echo > o\n    outs:\n      - o: {cahce: false}\n",
        ["stages.a.outs", "unknown flag 'cahce'"],
    ),
    "overlapping outputs": (
        "stages:\n  a:\n    cmd: mkdir -p d\n    outs: [d]\n  b:\n    cmd: echo > d/x\n    outs: [d/x]\n",
        ["overlap", "'d'", "'d/x'"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_refused_with_a_clear_message(repo, case):
    text, needles = CASES[case]
    write(repo, {"dvc.yaml": text})
    # A missing dependency is a repro error; status reports it as deleted.
    cmds = [["repro"]] if case == "missing dependency" else [["repro"], ["dag"], ["data", "status"]]
    for cmd in cmds:
        p = sx(repo, *cmd, check=False)
        assert p.returncode == 2, (cmd, p.stdout, p.stderr)
        for n in needles:
            assert n in p.stderr, (cmd, n, p.stderr)
    assert not (repo / "dvc.lock").exists()
    assert not (repo / "o.txt").exists()


def test_unknown_target_is_named(repo):
    write(repo, {"dvc.yaml": "stages:\n  a:\n    cmd: echo a > a.txt\n    outs: [a.txt]\n"})
    p = sx(repo, "repro", "trian", check=False)
    assert p.returncode == 2 and "stage 'trian' is not in dvc.yaml" in p.stderr, p.stderr


def test_failing_command_stops_and_keeps_finished_stages(repo, tmp_path):
    write(repo, {"in.txt": "x\n", "dvc.yaml": (
        "stages:\n"
        "  ok:\n    cmd: cp in.txt ok.txt\n    deps: [in.txt]\n    outs: [ok.txt]\n"
        "  bad:\n    cmd: exit 3\n    deps: [ok.txt]\n    outs: [bad.txt]\n"
        "  after:\n    cmd: cp bad.txt after.txt\n    deps: [bad.txt]\n    outs: [after.txt]\n")})
    p = sx(repo, "repro", check=False)
    assert p.returncode == 1, p.stderr
    assert "stage 'bad'" in p.stderr and "exit code 3" in p.stderr, p.stderr
    assert "not run: after" in p.stderr, p.stderr
    lock = (repo / "dvc.lock").read_text()
    assert "  ok:\n" in lock and "  bad:\n" not in lock


def test_missing_output_is_an_error(repo):
    write(repo, {"dvc.yaml": "stages:\n  a:\n    cmd: 'true'\n    outs: [never.txt]\n"})
    p = sx(repo, "repro", check=False)
    assert p.returncode == 1
    assert "output 'never.txt' does not exist after the command ran" in p.stderr, p.stderr
