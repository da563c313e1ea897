"""Run artifacts in a runtime's own environment; executed there as a script, never imported there.

It may import only the standard library, numpy and the runtime (torch or onnxruntime): the
environment holds nothing else. ``python -I runner.py REQUEST OUT_DIR`` reads the request (JSON:
runtime, artifacts, the ``.npz`` of their inputs) and writes ``outputs.npz`` (per artifact, its
outputs on all windows and on the first window alone) and ``result.json`` (the runtime's version,
each artifact's load or run error).
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
SINGLE_SUFFIX = "::single"
"""Key suffix of an artifact's output on a batch of one window (the batch axis must be dynamic)."""
OUTPUTS_FILE = "outputs.npz"
RESULT_FILE = "result.json"


def _torchscript(path: str) -> Callable[[FloatArray], FloatArray]:
    import torch

    module = torch.jit.load(path).eval()  # type: ignore[no-untyped-call]  # torch.jit is not annotated

    def run(batch: FloatArray) -> FloatArray:
        with torch.inference_mode():
            return np.asarray(module(torch.from_numpy(batch)).numpy(), dtype=np.float32)

    return run


def _onnx(path: str) -> Callable[[FloatArray], FloatArray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(batch: FloatArray) -> FloatArray:
        return np.asarray(session.run(None, {name: batch})[0], dtype=np.float32)

    return run


_LOADERS = {"torch": _torchscript, "onnxruntime": _onnx}


def runtime_version(runtime: str) -> str:
    """The version of ``runtime`` (torch or onnxruntime) importable here."""
    module = importlib.import_module(runtime)
    return str(module.__version__)


def run_artifact(runtime: str, path: str, windows: FloatArray) -> dict[str, FloatArray]:
    """Outputs of the artifact at ``path`` on all ``windows`` and on the first one alone."""
    run = _LOADERS[runtime](path)
    windows = np.ascontiguousarray(windows, dtype=np.float32)
    return {"": run(windows), SINGLE_SUFFIX: run(windows[:1])}


def run_request(request_path: Path, out_dir: Path) -> None:
    """Load and run every artifact of the request; a failing one is recorded, not raised."""
    request: dict[str, Any] = json.loads(request_path.read_text())
    runtime: str = request["runtime"]
    version = runtime_version(runtime)  # a runtime that does not import fails the whole run
    inputs = np.load(request["inputs"])
    outputs: dict[str, FloatArray] = {}
    errors: dict[str, str] = {}
    for artifact in request["artifacts"]:
        key: str = artifact["key"]
        try:
            for suffix, produced in run_artifact(runtime, artifact["path"], inputs[key]).items():
                outputs[key + suffix] = produced
        except Exception as exc:  # anything the runtime raises is this artifact's verdict
            errors[key] = f"{type(exc).__name__}: {exc}"[:2000]
    np.savez(out_dir / OUTPUTS_FILE, **outputs)
    (out_dir / RESULT_FILE).write_text(json.dumps({"version": version, "errors": errors}))


if __name__ == "__main__":
    run_request(Path(sys.argv[1]), Path(sys.argv[2]))
