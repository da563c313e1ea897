"""Prediction bands from a version's held-out residuals: its default interval, any level, any quantile.

A band is the mean plus a residual quantile per step, in the caller's units. Quantiles between
the stored grid's probabilities are interpolated linearly; the grid is increasing per step, so a
wider level never gives a narrower band.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from hybrid_core.errors import InvalidInput
from hybrid_core.version_params import ResidualQuantiles, VersionParams

Float64Array = npt.NDArray[np.float64]

MIN_LEVEL = 50.0
MAX_LEVEL = 99.0
MIN_QUANTILE = 0.01
MAX_QUANTILE = 0.99


def level_key(level: float) -> str:
    """The answer's key of a level: ``80``, ``97.5``."""
    return f"{level:g}"


def quantile_key(probability: float) -> str:
    """The answer's key of a quantile: ``0.1``, ``0.975``."""
    return f"{probability:g}"


def _grid(params: VersionParams, field: str) -> ResidualQuantiles:
    if params.residual_quantiles is None:
        raise InvalidInput(
            f"{params.model} version {params.version} has no residual distribution in its params.json; "
            "export it again (or run `hybrid-inference export residuals`) to ask for levels, quantiles "
            "or long horizons",
            field=field,
        )
    return params.residual_quantiles


def check_bands(params: VersionParams, levels: Sequence[float], quantiles: Sequence[float]) -> None:
    """Refuse levels and quantiles outside what the version's residual grid can answer."""
    for index, level in enumerate(levels):
        if not MIN_LEVEL <= level <= MAX_LEVEL:
            raise InvalidInput(
                f"levels[{index}] is {level}; levels must lie between {MIN_LEVEL:g} and {MAX_LEVEL:g}",
                field=f"levels[{index}]",
            )
    for index, probability in enumerate(quantiles):
        if not MIN_QUANTILE <= probability <= MAX_QUANTILE:
            raise InvalidInput(
                f"quantiles[{index}] is {probability}; quantiles must lie between {MIN_QUANTILE:g} and "
                f"{MAX_QUANTILE:g}",
                field=f"quantiles[{index}]",
            )
    if levels:
        _grid(params, "levels")
    if quantiles:
        _grid(params, "quantiles")


def residual_quantile(grid: ResidualQuantiles, probability: float, steps: int) -> Float64Array:
    """The residual quantile at ``probability`` for steps 1..``steps`` (normalized units)."""
    table = np.asarray(grid.steps[:steps], dtype=np.float64)
    probabilities = np.asarray(grid.probabilities, dtype=np.float64)
    return np.array([np.interp(probability, probabilities, row) for row in table])


def level_offsets(params: VersionParams, level: float, steps: int) -> tuple[Float64Array, Float64Array]:
    """Lower and upper offsets from the mean (caller's units) of the ``level``% band, per step."""
    grid = _grid(params, "levels")
    coverage = level / 100.0
    scale = params.normalization.scale
    lower = residual_quantile(grid, (1 - coverage) / 2, steps) * scale
    upper = residual_quantile(grid, (1 + coverage) / 2, steps) * scale
    return lower, upper


def default_offsets(params: VersionParams, steps: int) -> tuple[Float64Array, Float64Array]:
    """Offsets of the version's own interval: its stored per-step quantiles, then (past the model's
    horizon) the residual grid at the same level."""
    scale = params.normalization.scale
    direct = min(steps, params.horizon)
    lower = np.asarray(params.residuals.lower_quantile[:direct], dtype=np.float64) * scale
    upper = np.asarray(params.residuals.upper_quantile[:direct], dtype=np.float64) * scale
    if steps > params.horizon:
        far_lower, far_upper = level_offsets(params, params.residuals.interval_level * 100, steps)
        lower = np.concatenate([lower, far_lower[params.horizon :]])
        upper = np.concatenate([upper, far_upper[params.horizon :]])
    return lower, upper


def quantile_offsets(params: VersionParams, probability: float, steps: int) -> Float64Array:
    """Offset from the mean (caller's units) of the ``probability`` quantile, per step."""
    return residual_quantile(_grid(params, "quantiles"), probability, steps) * params.normalization.scale
