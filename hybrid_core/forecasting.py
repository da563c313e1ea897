"""One forecasting implementation for both transports (Celery worker and the API's sync path).

preprocess (pure) -> Triton in batches of ``batch_size`` series, all in flight at once
so Triton's dynamic batcher can merge them -> postprocess (pure). The sync variant
uses a thread pool over the thread-safe ``TritonClient``; the async one uses
``asyncio.gather`` over the aio client.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hybrid_core.errors import HybridError
from hybrid_core.processing import Forecast, postprocess, preprocess
from hybrid_core.series_codec import SeriesValues
from hybrid_core.tracing import span
from hybrid_core.version_params import VersionParams
from triton_client.codec import InferenceOutput

InferFn = Callable[[npt.NDArray[np.float32]], InferenceOutput]
AsyncInferFn = Callable[[npt.NDArray[np.float32]], Awaitable[InferenceOutput]]


class VersionMismatch(HybridError):
    """Triton answered from another version than the one the job was pinned to."""

    status_code = 502
    code = "version_mismatch"


@dataclass(frozen=True)
class ForecastOutcome:
    """Forecasts of every series plus where the time went (seconds per stage)."""

    forecasts: list[Forecast]
    version: str
    timings_s: dict[str, float]


def batch_slices(count: int, batch_size: int) -> list[slice]:
    """Split ``count`` series into consecutive slices of at most ``batch_size``."""
    return [slice(start, min(start + batch_size, count)) for start in range(0, count, batch_size)]


def _check_versions(answers: Sequence[InferenceOutput], version: str) -> None:
    for answer in answers:
        if answer.model_version != version:
            raise VersionMismatch(f"Triton answered with version {answer.model_version}, expected {version}")


def _finish(
    answers: Sequence[InferenceOutput],
    centers: npt.NDArray[np.float64],
    params: VersionParams,
    horizon: int | None,
    timings: dict[str, float],
    started: float,
) -> ForecastOutcome:
    _check_versions(answers, params.version)
    outputs = np.concatenate([a.outputs for a in answers], axis=0)
    post_started = time.perf_counter()
    forecasts = postprocess(outputs, centers, params, horizon)
    timings["postprocess_s"] = time.perf_counter() - post_started
    timings["total_s"] = time.perf_counter() - started
    return ForecastOutcome(forecasts=forecasts, version=params.version, timings_s=timings)


def forecast(
    series: Sequence[SeriesValues],
    params: VersionParams,
    infer: InferFn,
    *,
    horizon: int | None = None,
    batch_size: int = 64,
    executor: Executor | None = None,
) -> ForecastOutcome:
    """Forecast every series with ``params``' version; ``infer`` sends one batch to Triton."""
    started = time.perf_counter()
    with span("preprocess", series=len(series)):
        prepared = preprocess(series, params)
    timings = {"preprocess_s": time.perf_counter() - started}
    slices = batch_slices(len(series), batch_size)
    infer_started = time.perf_counter()
    if executor is None or len(slices) == 1:
        answers = [infer(prepared.inputs[s]) for s in slices]
    else:
        answers = list(executor.map(infer, [prepared.inputs[s] for s in slices]))
    timings["infer_s"] = time.perf_counter() - infer_started
    return _finish(answers, prepared.centers, params, horizon, timings, started)


async def forecast_async(
    series: Sequence[SeriesValues],
    params: VersionParams,
    infer: AsyncInferFn,
    *,
    horizon: int | None = None,
    batch_size: int = 64,
) -> ForecastOutcome:
    """The asyncio twin of :func:`forecast` (same pre/post-processing, batches gathered)."""
    started = time.perf_counter()
    prepared = preprocess(series, params)
    timings = {"preprocess_s": time.perf_counter() - started}
    infer_started = time.perf_counter()
    answers = await asyncio.gather(
        *(infer(prepared.inputs[s]) for s in batch_slices(len(series), batch_size))
    )
    timings["infer_s"] = time.perf_counter() - infer_started
    return _finish(answers, prepared.centers, params, horizon, timings, started)
