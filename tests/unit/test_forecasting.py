"""The shared forecasting path with an in-process model in place of Triton (pure unit test)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt
import pytest

from hybrid_core.errors import InvalidInput
from hybrid_core.forecast_spec import ForecastSpec
from hybrid_core.forecasting import (
    VersionMismatch,
    batch_slices,
    forecast,
    forecast_async,
    forecast_means,
    forecast_means_async,
)
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


def window_model(batch: npt.NDArray[np.float32]) -> InferenceOutput:
    """Reads the whole window, so a round fed back wrongly shows in the next round's forecasts."""
    outputs = batch.mean(axis=1, keepdims=True) + 0.25 * np.arange(1, 4, dtype=np.float32)
    return InferenceOutput(outputs=outputs.astype(np.float32), model_version="3")


def test_forecast_means_async_sends_the_same_rounds_as_sync_when_recursive_and_batched() -> None:
    series: list[list[float | None]] = [[float(i), 1.0, 2.0 * i, 3.0, float(i % 3)] for i in range(5)]
    sent: list[npt.NDArray[np.float32]] = []
    sent_async: list[npt.NDArray[np.float32]] = []

    def infer(batch: npt.NDArray[np.float32]) -> InferenceOutput:
        sent.append(batch.copy())
        return window_model(batch)

    async def infer_async(batch: npt.NDArray[np.float32]) -> InferenceOutput:
        sent_async.append(batch.copy())
        return window_model(batch)

    paths = forecast_means(series, PARAMS, infer, horizon=8, batch_size=2)
    gathered = asyncio.run(forecast_means_async(series, PARAMS, infer_async, horizon=8, batch_size=2))
    with ThreadPoolExecutor(3) as pool:
        pooled = forecast_means(series, PARAMS, window_model, horizon=8, batch_size=2, executor=pool)
    assert [b.shape[0] for b in sent] == [2, 2, 1] * 3  # 3 rounds (horizon 8, model horizon 3)
    assert len(sent_async) == len(sent)
    for ours, theirs in zip(sent, sent_async, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert paths.means.shape == (5, 8)
    np.testing.assert_array_equal(gathered.means, paths.means)
    np.testing.assert_array_equal(pooled.means, paths.means)
    for index, values in enumerate(series):  # batching never changes a series' forecast
        alone = forecast_means([values], PARAMS, window_model, horizon=8)
        np.testing.assert_allclose(alone.means[0], paths.means[index])
    assert paths.timings_s.keys() == gathered.timings_s.keys() == {"preprocess_s", "infer_s"}
    assert paths.version == gathered.version == "3"
    np.testing.assert_array_equal(paths.part(1, 3).means, paths.means[1:3])


def test_forecast_means_raises_before_any_call_when_horizon_below_one() -> None:
    def never(batch: npt.NDArray[np.float32]) -> InferenceOutput:
        raise AssertionError("Triton called")

    with pytest.raises(InvalidInput):
        forecast_means([[1.0, 2.0, 3.0, 4.0]], PARAMS, never, horizon=0)
