"""Held-out scores (MAE in ppm, MASE) and the residual spread of a version.

MASE divides by the in-sample MAE of the seasonal naive forecast (value 52 weeks
earlier) on the training split; the key names say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from export_scripts.data import ChronologicalSplit, Float64Array, Windows, make_windows
from export_scripts.model import MovingAverageForecaster
from hybrid_core.processing import FloatArray
from hybrid_core.version_params import ResidualSpread

SEASON_WEEKS = 52
MASE_KEY = f"mase_seasonal_naive_{SEASON_WEEKS}"
INTERVAL_LEVEL = 0.9
MOVING_AVERAGE_CANDIDATES = (4, 13, 26, 52)
"""Values of k tried on the validation split for the moving-average baseline."""


@dataclass(frozen=True)
class Score:
    """Mean absolute error (ppm) over every held-out window and step, and its MASE."""

    mae_ppm: float
    mase: float


def predict(model: nn.Module, inputs: FloatArray) -> FloatArray:
    """Eager forward pass without gradients: the reference every export is checked against."""
    with torch.no_grad():
        outputs: FloatArray = model(torch.from_numpy(inputs)).numpy()
    return outputs


def seasonal_naive_mae(train_values: Float64Array, season: int = SEASON_WEEKS) -> float:
    """In-sample MAE of ``y[t] = y[t - season]`` on the training split: the MASE denominator."""
    return float(np.mean(np.abs(train_values[season:] - train_values[:-season])))


def score(windows: Windows, forecast: FloatArray, scale: float, mase_denominator: float) -> Score:
    """Score normalized forecasts against the windows' targets, in ppm."""
    forecast_ppm = forecast.astype(np.float64) * scale + windows.centers[:, None]
    mae = float(np.mean(np.abs(windows.actual - forecast_ppm)))
    return Score(mae_ppm=mae, mase=mae / mase_denominator)


def residual_spread(windows: Windows, forecast: FloatArray, level: float = INTERVAL_LEVEL) -> ResidualSpread:
    """Empirical quantiles and std per step of ``actual - forecast`` in normalized units."""
    residuals = windows.targets.astype(np.float64) - forecast.astype(np.float64)
    return ResidualSpread(
        interval_level=level,
        lower_quantile=np.quantile(residuals, (1 - level) / 2, axis=0).tolist(),
        upper_quantile=np.quantile(residuals, (1 + level) / 2, axis=0).tolist(),
        std=np.std(residuals, axis=0).tolist(),
    )


def moving_average_score(
    values: Float64Array, split: ChronologicalSplit, scale: float, k: int, mase_denominator: float
) -> Score:
    """Score of the ``k``-week moving average on the held-out test windows."""
    windows = make_windows(values, split.origins("test", k), k, scale)
    return score(windows, predict(MovingAverageForecaster(k), windows.inputs), scale, mase_denominator)


def tune_moving_average(
    values: Float64Array,
    split: ChronologicalSplit,
    scale: float,
    candidates: Sequence[int] = MOVING_AVERAGE_CANDIDATES,
) -> tuple[int, dict[int, float]]:
    """The ``k`` with the lowest validation MAE (ties to the smaller k), and every candidate's MAE."""
    validation_mae: dict[int, float] = {}
    for k in candidates:
        windows = make_windows(values, split.origins("validation", k), k, scale)
        forecast = predict(MovingAverageForecaster(k), windows.inputs)
        validation_mae[k] = score(windows, forecast, scale, 1.0).mae_ppm
    best = min(validation_mae, key=lambda k: (validation_mae[k], k))
    return best, validation_mae


QUANTILE_GRID: tuple[float, ...] = tuple(round(0.005 * i, 3) for i in range(1, 200))
"""Probabilities stored per step: 0.005 to 0.995, enough for any level from 50 to 99 (and 99 itself)."""
GRID_DECIMALS = 6


def conformal_quantiles(residuals: Float64Array, probabilities: Sequence[float]) -> list[list[float]]:
    """Per step (column), the residual quantile at each probability, with split conformal's correction.

    With n residuals, a band meant to hold a share p of new points takes the ``ceil((n + 1) p) / n``
    empirical quantile (Vovk et al.; Lei et al., 2018): each tail is pushed out by one point's weight,
    so coverage on exchangeable data is at least the level asked, never below it.
    """
    n = residuals.shape[0]
    rows = []
    for p in probabilities:
        if p >= 0.5:
            adjusted, method = min(1.0, p * (n + 1) / n), "higher"
        else:
            adjusted, method = max(0.0, 1.0 - (1.0 - p) * (n + 1) / n), "lower"
        rows.append(np.quantile(residuals, adjusted, axis=0, method=method))  # type: ignore[call-overload]
    table = np.round(np.array(rows).T, GRID_DECIMALS)
    return [list(map(float, step)) for step in table]
