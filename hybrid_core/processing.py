"""Pure pre- and post-processing of forecasting requests, on numpy arrays.

The worker, the API's synchronous path, the exporter's backtest and the
benchmark baseline all call these functions, so a version is always served
with the statistics it was trained with.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hybrid_core.bands import default_offsets, level_key, level_offsets, quantile_key, quantile_offsets
from hybrid_core.errors import InvalidInput
from hybrid_core.forecast_spec import ForecastSpec
from hybrid_core.series_codec import SeriesValues, pack_parts, split_part
from hybrid_core.time_axis import future_timestamps
from hybrid_core.version_params import VersionParams

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class PreparedBatch:
    """Model inputs ``[n, window]`` (normalized FP32), the per-series centers to undo it, and the raw
    windows (caller's units, gaps filled) that a recursive round extends."""

    inputs: FloatArray
    centers: npt.NDArray[np.float64]
    windows: npt.NDArray[np.float64]


@dataclass(frozen=True)
class Forecast:
    """One series' forecast with its prediction interval, in the caller's units.

    ``id`` and ``timestamps`` are there when the request named and dated the series; ``intervals``
    (by level, e.g. ``"80"``) and ``quantiles`` (by probability, e.g. ``"0.1"``) when it asked.
    """

    mean: list[float]
    lower: list[float]
    upper: list[float]
    id: str | None = None
    timestamps: list[str] | None = None
    intervals: dict[str, dict[str, list[float]]] | None = None
    quantiles: dict[str, list[float]] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape, sharing the lists (``dataclasses.asdict`` deep-copies them: 0.6 s for a
        10,000-series job); optional parts only when present."""
        shaped: dict[str, Any] = {}
        if self.id is not None:
            shaped["id"] = self.id
        if self.timestamps is not None:
            shaped["timestamps"] = self.timestamps
        shaped.update(mean=self.mean, lower=self.lower, upper=self.upper)
        if self.intervals is not None:
            shaped["intervals"] = self.intervals
        if self.quantiles is not None:
            shaped["quantiles"] = self.quantiles
        return shaped


def forecast_distance(first: Sequence[Forecast], second: Sequence[Forecast]) -> float:
    """Mean |difference| of two answers' means (a shadow's distance from the answer it mirrors)."""
    return float(
        np.mean([np.abs(np.subtract(a.mean, b.mean)).mean() for a, b in zip(first, second, strict=True)])
    )


def fill_missing(values: SeriesValues, field: str) -> npt.NDArray[np.float64]:
    """Replace missing values by linear interpolation (edges take the nearest observed value).

    A list marks a missing value with ``None`` (as clients send it); an array, a stored series
    (``hybrid_core.series_codec``), with NaN. Raises InvalidInput naming ``field`` for NaN/inf in
    a list, or a series with nothing observed.
    """
    if isinstance(values, np.ndarray):
        array = values.astype(np.float64)
        missing = np.isnan(array)
    else:
        array = np.array([math.nan if v is None else v for v in values], dtype=np.float64)
        missing = np.array([v is None for v in values], dtype=bool)
    if not np.isfinite(array[~missing]).all():
        raise InvalidInput(f"{field} contains NaN or infinity; send null for a missing value", field=field)
    if missing.all():
        raise InvalidInput(f"{field} has no observed value", field=field)
    if missing.any():
        positions = np.arange(array.size)
        array[missing] = np.interp(positions[missing], positions[~missing], array[~missing])
    return array


def normalize_windows(windows: npt.NDArray[np.float64], params: VersionParams) -> PreparedBatch:
    """Normalize ``[n, window]`` raw windows with the version's statistics."""
    centers = windows[:, -1].copy()
    scaled = (windows - centers[:, None]) / params.normalization.scale
    return PreparedBatch(inputs=scaled.astype(np.float32), centers=centers, windows=windows)


def next_windows(windows: npt.NDArray[np.float64], mean: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The windows of the next recursive round: each window followed by its forecast, cut to the window."""
    return np.concatenate([windows, mean], axis=1)[:, -windows.shape[1] :]


def preprocess(series: Sequence[SeriesValues], params: VersionParams) -> PreparedBatch:
    """Validate, fill gaps, crop each series to the version's window and normalize.

    Series shorter than the window raise InvalidInput naming ``series[i]``.
    """
    if not series:
        raise InvalidInput("series must hold at least one series", field="series")
    windows = np.empty((len(series), params.window), dtype=np.float64)
    for index, values in enumerate(series):
        field = f"series[{index}]"
        if len(values) < params.window:
            raise InvalidInput(
                f"{field} has {len(values)} points; {params.model} version {params.version} "
                f"needs at least {params.window}",
                field=field,
            )
        windows[index] = fill_missing(values[-params.window :], field)
    return normalize_windows(windows, params)


def denormalize(
    outputs: npt.NDArray[np.floating[Any]], centers: npt.NDArray[np.float64], params: VersionParams
) -> npt.NDArray[np.float64]:
    """Map normalized model outputs ``[n, horizon]`` back to the caller's units."""
    return outputs.astype(np.float64) * params.normalization.scale + centers[:, None]


@dataclass(frozen=True)
class ForecastParts:
    """Every part of a job's forecasts as one ``[n, parts, horizon]`` array, in the caller's units.

    ``names`` are the parts in packed order: ``mean``, ``lower``, ``upper``, then
    ``intervals/<level>/lower`` and ``/upper`` per level and ``quantiles/<p>`` per quantile asked.
    """

    names: list[str]
    values: npt.NDArray[np.float64]

    def packed(self) -> bytes:
        """The stored form (``hybrid_core.series_codec.pack_forecasts``'s bytes), straight from the array."""
        return pack_parts(self.names, self.values)


def band_parts(mean: npt.NDArray[np.float64], params: VersionParams, spec: ForecastSpec) -> ForecastParts:
    """``mean`` ``[n, horizon]`` with the version's interval and the levels and quantiles ``spec`` asks."""
    steps = spec.horizon
    if mean.shape[1] != steps:
        raise ValueError(f"forecast shape {mean.shape} does not hold {steps} steps")
    lower_offset, upper_offset = default_offsets(params, steps)
    names = ["mean", "lower", "upper"]
    parts = [mean, mean + lower_offset, mean + upper_offset]
    for level in spec.levels:
        key = level_key(level)
        low, high = level_offsets(params, level, steps)
        names += [f"intervals/{key}/lower", f"intervals/{key}/upper"]
        parts += [mean + low, mean + high]
    for probability in spec.quantiles:
        names.append(f"quantiles/{quantile_key(probability)}")
        parts.append(mean + quantile_offsets(params, probability, steps))
    return ForecastParts(names, np.stack(parts, axis=1))


def postprocess(mean: npt.NDArray[np.float64], params: VersionParams, spec: ForecastSpec) -> list[Forecast]:
    """Attach the version's interval, the asked levels and quantiles, ids and timestamps to ``mean``.

    ``mean`` is ``[n, horizon]`` in the caller's units (``hybrid_core.forecasting`` rolls it out,
    recursively past the model's horizon).
    """
    return forecasts_of(band_parts(mean, params, spec), spec)


def forecasts_of(parts: ForecastParts, spec: ForecastSpec) -> list[Forecast]:
    """One :class:`Forecast` per series of ``parts``, with its id and timestamps from ``spec``."""
    stamps = future_timestamps(spec.axes, spec.horizon) if spec.axes is not None else None
    bands = [split_part(name) for name in parts.names[3:]]
    forecasts = []
    for index, rows in enumerate(parts.values.tolist()):
        intervals: dict[str, dict[str, list[float]]] = {}
        quantiles: dict[str, list[float]] = {}
        for (kind, key, side), row in zip(bands, rows[3:], strict=True):
            if kind == "intervals":
                intervals.setdefault(key, {})[side] = row
            else:
                quantiles[key] = row
        forecasts.append(
            Forecast(
                mean=rows[0],
                lower=rows[1],
                upper=rows[2],
                id=spec.series_id(index),
                timestamps=None if stamps is None else stamps[index],
                intervals=intervals or None,
                quantiles=quantiles or None,
            )
        )
    return forecasts
