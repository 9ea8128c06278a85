"""The README's worked example, run exactly as written (against the suite's server)."""

import os
import re
import subprocess
import sys
import uuid

from conftest import ROOT, sextant_only


def readme_block(marker):
    text = open(os.path.join(ROOT, "README.md")).read()
    m = re.search(rf"<!-- {marker}:start -->\s*```sh\n(.*?)```\s*<!-- {marker}:end -->", text, re.S)
    assert m, f"README.md has no {marker} block"
    return m.group(1)


@sextant_only("the example uses sextant models")
def test_review_example(server, tmp_path):
    script = readme_block("review-example")
    # Our server, not the README's default address; a fresh model name per run; `python` is the
    # suite's interpreter (with mlflow) and `sextant` the binary under test.
    name = "fraud-detector-" + uuid.uuid4().hex[:8]
    script = script.replace("http://127.0.0.1:5000", server.url).replace("fraud-detector", name)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "sextant").symlink_to(os.environ.get("SEXTANT_BIN") or os.path.join(ROOT, "target", "debug", "sextant"))
    # The venv's own bin directory (a symlink to its python would lose the venv).
    venv_bin = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=f"{bindir}:{venv_bin}:{os.environ['PATH']}")
    env.pop("MLFLOW_EXPERIMENT_ID", None)
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "refused: production only takes approved versions" in out
    assert "protected" in out  # the refusal names the rule
    assert "pending review" in out  # `models show` before the review
    assert "[1]" in out  # the model served through the alias predicts class 1 for 2.5
    log = proc.stdout[proc.stdout.rindex("TIME (UTC)"):]  # the audit log printed last
    rows = log.splitlines()[2:]

    def row_of(action, actor):
        hits = [i for i, r in enumerate(rows) if f" {action} " in f" {r} " and f" {actor} " in f" {r} "]
        assert hits, f"no {action} by {actor} in the audit log:\n{log}"
        return hits[0]

    assert row_of("protect_alias", "lead") < row_of("approve", "alice") < row_of("set_alias", "lead")
    assert "AUC 0.93 on the holdout set" in rows[row_of("approve", "alice")]
