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

from hybrid_core.errors import InvalidInput
from hybrid_core.series_codec import SeriesValues
from hybrid_core.version_params import VersionParams

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class PreparedBatch:
    """Model inputs ``[n, window]`` (normalized FP32) and the per-series centers to undo it."""

    inputs: FloatArray
    centers: npt.NDArray[np.float64]


@dataclass(frozen=True)
class Forecast:
    """One series' forecast with its prediction interval, in the caller's units."""

    mean: list[float]
    lower: list[float]
    upper: list[float]

    def as_dict(self) -> dict[str, list[float]]:
        """The JSON shape, sharing the lists (``dataclasses.asdict`` deep-copies them: 0.6 s for a
        10,000-series job)."""
        return {"mean": self.mean, "lower": self.lower, "upper": self.upper}


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
    return PreparedBatch(inputs=scaled.astype(np.float32), centers=centers)


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


def postprocess(
    outputs: npt.NDArray[np.floating[Any]],
    centers: npt.NDArray[np.float64],
    params: VersionParams,
    horizon: int | None = None,
) -> list[Forecast]:
    """De-normalize and attach the version's empirical prediction interval per step."""
    steps = params.horizon if horizon is None else horizon
    if not 1 <= steps <= params.horizon:
        raise InvalidInput(f"horizon must be between 1 and {params.horizon}", field="horizon")
    if outputs.shape != (centers.shape[0], params.horizon):
        raise ValueError(f"model output shape {outputs.shape} != ({centers.shape[0]}, {params.horizon})")
    mean = denormalize(outputs, centers, params)[:, :steps]
    scale = params.normalization.scale
    lower = mean + np.asarray(params.residuals.lower_quantile[:steps]) * scale
    upper = mean + np.asarray(params.residuals.upper_quantile[:steps]) * scale
    return [
        Forecast(mean=m.tolist(), lower=lo.tolist(), upper=up.tolist())
        for m, lo, up in zip(mean, lower, upper, strict=True)
    ]
