"""The CO2 series, its chronological split and the model windows."""

from __future__ import annotations

import numpy as np
import pytest

from export_scripts.data import HORIZON, chronological_split, load_co2, make_windows, normalizing_params
from hybrid_core.processing import preprocess


def test_load_co2_fills_every_gap_when_loading_statsmodels_series() -> None:
    series = load_co2()
    assert len(series.values) == len(series.dates) == 2284
    assert series.filled == 59
    assert np.isfinite(series.values).all()
    assert series.dates[0] == "1958-03-29"


def test_chronological_split_keeps_parts_disjoint_when_building_origins() -> None:
    split = chronological_split(2284)
    last_target = {}
    first_target = {}
    for part in ("train", "validation", "test"):
        origins = split.origins(part, window=104)
        start, end = split.bounds(part)
        assert origins[0] + 1 >= start
        assert origins[-1] + HORIZON <= end - 1
        first_target[part], last_target[part] = origins[0] + 1, origins[-1] + HORIZON
    assert last_target["train"] < first_target["validation"]
    assert last_target["validation"] < first_target["test"]


def test_chronological_split_uses_same_held_out_origins_when_windows_differ() -> None:
    split = chronological_split(2284)
    assert np.array_equal(split.origins("test", 52), split.origins("test", 156))


def test_chronological_split_raises_when_series_too_short() -> None:
    with pytest.raises(ValueError):
        chronological_split(2)


def test_make_windows_matches_serving_preprocess_when_given_raw_series() -> None:
    values = np.cumsum(np.random.default_rng(1).normal(size=300))
    origins = np.array([150, 200, 270])
    windows = make_windows(values, origins, window=104, scale=1.7)
    serving_params = normalizing_params(scale=1.7, window=104)
    served = preprocess([values[: o + 1].tolist() for o in origins], serving_params)
    np.testing.assert_array_equal(windows.inputs, served.inputs)
    expected = (values[origins[:, None] + np.arange(1, HORIZON + 1)] - values[origins, None]) / 1.7
    np.testing.assert_allclose(windows.targets, expected, rtol=1e-6)

