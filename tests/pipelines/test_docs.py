"""docs/pipelines.md's worked example, run exactly as written."""

import re

from conftest import ENV, run_doc_example


def test_pipelines_md_example(tmp_path):
    proc, out, work = run_doc_example(tmp_path, "docs/pipelines.md", "pipelines-example", env=ENV)
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
