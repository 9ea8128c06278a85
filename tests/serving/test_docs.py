"""docs/serving.md's worked example, run as written (against the suite's tracking server)."""

import json
import os
import re
import subprocess
import sys
import uuid

from conftest import ROOT, binary, free_port


def doc_block(marker):
    text = open(os.path.join(ROOT, "docs", "serving.md")).read()
    m = re.search(rf"<!-- {marker}:start -->\s*```sh\n(.*?)```\s*<!-- {marker}:end -->", text, re.S)
    assert m, f"docs/serving.md has no {marker} block"
    return m.group(1)


def test_worked_example(tracking, tmp_path):
    name = "vessel-tanker-" + uuid.uuid4().hex[:8]
    port = str(free_port())
    script = (doc_block("serving-example")
              .replace("http://127.0.0.1:5000", tracking)
              .replace("vessel-tanker", name)
              .replace("5001", port))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "sextant").symlink_to(binary())
    venv_bin = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=f"{bindir}:{venv_bin}:{os.environ['PATH']}",
               VIRTUAL_ENV=os.path.dirname(venv_bin))
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    answers = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    preds = [a for a in answers if "predictions" in a]
    health = [a for a in answers if "models" in a]
    assert preds and health, out
    # fuel = 0.02*length + 0.5*draught + 0.3*speed exactly: 3.6 + 5.75 + 3.6 = 12.95
    got = preds[0]["predictions"]
    while isinstance(got, list):
        got = got[0]
    assert abs(got - 12.95) < 1e-2, preds
    (h,) = health[0]["models"]
    assert h["ready"] and h["version"] == "1" and h["engine"] == "ort", h
