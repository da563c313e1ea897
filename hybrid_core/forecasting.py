"""One forecasting implementation for both transports (Celery worker and the API's sync path).

preprocess (pure) -> Triton in batches of ``batch_size`` series, all in flight at once
so Triton's dynamic batcher can merge them -> postprocess (pure). A horizon past the model's
own is rolled out recursively: each round appends the last round's mean to the windows and
sends every series again, one set of batched calls per round. The sync variant
uses a thread pool over the thread-safe ``TritonClient``; the async one uses
``asyncio.gather`` over the aio client.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cached_property
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from hybrid_core.errors import HybridError, InvalidInput
from hybrid_core.forecast_spec import ForecastSpec
from hybrid_core.processing import (
    Forecast,
    ForecastParts,
    PreparedBatch,
    band_parts,
    denormalize,
    forecasts_of,
    next_windows,
    normalize_windows,
    preprocess,
)
from hybrid_core.series_codec import SeriesValues
from hybrid_core.tracing import carry_context, span
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
    """Forecasts of every series plus where the time went (seconds per stage).

    ``parts`` holds them as one array; ``forecasts`` (one object per series, with ids and
    timestamps) is built from it on first use only: a bulk job's forecasts are stored packed and
    served as arrays, so its worker never builds 10,000 of them. ``direct_steps`` is the model's
    own horizon when the forecast went past it (the later steps were fed back recursively).
    """

    parts: ForecastParts
    spec: ForecastSpec
    version: str
    timings_s: dict[str, float]
    direct_steps: int | None = None

    @cached_property
    def forecasts(self) -> list[Forecast]:
        """One :class:`Forecast` per series."""
        return forecasts_of(self.parts, self.spec)

    def forecast_dicts(self) -> ForecastDicts:
        """The forecasts' JSON shapes, built on first use (``len`` builds nothing)."""
        return ForecastDicts(self)


class ForecastDicts(Sequence[dict[str, Any]]):
    """An outcome's forecasts as JSON shapes, built when first read; counting them builds nothing."""

    def __init__(self, outcome: ForecastOutcome) -> None:
        self._outcome = outcome
        self._built: list[dict[str, Any]] | None = None

    def __len__(self) -> int:
        return int(self._outcome.parts.values.shape[0])

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if self._built is None:
            self._built = [forecast.as_dict() for forecast in self._outcome.forecasts]
        return self._built[index]


@dataclass(frozen=True)
class MeanPaths:
    """The mean forecast ``[n, horizon]`` (caller's units) of every series, before any band."""

    means: npt.NDArray[np.float64]
    version: str
    timings_s: dict[str, float]

    def part(self, start: int, stop: int) -> MeanPaths:
        """The paths of series ``start`` to ``stop``."""
        return MeanPaths(self.means[start:stop], self.version, self.timings_s)


def batch_slices(count: int, batch_size: int) -> list[slice]:
    """Split ``count`` series into consecutive slices of at most ``batch_size``."""
    return [slice(start, min(start + batch_size, count)) for start in range(0, count, batch_size)]


def rounds_for(horizon: int, params: VersionParams) -> int:
    """Triton rounds a ``horizon``-step forecast takes: one per model horizon started.

    The API refuses horizons past ``params.max_horizon``; the exporter rolls out further to
    measure the residuals that set that maximum.
    """
    if horizon < 1:
        raise InvalidInput("horizon must be at least 1", field="horizon")
    return -(-horizon // params.horizon)


def _check_versions(answers: Sequence[InferenceOutput], version: str) -> npt.NDArray[np.float32]:
    for answer in answers:
        if answer.model_version != version:
            raise VersionMismatch(f"Triton answered with version {answer.model_version}, expected {version}")
    outputs: npt.NDArray[np.float32] = np.concatenate([a.outputs for a in answers], axis=0)
    return outputs


def _round_mean(
    prepared: PreparedBatch, outputs: npt.NDArray[np.float32], params: VersionParams
) -> npt.NDArray[np.float64]:
    if outputs.shape != (prepared.centers.shape[0], params.horizon):
        raise ValueError(
            f"model output shape {outputs.shape} != ({prepared.centers.shape[0]}, {params.horizon})"
        )
    return denormalize(outputs, prepared.centers, params)


class _RollOut:
    """The recursive rounds of one roll-out, whichever way its Triton calls are made.

    A driver loops while ``pending``: it sends ``inputs()`` (the round's batches) to Triton and hands
    the answers, in batch order, to ``take``; ``result()`` then gives the paths. ``traced`` puts the
    preprocessing in a ``preprocess`` span, as the worker's path always has (the API's never did).
    """

    def __init__(
        self,
        series: Sequence[SeriesValues],
        params: VersionParams,
        *,
        horizon: int,
        batch_size: int,
        traced: bool,
    ) -> None:
        self._params = params
        self._horizon = horizon
        self._rounds = rounds_for(horizon, params)
        started = time.perf_counter()
        with span("preprocess", series=len(series)) if traced else nullcontext():
            self._prepared = preprocess(series, params)
        self._timings = {"preprocess_s": time.perf_counter() - started}
        self._slices = batch_slices(len(series), batch_size)
        self._means: list[npt.NDArray[np.float64]] = []
        self._infer_started = time.perf_counter()

    @property
    def pending(self) -> bool:
        """Whether a round is still to be sent."""
        return len(self._means) < self._rounds

    def inputs(self) -> list[npt.NDArray[np.float32]]:
        """The current round's Triton inputs, one array per batch."""
        return [self._prepared.inputs[s] for s in self._slices]

    def take(self, answers: Sequence[InferenceOutput]) -> None:
        """Record the current round's answers and feed its mean back into the windows."""
        mean = _round_mean(self._prepared, _check_versions(answers, self._params.version), self._params)
        self._means.append(mean)
        if self.pending:
            self._prepared = normalize_windows(next_windows(self._prepared.windows, mean), self._params)

    def result(self) -> MeanPaths:
        """The rolled-out means, cut to the horizon, once every round is taken."""
        timings = dict(self._timings, infer_s=time.perf_counter() - self._infer_started)
        means = np.concatenate(self._means, axis=1)[:, : self._horizon]
        return MeanPaths(means, self._params.version, timings)


def forecast_means(
    series: Sequence[SeriesValues],
    params: VersionParams,
    infer: InferFn,
    *,
    horizon: int,
    batch_size: int = 64,
    executor: Executor | None = None,
) -> MeanPaths:
    """Roll out every series' mean over ``horizon`` steps; each round is one set of batched Triton calls."""
    rollout = _RollOut(series, params, horizon=horizon, batch_size=batch_size, traced=True)
    while rollout.pending:
        batches = rollout.inputs()
        if executor is None or len(batches) == 1:
            rollout.take([infer(batch) for batch in batches])
        else:
            rollout.take(list(executor.map(carry_context(infer), batches)))
    return rollout.result()


async def forecast_means_async(
    series: Sequence[SeriesValues],
    params: VersionParams,
    infer: AsyncInferFn,
    *,
    horizon: int,
    batch_size: int = 64,
) -> MeanPaths:
    """The asyncio twin of :func:`forecast_means` (same processing, batches of a round gathered)."""
    rollout = _RollOut(series, params, horizon=horizon, batch_size=batch_size, traced=False)
    while rollout.pending:
        rollout.take(await asyncio.gather(*(infer(batch) for batch in rollout.inputs())))
    return rollout.result()


def finish(paths: MeanPaths, params: VersionParams, spec: ForecastSpec) -> ForecastOutcome:
    """Post-process rolled-out means with ``spec`` (bands, ids, timestamps) into the outcome."""
    post_started = time.perf_counter()
    parts = band_parts(paths.means, params, spec)
    timings = dict(paths.timings_s)
    timings["postprocess_s"] = time.perf_counter() - post_started
    timings["total_s"] = sum(timings[k] for k in ("preprocess_s", "infer_s", "postprocess_s"))
    direct = params.horizon if spec.horizon > params.horizon else None
    return ForecastOutcome(parts, spec, paths.version, timings, direct_steps=direct)


def forecast(
    series: Sequence[SeriesValues],
    params: VersionParams,
    infer: InferFn,
    spec: ForecastSpec,
    *,
    batch_size: int = 64,
    executor: Executor | None = None,
) -> ForecastOutcome:
    """Forecast every series with ``params``' version as ``spec`` asks; ``infer`` sends one batch."""
    paths = forecast_means(
        series, params, infer, horizon=spec.horizon, batch_size=batch_size, executor=executor
    )
    return finish(paths, params, spec)


async def forecast_async(
    series: Sequence[SeriesValues],
    params: VersionParams,
    infer: AsyncInferFn,
    spec: ForecastSpec,
    *,
    batch_size: int = 64,
) -> ForecastOutcome:
    """The asyncio twin of :func:`forecast`."""
    paths = await forecast_means_async(series, params, infer, horizon=spec.horizon, batch_size=batch_size)
    return finish(paths, params, spec)
