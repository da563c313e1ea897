"""A version's residual distribution per step, measured by a recursive backtest on held-out windows.

Every validation origin with ``MAX_HORIZON_FACTOR`` x horizon targets ahead is forecast the way the
platform serves it (``hybrid_core.forecasting.forecast_means``: the model's horizon, then recursive
rounds), so the bands of recursive steps are measured, not extrapolated. ``hybrid-inference export
residuals`` adds the grid to versions exported before it existed, from their saved artifact.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from export_scripts.artifacts import load_runner
from export_scripts.backtest import QUANTILE_GRID, conformal_quantiles
from export_scripts.data import ChronologicalSplit, Float64Array, IntArray, Part
from hybrid_core.forecasting import forecast_means
from hybrid_core.processing import FloatArray
from hybrid_core.version_params import (
    MAX_HORIZON_FACTOR,
    ResidualQuantiles,
    VersionParams,
    params_path,
    read_params,
    write_params,
)
from triton_client.codec import InferenceOutput

Runner = Callable[[FloatArray], FloatArray]
GRID_SPLIT: Part = "validation"


def recursive_residuals(
    values: Float64Array, origins: IntArray, params: VersionParams, run: Runner, steps: int
) -> Float64Array:
    """``(actual - forecast) / scale`` at each origin for steps 1..``steps``, forecasting as served."""
    windows = values[origins[:, None] + np.arange(1 - params.window, 1)]
    actual = values[origins[:, None] + np.arange(1, steps + 1)]

    def infer(batch: FloatArray) -> InferenceOutput:
        return InferenceOutput(outputs=run(batch), model_version=params.version)

    paths = forecast_means(list(windows), params, infer, horizon=steps, batch_size=len(windows))
    residuals: Float64Array = (actual - paths.means) / params.normalization.scale
    return residuals


def residual_grid(
    values: Float64Array, split: ChronologicalSplit, params: VersionParams, run: Runner
) -> ResidualQuantiles:
    """The version's :class:`ResidualQuantiles` over ``MAX_HORIZON_FACTOR`` x its horizon."""
    steps = MAX_HORIZON_FACTOR * params.horizon
    origins = split.origins(GRID_SPLIT, params.window, horizon=steps)
    if len(origins) < 20:
        raise ValueError(f"only {len(origins)} {GRID_SPLIT} origins hold {steps} steps; too few for a grid")
    residuals = recursive_residuals(values, origins, params, run, steps)
    return ResidualQuantiles(
        probabilities=list(QUANTILE_GRID),
        steps=conformal_quantiles(residuals, QUANTILE_GRID),
        windows=len(origins),
        split=GRID_SPLIT,
    )


def backfill_residuals(repository: Path, model: str, version: str, *, force: bool = False) -> bool:
    """Add the residual grid to a version's ``params.json`` from its saved artifact; False if it had one.

    Only ``params.json`` changes: the artifact and its SHA-256 stay as they are.
    """
    from export_scripts.data import chronological_split, load_co2

    path = params_path(repository, model, version)
    params = read_params(path)
    if params.residual_quantiles is not None and not force:
        return False
    series = load_co2()
    run = load_runner(path.parent / params.artifact.file, params.artifact.format)
    grid = residual_grid(series.values, chronological_split(len(series.values)), params, run)
    write_params(path, params.model_copy(update={"residual_quantiles": grid}))
    return True
