"""The FastAPI + onnxruntime peer of bench/serve.py: the prediction service a team writes by
hand around one `onnxruntime.InferenceSession`, with a pydantic request model, served by
uvicorn (with uvloop and httptools, as `pip install "uvicorn[standard]"` gives).

    SERVE_MODEL=/path/to/model.onnx SERVE_COLUMNS=f0,f1,... \\
        uvicorn serve_fastapi:app --app-dir bench --host 127.0.0.1 --port 8000 --workers 2

It answers MLflow's `dataframe_split` format on `POST /invocations` (the same body every server
of the benchmark gets) with `{"predictions": ...}`, and `GET /ping`.
"""

import os

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

MODEL_PATH = os.environ["SERVE_MODEL"]
FEATURES = [c for c in os.environ.get("SERVE_COLUMNS", "").split(",") if c]

session = ort.InferenceSession(MODEL_PATH, providers=["CPUExecutionProvider"])
INPUT = session.get_inputs()[0].name
OUTPUTS = [o.name for o in session.get_outputs()]


class DataframeSplit(BaseModel):
    columns: list[str]
    data: list[list[float]]


class ScoringRequest(BaseModel):
    dataframe_split: DataframeSplit


app = FastAPI(title="onnx model service")


@app.get("/ping")
async def ping():
    return {"status": "ok"}


@app.post("/invocations")
async def invocations(req: ScoringRequest):
    frame = req.dataframe_split
    x = np.asarray(frame.data, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != len(frame.columns):
        raise HTTPException(status_code=400, detail="data must be rows of one value per column")
    if FEATURES and frame.columns != FEATURES:
        missing = [c for c in FEATURES if c not in frame.columns]
        if missing:
            raise HTTPException(status_code=400, detail=f"missing columns: {missing}")
        x = x[:, [frame.columns.index(c) for c in FEATURES]]
    outputs = session.run(OUTPUTS, {INPUT: x})
    if len(outputs) == 1:
        return {"predictions": outputs[0].tolist()}
    return {"predictions": {name: out.tolist() for name, out in zip(OUTPUTS, outputs)}}
