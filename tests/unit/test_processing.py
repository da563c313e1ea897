"""Pure pre- and post-processing (hybrid_core.processing), no model and no server."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hybrid_core.errors import InvalidInput
from hybrid_core.forecast_spec import ForecastSpec
from hybrid_core.processing import denormalize, fill_missing, normalize_windows, postprocess, preprocess
from hybrid_core.version_params import Artifact, Normalization, ResidualSpread, VersionParams

HORIZON = 3


@pytest.fixture
def params() -> VersionParams:
    return VersionParams(
        model="m",
        version="1",
        kind="lstm",
        window=4,
        horizon=HORIZON,
        normalization=Normalization(scale=2.0),
        residuals=ResidualSpread(
            interval_level=0.9,
            lower_quantile=[-1.0, -2.0, -3.0],
            upper_quantile=[0.5, 1.0, 1.5],
            std=[0.5, 1.0, 1.5],
        ),
        artifact=Artifact(file="model.pt", format="torchscript", sha256="0" * 64),
    )


def test_fill_missing_interpolates_linearly_when_inner_value_is_none() -> None:
    assert fill_missing([1.0, None, None, 4.0], "s").tolist() == [1.0, 2.0, 3.0, 4.0]


def test_fill_missing_takes_nearest_observed_when_edge_is_none() -> None:
    assert fill_missing([None, 2.0, None], "s").tolist() == [2.0, 2.0, 2.0]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_fill_missing_raises_naming_field_when_value_not_finite(bad: float) -> None:
    with pytest.raises(InvalidInput) as caught:
        fill_missing([1.0, bad, 3.0], "series[7]")
    assert caught.value.field == "series[7]"
    assert "series[7]" in caught.value.message


def test_fill_missing_raises_when_nothing_observed() -> None:
    with pytest.raises(InvalidInput) as caught:
        fill_missing([None, None], "series[0]")
    assert caught.value.field == "series[0]"


def test_preprocess_crops_to_last_window_when_series_longer(params: VersionParams) -> None:
    prepared = preprocess([[100.0, 100.0, 1.0, 2.0, 3.0, 5.0]], params)
    assert prepared.inputs.dtype == np.float32
    assert prepared.centers.tolist() == [5.0]
    np.testing.assert_allclose(prepared.inputs, [[-2.0, -1.5, -1.0, 0.0]])


def test_preprocess_fills_gaps_inside_window_when_value_is_none(params: VersionParams) -> None:
    prepared = preprocess([[1.0, None, 3.0, 5.0]], params)
    np.testing.assert_allclose(prepared.inputs, [[-2.0, -1.5, -1.0, 0.0]])


def test_preprocess_raises_naming_series_when_shorter_than_window(params: VersionParams) -> None:
    with pytest.raises(InvalidInput) as caught:
        preprocess([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0]], params)
    assert caught.value.field == "series[1]"


def test_preprocess_raises_naming_series_when_nan_in_window(params: VersionParams) -> None:
    with pytest.raises(InvalidInput) as caught:
        preprocess([[1.0, 2.0, 3.0, 4.0], [1.0, math.nan, 3.0, 4.0]], params)
    assert caught.value.field == "series[1]"


def test_preprocess_raises_when_no_series(params: VersionParams) -> None:
    with pytest.raises(InvalidInput) as caught:
        preprocess([], params)
    assert caught.value.field == "series"


def test_denormalize_restores_values_when_normalized_with_same_centers(params: VersionParams) -> None:
    rng = np.random.default_rng(0)
    windows = rng.normal(300.0, 5.0, size=(5, params.window))
    future = rng.normal(300.0, 5.0, size=(5, params.horizon))
    prepared = normalize_windows(windows, params)
    normalized_future = (future - prepared.centers[:, None]) / params.normalization.scale
    np.testing.assert_allclose(denormalize(normalized_future, prepared.centers, params), future)
    np.testing.assert_allclose(
        prepared.inputs * params.normalization.scale + prepared.centers[:, None], windows, rtol=1e-6
    )


def test_postprocess_adds_scaled_quantiles_when_building_interval(params: VersionParams) -> None:
    mean = np.array([[10.0, 12.0, 14.0]])
    [forecast] = postprocess(mean, params, ForecastSpec(horizon=3))
    assert forecast.mean == [10.0, 12.0, 14.0]
    assert forecast.lower == [8.0, 8.0, 8.0]
    assert forecast.upper == [11.0, 14.0, 17.0]


def test_postprocess_gives_shorter_bands_when_horizon_shorter(params: VersionParams) -> None:
    [forecast] = postprocess(np.zeros((1, 2)), params, ForecastSpec(horizon=2))
    assert len(forecast.mean) == len(forecast.lower) == len(forecast.upper) == 2


def test_postprocess_raises_naming_levels_when_version_has_no_residual_grid(params: VersionParams) -> None:
    with pytest.raises(InvalidInput) as caught:
        postprocess(np.zeros((1, HORIZON)), params, ForecastSpec(horizon=HORIZON, levels=(80.0,)))
    assert caught.value.field == "levels"


def test_postprocess_raises_when_mean_shape_differs_from_horizon(params: VersionParams) -> None:
    with pytest.raises(ValueError, match="does not hold"):
        postprocess(np.zeros((2, HORIZON)), params, ForecastSpec(horizon=HORIZON - 1))
