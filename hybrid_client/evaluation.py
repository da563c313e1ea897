"""Rolling-origin backtests, pure: the folds of a frame and their scores (MAE, MASE, interval coverage).

Fold ``k`` of ``folds`` cuts every series ``horizon + (folds - 1 - k) * step`` points before its end;
the model sees what lies before the cut (its last ``input_size`` points) and is scored on the
``horizon`` points after it. MASE divides each series' MAE by its in-sample seasonal naive MAE
(``|y[t] - y[t - season]|`` before the first cut; lag 1 when that is shorter than two seasons),
the season following the frequency as the platform's online scores do (52 weekly, 24 hourly...).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.tseries.frequencies import to_offset

from hybrid_client.frames import DS, ID, Y, label

_SEASONS = {"h": 24, "min": 60, "D": 7, "B": 5, "W": 52, "M": 12, "Q": 4}


def season_length(freq: str | None) -> int:
    """24 hourly, 7 daily, 52 weekly, 12 monthly, 4 quarterly; 1 otherwise (and for integer steps)."""
    if freq is None:
        return 1
    offset = to_offset(freq)
    if offset.n != 1:
        return 1
    name = offset.name.split("-")[0]
    for prefix, season in _SEASONS.items():
        if name == prefix or (prefix in {"M", "Q"} and name.startswith(prefix)):
            return season
    return 1


def seasonal_naive_scale(values: npt.NDArray[np.float64], season: int) -> float | None:
    """Mean absolute seasonal difference of ``values`` (NaN skipped); None when it cannot scale."""
    lag = season if values.size >= 2 * season else 1
    if values.size <= lag:
        return None
    errors = np.abs(values[lag:] - values[:-lag])
    errors = errors[~np.isnan(errors)]
    if errors.size == 0 or float(errors.mean()) == 0.0:
        return None
    return float(errors.mean())


@dataclass(frozen=True)
class Folds:
    """Every series cut at every origin, series after series and origin after origin."""

    histories: pd.DataFrame
    """What each fold sends: ``unique_id`` is the fold's number (a string), then ``ds``, ``y``."""
    targets: pd.DataFrame
    """What each fold is scored on, ``horizon`` rows per fold in the same order: the user's
    ``unique_id``, ``ds``, ``cutoff`` (the last ``ds`` the model saw), ``y``."""
    scales: dict[Hashable, float | None]
    """Each series' in-sample seasonal naive MAE (None where it cannot scale)."""
    skipped: list[Hashable]
    """Series whose first cut leaves fewer than the needed points before it."""


def _ranges(begins: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The row numbers of ``range(begins[i], ends[i])`` for every i, concatenated."""
    lengths = ends - begins
    offsets = np.repeat(begins - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
    rows: npt.NDArray[np.int64] = offsets + np.arange(int(lengths.sum()))
    return rows


def make_folds(
    df: pd.DataFrame,
    *,
    horizon: int,
    folds: int,
    step: int | None,
    input_size: int | None,
    min_size: int,
    season: int,
) -> Folds:
    """The folds of a prepared frame (sorted by id and ds), vectorized over every series and origin."""
    if horizon < 1 or folds < 1:
        raise ValueError("horizon and folds must be at least 1")
    step = step or horizon
    codes, _ = pd.factorize(df[ID], sort=False)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(df) else np.array([], dtype=np.int64)
    counts = np.diff(np.r_[starts, len(df)])
    first_cut = counts - horizon - (folds - 1) * step
    kept = first_cut >= max(min_size, 1)
    ids = df[ID].to_numpy()
    y = df[Y].to_numpy(dtype=float)
    skipped = [ids[a] for a in starts[~kept]]
    starts, first_cut = starts[kept], first_cut[kept]
    scales = {
        ids[a]: seasonal_naive_scale(y[a : a + cut], season) for a, cut in zip(starts, first_cut, strict=True)
    }
    # Series-major: fold number = series * folds + k.
    cuts = (starts + first_cut)[:, None] + step * np.arange(folds)[None, :]
    cuts = cuts.ravel()
    size = input_size if input_size is not None else int(cuts.max(initial=0))
    history_begins = np.maximum(np.repeat(starts, folds), cuts - size)
    history_rows = _ranges(history_begins, cuts)
    fold_numbers = np.repeat(np.arange(cuts.size), cuts - history_begins).astype(str)
    histories = pd.DataFrame({ID: fold_numbers, DS: df[DS].to_numpy()[history_rows], Y: y[history_rows]})
    target_rows = _ranges(cuts, cuts + horizon)
    targets = pd.DataFrame(
        {
            ID: ids[target_rows],
            DS: df[DS].to_numpy()[target_rows],
            "cutoff": np.repeat(df[DS].to_numpy()[cuts - 1], horizon),
            Y: y[target_rows],
        }
    )
    return Folds(histories, targets, scales, skipped)


@dataclass(frozen=True)
class Scores:
    """Accuracy of one model version over every fold."""

    series: int
    points: int
    mae: float
    mase: float | None
    """Mean over series of MAE / in-sample seasonal naive MAE (series that cannot be scaled left out)."""
    coverage: dict[str, float] = field(default_factory=dict)
    """Share of points inside the band, by level key ("80")."""


def score(cv: pd.DataFrame, scales: dict[Hashable, float | None], levels: Sequence[float]) -> Scores:
    """Scores of a cross-validation frame (``unique_id``, ``y``, ``mean``, ``lo-*``, ``hi-*``)."""
    observed = cv.dropna(subset=[Y])
    errors = (observed[Y] - observed["mean"]).abs()
    per_series = errors.groupby(observed[ID], sort=False).mean()
    scaled = [mae / s for uid, mae in per_series.items() if (s := scales.get(uid))]
    coverage = {}
    for level in levels:
        key = label(level)
        if f"lo-{key}" in observed.columns:
            inside = (observed[Y] >= observed[f"lo-{key}"]) & (observed[Y] <= observed[f"hi-{key}"])
            coverage[key] = float(inside.mean()) if len(inside) else float("nan")
    return Scores(
        series=int(per_series.size),
        points=int(errors.size),
        mae=float(errors.mean()) if errors.size else float("nan"),
        mase=float(np.mean(scaled)) if scaled else None,
        coverage=coverage,
    )


@dataclass(frozen=True)
class Backtest:
    """A backtest of one model version: every fold's forecasts beside the actuals, and their scores."""

    model: str
    version: str | None
    forecasts: pd.DataFrame
    """``unique_id``, ``ds``, ``cutoff``, ``y``, ``mean``, ``lo-80``, ``hi-80``, ..."""
    scores: Scores
    skipped: list[Hashable]
    """Series too short for the folds and the model's window."""
