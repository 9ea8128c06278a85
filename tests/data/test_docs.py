"""docs/data.md's worked example, run exactly as written."""

from conftest import run_doc_example


def test_data_md_example(tmp_path):
    proc, out, work = run_doc_example(tmp_path, "docs/data.md", "data-example")
    assert "modified:" in out and "data/problems" in out  # status saw the edit
    assert proc.stdout.rstrip().endswith("Data and pipelines are up to date."), out  # dvc, in the clone
    for name in ("pipes.csv", "cables.csv"):
        committed = (work / "demo" / "data" / "problems" / name).read_bytes()
        assert (work / "fresh" / "data" / "problems" / name).read_bytes() == committed
    assert b"7.5" not in (work / "fresh" / "data" / "problems" / "cables.csv").read_bytes()
    assert (work / "storage" / "files" / "md5").is_dir()
