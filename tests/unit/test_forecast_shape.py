"""Time axes, bands from the residual grid, recursive rounds and the packed result with extra parts."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from export_scripts.backtest import QUANTILE_GRID, conformal_quantiles
from hybrid_core.bands import level_offsets, quantile_offsets
from hybrid_core.errors import InvalidInput
from hybrid_core.forecast_spec import ForecastSpec
from hybrid_core.forecasting import forecast
from hybrid_core.series_codec import pack_forecasts, unpack_forecasts
from hybrid_core.time_axis import (
    SeriesAxis,
    axis_from_start,
    axis_from_timestamps,
    future_timestamps,
    season_length,
)
from hybrid_core.version_params import ResidualQuantiles, VersionParams
from tests.support.params import tiny_params
from triton_client.codec import InferenceOutput


def gridded(params: VersionParams, steps: int = 12) -> VersionParams:
    """``params`` with a residual grid whose residuals at step s are uniform on [-s, s]."""
    residuals = np.linspace(-1, 1, 401)[:, None] * np.arange(1, steps + 1)[None, :]
    grid = ResidualQuantiles(
        probabilities=list(QUANTILE_GRID),
        steps=conformal_quantiles(residuals, QUANTILE_GRID),
        windows=401,
        split="validation",
    )
    return params.model_copy(update={"residual_quantiles": grid})


PARAMS = gridded(tiny_params())


def test_axis_from_start_dates_the_last_point_when_start_on_frequency() -> None:
    assert axis_from_start("2001-01-06", "W-SAT", 3, "s") == SeriesAxis("2001-01-20T00:00:00", "W-SAT")


def test_axis_from_start_raises_naming_start_when_off_frequency() -> None:
    with pytest.raises(InvalidInput) as caught:
        axis_from_start("2001-01-05", "W-SAT", 3, "series[2]")
    assert caught.value.field == "series[2].start"


def test_axis_from_timestamps_infers_frequency_when_none_given() -> None:
    axis = axis_from_timestamps(["2024-01-01T00:00", "2024-01-01T01:00", "2024-01-01T02:00"], None, 3, "s")
    assert axis == SeriesAxis("2024-01-01T02:00:00", "h")


def test_axis_from_timestamps_converts_offsets_to_utc_when_aware() -> None:
    axis = axis_from_timestamps(["2024-01-01T02:00+02:00", "2024-01-01T03:00+02:00"], "h", 2, "s")
    assert axis.last == "2024-01-01T01:00:00+00:00"


@pytest.mark.parametrize("freq", ["fortnight", "M"])
def test_unknown_frequency_raises_naming_freq(freq: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        axis_from_start("2024-01-01", freq, 3, "series[0]")
    assert caught.value.field == "series[0].freq"


def test_future_timestamps_follow_each_axis_when_frequencies_differ() -> None:
    axes = [SeriesAxis("2024-01-31T00:00:00", "MS"), None, SeriesAxis("2024-01-31T00:00:00", "D")]
    dated = future_timestamps(axes, 2)
    assert dated == [
        ["2024-02-01T00:00:00", "2024-03-01T00:00:00"],
        None,
        ["2024-02-01T00:00:00", "2024-02-02T00:00:00"],
    ]


@pytest.mark.parametrize(
    ("freq", "season"), [("h", 24), ("D", 7), ("W-SAT", 52), ("MS", 12), ("QS", 4), ("YS", 1)]
)
def test_season_length_follows_the_frequency(freq: str, season: int) -> None:
    assert season_length(freq) == season


def test_wider_levels_give_wider_bands_at_every_step() -> None:
    previous_lower, previous_upper = np.zeros(12), np.zeros(12)
    for level in (50, 60, 80, 90, 95, 97.5, 99):
        lower, upper = level_offsets(PARAMS, level, 12)
        assert np.all(lower <= previous_lower) and np.all(upper >= previous_upper)
        previous_lower, previous_upper = lower, upper


def test_conformal_band_covers_at_least_the_level_on_its_own_residuals() -> None:
    residuals = np.random.default_rng(5).normal(size=(200, 3))
    table = np.array(conformal_quantiles(residuals, QUANTILE_GRID))
    low, high = QUANTILE_GRID.index(0.1), QUANTILE_GRID.index(0.9)
    covered = (residuals >= table[:, low]) & (residuals <= table[:, high])
    assert covered.mean(axis=0).min() >= 0.8


def test_quantile_offsets_interpolate_between_grid_points() -> None:
    # Residuals at step 1 are uniform on [-1, 1]: the 0.5 quantile is 0, scaled by 2.
    np.testing.assert_allclose(quantile_offsets(PARAMS, 0.5, 1), [0.0], atol=1e-2)
    np.testing.assert_allclose(quantile_offsets(PARAMS, 0.9, 1), [1.6], atol=2e-2)


def step_model(batch: npt.NDArray[np.float32]) -> InferenceOutput:
    """One scale unit above the last value, every step (so each round climbs by one unit)."""
    return InferenceOutput(outputs=np.ones((batch.shape[0], 3), dtype=np.float32), model_version="3")


def test_forecast_rolls_out_recursively_one_round_per_model_horizon_when_past_it() -> None:
    rounds: list[npt.NDArray[np.float32]] = []

    def infer(batch: npt.NDArray[np.float32]) -> InferenceOutput:
        rounds.append(batch.copy())
        return step_model(batch)

    outcome = forecast([[0.0, 0.0, 0.0, 10.0]], PARAMS, infer, ForecastSpec(horizon=7))
    assert len(rounds) == 3
    # Scale 2: each round adds 2 to the last value it saw.
    assert outcome.forecasts[0].mean == [12.0, 12.0, 12.0, 14.0, 14.0, 14.0, 16.0]
    assert outcome.direct_steps == 3
    # The second round's window ends with the first round's forecasts.
    np.testing.assert_allclose(rounds[1][0] * 2 + 12.0, [10.0, 12.0, 12.0, 12.0])


def test_forecast_labels_each_series_when_spec_names_and_dates_them() -> None:
    spec = ForecastSpec(
        horizon=2,
        levels=(80.0,),
        quantiles=(0.5,),
        ids=("a", None),
        axes=(SeriesAxis("2024-01-01T00:00:00", "D"), None),
    )
    first, second = forecast([[1.0] * 4, [2.0] * 4], PARAMS, step_model, spec).forecasts
    assert (first.id, first.timestamps) == ("a", ["2024-01-02T00:00:00", "2024-01-03T00:00:00"])
    assert (second.id, second.timestamps) == (None, None)
    assert first.intervals is not None and set(first.intervals) == {"80"}
    assert first.quantiles is not None and set(first.quantiles) == {"0.5"}


def test_spec_round_trips_through_its_stored_form() -> None:
    spec = ForecastSpec(
        horizon=5, levels=(80.0, 95.0), ids=("a",), axes=(SeriesAxis("2024-01-01T00:00:00", "h"),)
    )
    assert ForecastSpec.from_json(5, spec.to_json()) == spec
    assert ForecastSpec(horizon=5).to_json() is None


def test_packed_forecasts_keep_intervals_and_quantiles_when_asked() -> None:
    spec = ForecastSpec(horizon=3, levels=(80.0, 97.5), quantiles=(0.1,))
    forecasts = [f.as_dict() for f in forecast([[1.0] * 4, [3.0] * 4], PARAMS, step_model, spec).forecasts]
    assert unpack_forecasts(pack_forecasts(forecasts)) == forecasts
