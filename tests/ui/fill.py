"""Fill a running Sextant server with what the browser tests look at, through the real mlflow
client: experiments, runs with params/metrics/tags, a long metric with a spike, artifacts of
every preview kind, a dataset input, `sextant run`-style records, and a registered model whose
versions are reviewed.

    MLFLOW_TRACKING_URI=http://127.0.0.1:PORT python fill.py [--long N] [--big N]

Prints one JSON object naming what it made (ids the tests navigate to)."""

import argparse
import json
import os
import struct
import sys
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import mlflow
import requests
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient


def png(width, height):
    """A small valid PNG (a gradient), written by hand: no imaging library needed."""
    raw = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in ((x * 255) // width, (y * 255) // height, 160))
        for y in range(height)
    )

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--long", type=int, default=1_000_000, help="points of the long metric")
    ap.add_argument("--big", type=int, default=10_000, help="runs of the big experiment (0: none)")
    a = ap.parse_args()
    uri = os.environ["MLFLOW_TRACKING_URI"]
    client = MlflowClient(uri)
    mlflow.set_tracking_uri(uri)
    out = {}

    # A small experiment with varied runs
    exp_id = client.create_experiment("ui-demo")
    out["experiment_id"] = exp_id
    run_ids = []
    t0 = int(time.time() * 1000) - 3_600_000
    for i in range(12):
        r = client.create_run(exp_id, run_name=f"run-{i:02d}", start_time=t0 + i * 60_000,
                              tags={"team": "vision" if i % 2 else "nlp"})
        rid = r.info.run_id
        lr = [0.1, 0.01, 0.001][i % 3]
        params = [Param("lr", str(lr)), Param("model", ["resnet", "vit", "mlp"][i % 3]), Param("layers", str(2 + i % 4))]
        metrics = []
        for step in range(50):
            ts = t0 + i * 60_000 + step * 1000
            metrics.append(Metric("loss", 2.0 / (1 + step * lr * (i + 1)), ts, step))
            metrics.append(Metric("accuracy", 0.5 + 0.4 * (1 - 1 / (1 + step * lr * (i + 1))), ts, step))
        client.log_batch(rid, metrics=metrics, params=params, tags=[RunTag("seed", str(i))])
        client.set_terminated(rid, end_time=t0 + i * 60_000 + 50_000)
        run_ids.append(rid)
    out["run_ids"] = run_ids

    # The run with artifacts, a dataset, `sextant run` records and a long metric
    rich = run_ids[0]
    out["rich_run_id"] = rich
    with tempfile.TemporaryDirectory() as d:
        files = {
            "notes.txt": "Training notes\nline two\n",
            "config.json": json.dumps({"model": "resnet", "lr": 0.1, "layers": [64, 128]}),
            "params.yaml": "model: resnet\nlr: 0.1\nlayers:\n  - 64\n  - 128\n",
            "predictions.csv": "id,label,score\n1,cat,0.91\n2,dog,0.78\n3,\"bird, small\",0.55\n",
            "report.html": "<html><body><h1>Evaluation report</h1><p id='acc'>accuracy 0.93</p>"
                           "<script>document.body.append('script ran')</script></body></html>",
            "logs/stdout.txt": "epoch 1 loss 1.2\nepoch 2 loss 0.8\n",
            "logs/stderr.txt": "warning: deterministic mode off\n",
        }
        for rel, text in files.items():
            p = os.path.join(d, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(text)
        with open(os.path.join(d, "plot.png"), "wb") as f:
            f.write(png(160, 100))
        client.log_artifacts(rich, d)
    client.log_batch(rich, tags=[
        RunTag("sextant.command", "python train.py --lr 0.1"),
        RunTag("sextant.exit_code", "0"),
        RunTag("sextant.git.commit", "3f2a9c1d0e8b7a6f5e4d3c2b1a0f9e8d7c6b5a49"),
        RunTag("sextant.git.branch", "main"),
        RunTag("sextant.git.dirty", "false"),
        RunTag("sextant.env.python", "3.11.2"),
        RunTag("sextant.env.host", "trainer-01"),
    ])
    try:
        import numpy as np

        ds = mlflow.data.from_numpy(np.arange(12).reshape(4, 3), name="train-set", source="s3://bucket/train.npy")
        client.log_inputs(rich, datasets=[mlflow.entities.DatasetInput(ds._to_mlflow_entity(), tags=[mlflow.entities.InputTag("mlflow.data.context", "training")])])
        out["dataset"] = "train-set"
    except Exception as e:  # noqa: BLE001 - the dataset is optional; say why it is missing
        print(f"fill: dataset input skipped: {e}", file=sys.stderr)

    long_run = client.create_run(exp_id, run_name="long-run").info.run_id
    out["long_run_id"] = long_run
    out["long_points"] = a.long
    spike_at = a.long // 2 + 17
    out["spike_step"] = spike_at
    started = time.time()

    def chunk(lo):
        ms = [Metric("long", 100.0 if s == spike_at else 1.0 + (s % 100) / 1000.0, t0 + s, s) for s in range(lo, min(lo + 1000, a.long))]
        MlflowClient(uri).log_batch(long_run, metrics=ms)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(chunk, range(0, a.long, 1000)))
    client.set_terminated(long_run)
    out["long_seconds"] = round(time.time() - started, 1)

    # A registered model: version 1 to approve, version 2 left pending; @production protected
    name = "ui-model"
    client.create_registered_model(name, description="Model the browser tests review")
    for rid in run_ids[:2]:
        client.create_model_version(name, f"runs:/{rid}/model", run_id=rid)
    r = requests.put(f"{uri}/api/sextant/v1/models/{name}/protected-aliases/production", json={}, timeout=30)
    r.raise_for_status()
    client.set_registered_model_alias(name, "staging", "1")
    out["model"] = name

    # A big experiment for the speed check
    if a.big:
        big = client.create_experiment("ui-big")
        out["big_experiment_id"] = big

        def make(i):
            c = MlflowClient(uri)
            rid = c.create_run(big, run_name=f"big-{i:05d}").info.run_id
            c.log_batch(rid, metrics=[Metric("score", (i * 7919 % 10007) / 10007, t0, 0)],
                        params=[Param("i", str(i)), Param("group", str(i % 10))])

        started = time.time()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(make, range(a.big)))
        out["big_runs"] = a.big
        out["big_seconds"] = round(time.time() - started, 1)

    print(json.dumps(out))


if __name__ == "__main__":
    main()
