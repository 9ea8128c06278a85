"""docs/data.md's worked example, run exactly as written."""

import os
import re
import subprocess

from conftest import ENV, ROOT, SEXTANT, VENV_BIN


def doc_block(path, marker):
    text = open(os.path.join(ROOT, path)).read()
    m = re.search(rf"<!-- {marker}:start -->\s*```sh\n(.*?)```\s*<!-- {marker}:end -->", text, re.S)
    assert m, f"{path} has no {marker} block"
    return m.group(1)


def test_data_md_example(tmp_path):
    script = doc_block("docs/data.md", "data-example")
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
    assert "modified:" in out and "data/problems" in out  # status saw the edit
    assert proc.stdout.rstrip().endswith("Data and pipelines are up to date."), out  # dvc, in the clone
    for name in ("pipes.csv", "cables.csv"):
        committed = (work / "demo" / "data" / "problems" / name).read_bytes()
        assert (work / "fresh" / "data" / "problems" / name).read_bytes() == committed
    assert b"7.5" not in (work / "fresh" / "data" / "problems" / "cables.csv").read_bytes()
    assert (work / "storage" / "files" / "md5").is_dir()
