"""Eager (non-Triton) forecasts of a repository version, for comparing against the served path."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hybrid_core.processing import Forecast, postprocess, preprocess
from hybrid_core.version_params import VersionParams, load_version_params


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
) -> list[Forecast]:
    """What the version gives for ``series`` after the platform's own pre/post-processing."""
    params = load_version_params(repository, model, version)
    prepared = preprocess(series, params)
    outputs = eager_outputs(repository, params, prepared.inputs)
    return postprocess(outputs, prepared.centers, params, horizon)
