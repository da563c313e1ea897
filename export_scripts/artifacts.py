"""Save a module as TorchScript or ONNX and check the saved file against the eager module."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.jit._trace import TracerWarning

from export_scripts.backtest import predict
from export_scripts.errors import ExportMismatch
from hybrid_core.processing import FloatArray
from hybrid_core.version_params import INPUT_NAME, OUTPUT_NAME

TOLERANCE = 1e-5
"""Largest |exported - eager| accepted on held-out windows."""
ONNX_OPSET = 17
"""Well inside what onnxruntime 1.32 (and Triton's onnxruntime backend) runs."""
TORCHSCRIPT_FILE = "model.pt"
ONNX_FILE = "model.onnx"


def save_torchscript(model: nn.Module, path: Path) -> None:
    """Script ``model`` (control flow kept, any batch and window length) and save it."""
    scripted = torch.jit.script(model)
    torch.jit.save(scripted, str(path))


def save_onnx(model: nn.Module, path: Path, window: int) -> None:
    """Export ``model`` to one ONNX file with dynamic batch and time axes.

    Uses the TorchScript-based exporter: the torch.export one specialises the LSTM's
    time axis to the example's length and writes weights to a side file.
    """
    example = torch.zeros(1, window)
    with warnings.catch_warnings():
        # The tracer warns that the LSTM's shape checks become constants, and that LSTMs with a
        # dynamic batch may break at other batch sizes: the checks run batches of n and of 1.
        warnings.simplefilter("ignore", TracerWarning)
        warnings.filterwarnings("ignore", "Exporting a model to ONNX with a batch_size", UserWarning)
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch", 1: "time"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )


def check_torchscript(
    path: Path, model: nn.Module, inputs: FloatArray, tolerance: float = TOLERANCE
) -> float:
    """Max |diff| of the saved TorchScript vs ``model``; raises ExportMismatch above ``tolerance``."""
    loaded = torch.jit.load(str(path))  # type: ignore[no-untyped-call]  # torch.jit is not annotated
    loaded.eval()
    return _compare(path, model, inputs, lambda batch: predict(loaded, batch), tolerance)


def check_onnx(path: Path, model: nn.Module, inputs: FloatArray, tolerance: float = TOLERANCE) -> float:
    """Max |diff| of the saved ONNX (run by onnxruntime) vs ``model``; raises ExportMismatch above it."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def run(batch: FloatArray) -> FloatArray:
        outputs: FloatArray = session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0]
        return outputs

    return _compare(path, model, inputs, run, tolerance)


def _compare(
    path: Path,
    model: nn.Module,
    inputs: FloatArray,
    run: Callable[[FloatArray], FloatArray],
    tolerance: float,
) -> float:
    # All windows in one batch, then a batch of one: the batch axis must really be dynamic.
    worst = 0.0
    for batch in (inputs, inputs[:1]):
        produced = run(batch)
        expected = predict(model, batch)
        if produced.shape != expected.shape:
            raise ExportMismatch(path, float("inf"), tolerance, len(batch))
        worst = max(worst, float(np.max(np.abs(produced - expected))))
    if not worst <= tolerance:
        raise ExportMismatch(path, worst, tolerance, len(inputs))
    return worst


def load_runner(path: Path, fmt: str) -> Callable[[FloatArray], FloatArray]:
    """The saved artifact as a function of a normalized batch (TorchScript in torch, ONNX in onnxruntime)."""
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

        def run_onnx(batch: FloatArray) -> FloatArray:
            outputs: FloatArray = session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0]
            return outputs

        return run_onnx
    loaded = torch.jit.load(str(path))  # type: ignore[no-untyped-call]  # torch.jit is not annotated
    loaded.eval()
    return lambda batch: predict(loaded, batch)
