"""Online accuracy, pure: what a forecast keeps to be scored later, and the score of one observed point.

A forecast of a named, dated series is kept with its mean, its bands at :data:`SCORED_LEVELS`
and its MASE scale: the in-sample MAE of the seasonal naive forecast (``y[t] = y[t - season]``)
on the history the client sent, the season following the frequency (52 weekly, 24 hourly...).
An observed value then scores ``|y - mean|``, ``|y - mean| / scale`` and, per level, whether
the band held it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hybrid_core.bands import level_key, level_offsets
from hybrid_core.processing import Forecast
from hybrid_core.series_codec import SeriesValues
from hybrid_core.time_axis import SeriesAxis, season_length
from hybrid_core.version_params import VersionParams

SCORED_LEVELS: tuple[float, ...] = (50.0, 80.0, 90.0, 95.0)
"""Levels whose coverage is measured on every scored point, whatever the request asked."""


def seasonal_naive_scale(values: SeriesValues, season: int) -> float | None:
    """Mean ``|y[t] - y[t - season]|`` over the observed pairs of ``values`` (lag 1 when the history
    is shorter than two seasons); None when no pair is observed or the series never changes."""
    array = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    lag = season if array.size >= 2 * season else 1
    if array.size <= lag:
        return None
    errors = np.abs(array[lag:] - array[:-lag])
    errors = errors[~np.isnan(errors)]
    if errors.size == 0 or float(errors.mean()) == 0.0:
        return None
    return float(errors.mean())


@dataclass(frozen=True)
class TrackedForecast:
    """One series' forecast as kept for scoring: where it starts, its mean, its bands, its scale."""

    series_id: str
    axis: SeriesAxis
    """The series' last observed point and frequency: the forecast covers the next ``steps`` points."""
    mean: list[float]
    bands: dict[str, tuple[list[float], list[float]]]
    """Lower and upper bound per level key (``"80"``)."""
    scale: float | None


def tracked_forecasts(
    forecasts: Sequence[Forecast],
    series: Sequence[SeriesValues],
    ids: Sequence[str | None] | None,
    axes: Sequence[SeriesAxis | None] | None,
    params: VersionParams,
) -> list[TrackedForecast]:
    """What to keep of each forecast whose series has an id and a time axis (the others cannot be
    matched with actuals)."""
    if ids is None or axes is None:
        return []
    steps = len(forecasts[0].mean) if forecasts else 0
    offsets = {}
    if params.residual_quantiles is not None:
        offsets = {level_key(level): level_offsets(params, level, steps) for level in SCORED_LEVELS}
    kept = []
    for forecast, values, series_id, axis in zip(forecasts, series, ids, axes, strict=True):
        if series_id is None or axis is None:
            continue
        mean = np.asarray(forecast.mean)
        kept.append(
            TrackedForecast(
                series_id=series_id,
                axis=axis,
                mean=forecast.mean,
                bands={
                    key: ((mean + lo).tolist(), (mean + hi).tolist()) for key, (lo, hi) in offsets.items()
                },
                scale=seasonal_naive_scale(values, season_length(axis.freq)),
            )
        )
    return kept


@dataclass(frozen=True)
class PointScore:
    """The score of one observed value against one forecast of it."""

    abs_error: float
    scaled_error: float | None
    covered: list[str]
    """Level keys whose band held the value."""


def score_point(
    value: float, mean: float, bands: dict[str, tuple[float, float]], scale: float | None
) -> PointScore:
    """Score ``value`` against a forecast's ``mean`` and its ``(lower, upper)`` bands at one step."""
    error = abs(value - mean)
    return PointScore(
        abs_error=error,
        scaled_error=None if scale is None else error / scale,
        covered=sorted((key for key, (lo, hi) in bands.items() if lo <= value <= hi), key=float),
    )


def packed_bands(tracked: TrackedForecast) -> tuple[list[str], npt.NDArray[np.float64]]:
    """Level keys and the ``[1 + 2 x levels, steps]`` array (mean, then lower and upper per level)."""
    keys = sorted(tracked.bands, key=float)
    rows = [tracked.mean] + [side for key in keys for side in tracked.bands[key]]
    return keys, np.asarray(rows, dtype=np.float64)
