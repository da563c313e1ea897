"""Eager (non-Triton) forecasts of a repository version, for comparing against the served path."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hybrid_core.forecast_spec import ForecastSpec
from hybrid_core.forecasting import forecast
from hybrid_core.processing import Forecast
from hybrid_core.version_params import VersionParams, load_version_params
from triton_client.codec import InferenceOutput


@cache
def _torchscript(path: Path) -> Any:
    import torch

    return torch.jit.load(str(path)).eval()  # type: ignore[no-untyped-call]


@cache
def _onnx(path: Path) -> Any:
    import onnxruntime

    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def eager_outputs(
    repository: Path, params: VersionParams, inputs: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Run the version's model file in-process on normalized ``inputs``."""
    path = repository / params.model / params.version / params.artifact.file
    if params.artifact.format == "onnx":
        session = _onnx(path)
        return np.asarray(session.run(None, {session.get_inputs()[0].name: inputs})[0])
    import torch

    with torch.inference_mode():
        result: npt.NDArray[np.float32] = _torchscript(path)(torch.from_numpy(inputs)).numpy()
        return result


def eager_forecast(
    repository: Path,
    model: str,
    version: str,
    series: Sequence[Sequence[float | None]],
    horizon: int | None = None,
    spec: ForecastSpec | None = None,
) -> list[Forecast]:
    """What the version gives for ``series`` after the platform's own pre/post-processing
    (recursive rounds included, when ``spec`` asks past the model's horizon)."""
    params = load_version_params(repository, model, version)
    if spec is None:
        spec = ForecastSpec(horizon=params.horizon if horizon is None else horizon)

    def infer(batch: npt.NDArray[np.float32]) -> InferenceOutput:
        return InferenceOutput(outputs=eager_outputs(repository, params, batch), model_version=params.version)

    return forecast(series, params, infer, spec, batch_size=max(1, len(series))).forecasts
