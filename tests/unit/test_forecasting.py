"""The shared forecasting path with an in-process model in place of Triton (pure unit test)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt
import pytest

from hybrid_core.forecast_spec import ForecastSpec
from hybrid_core.forecasting import VersionMismatch, batch_slices, forecast, forecast_async
from tests.support.params import tiny_params
from triton_client.codec import InferenceOutput

PARAMS = tiny_params(version="3")


def last_step_model(batch: npt.NDArray[np.float32]) -> InferenceOutput:
    """Forecasts 'one scale unit above the last value' for every step."""
    return InferenceOutput(outputs=np.ones((batch.shape[0], 3), dtype=np.float32), model_version="3")


def test_batch_slices_cover_every_series_when_count_not_multiple() -> None:
    slices = batch_slices(10, 4)
    assert [(s.start, s.stop) for s in slices] == [(0, 4), (4, 8), (8, 10)]


def test_forecast_denormalizes_and_adds_intervals_when_batched() -> None:
    series = [[1.0, 2.0, 3.0, 4.0, float(i)] for i in range(10)]
    calls: list[int] = []

    def infer(batch: npt.NDArray[np.float32]) -> InferenceOutput:
        calls.append(batch.shape[0])
        return last_step_model(batch)

    with ThreadPoolExecutor(4) as pool:
        outcome = forecast(series, PARAMS, infer, ForecastSpec(horizon=2), batch_size=4, executor=pool)
    assert sorted(calls) == [2, 4, 4]
    assert outcome.version == "3"
    for index, item in enumerate(outcome.forecasts):
        assert item.mean == [index + 2.0, index + 2.0]
        assert item.lower == [index + 0.0, index + 0.0]
        assert item.upper == [index + 4.0, index + 5.0]
    assert {"preprocess_s", "infer_s", "postprocess_s", "total_s"} <= outcome.timings_s.keys()


def test_forecast_async_matches_sync_when_same_inputs() -> None:
    series: list[list[float | None]] = [[5.0, None, 7.0, 8.0, 9.0], [1.0, 1.0, 1.0, 1.0, 1.0]]

    async def infer(batch: npt.NDArray[np.float32]) -> InferenceOutput:
        return last_step_model(batch)

    asynchronous = asyncio.run(forecast_async(series, PARAMS, infer, ForecastSpec(horizon=3), batch_size=1))
    synchronous = forecast(series, PARAMS, last_step_model, ForecastSpec(horizon=3))
    assert asynchronous.forecasts == synchronous.forecasts


def test_forecast_raises_when_triton_answers_other_version() -> None:
    def wrong_version(batch: npt.NDArray[np.float32]) -> InferenceOutput:
        return InferenceOutput(outputs=np.zeros((batch.shape[0], 3), dtype=np.float32), model_version="1")

    with pytest.raises(VersionMismatch):
        forecast([[1.0, 2.0, 3.0, 4.0]], PARAMS, wrong_version, ForecastSpec(horizon=3))
