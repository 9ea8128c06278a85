"""docs/pipelines.md's worked example, run exactly as written."""

import os
import re
import subprocess

from conftest import ENV, ROOT, SEXTANT, VENV_BIN


def doc_block(path, marker):
    text = open(os.path.join(ROOT, path)).read()
    m = re.search(rf"<!-- {marker}:start -->\s*```sh\n(.*?)```\s*<!-- {marker}:end -->", text, re.S)
    assert m, f"{path} has no {marker} block"
    return m.group(1)


def test_pipelines_md_example(tmp_path):
    script = doc_block("docs/pipelines.md", "pipelines-example")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "sextant").symlink_to(SEXTANT)
    env = dict(ENV, PATH=f"{bindir}:{VENV_BIN}:{os.environ['PATH']}")
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env, cwd=work,
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    # dag, then six stages, then the four train stages again; nothing in the fresh clone.
    assert "train@ferry-4  <- features@ferry (features/ferry.txt)" in out, out
    ran = re.findall(r"Running stage '([^']+)'", out)
    assert sorted(ran[:6]) == sorted(["features@tanker", "features@ferry", "train@tanker-2",
                                      "train@tanker-4", "train@ferry-2", "train@ferry-4"]), ran
    assert sorted(ran[6:]) == sorted(["train@tanker-2", "train@tanker-4", "train@ferry-2",
                                      "train@ferry-4"]), ran
    assert "modified:" in out and "train.lr" in out, out  # data status named the param
    assert out.count("Would run stage 'train@") == 4 and "Would run stage 'features" not in out
    assert proc.stdout.rstrip().endswith("Data and pipelines are up to date."), out  # dvc, in the clone
    for name in ("tanker-2", "ferry-4"):
        built = (work / "demo" / "models" / f"{name}.txt").read_text()
        assert (work / "fresh" / "models" / f"{name}.txt").read_text() == built
        assert " 0.2\n" in built
    assert (work / "storage" / "runs").is_dir()
