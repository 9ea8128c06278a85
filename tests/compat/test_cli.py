"""`sextant server` takes `mlflow server`'s command line."""

import uuid

from mlflow import MlflowClient

from conftest import Server, new_workdir


def test_mlflow_server_command_line(tmp_path):
    """The flags a deployment of `mlflow server` passes: -h/-p, --serve-artifacts,
    --default-artifact-root mlflow-artifacts:/ next to --artifacts-destination."""
    srv = Server(
        new_workdir("sextant-cli-"),
        short_flags=True,
        extra_args=["--serve-artifacts", "--default-artifact-root", "mlflow-artifacts:/"],
    )
    srv.start()
    try:
        c = MlflowClient(srv.url)
        eid = c.create_experiment("cli-" + uuid.uuid4().hex[:8])
        assert c.get_experiment(eid).artifact_location == f"mlflow-artifacts:/{eid}"
        rid = c.create_run(eid).info.run_id
        f = tmp_path / "a.txt"
        f.write_text("cli")
        c.log_artifact(rid, str(f))
        out = c.download_artifacts(rid, "a.txt", str(tmp_path / "out"))
        assert open(out).read() == "cli"
    finally:
        srv.cleanup()
