"""The weekly Mauna Loa CO2 series, its chronological split and the model windows.

Nothing is downloaded: the series ships with statsmodels. Windows are normalized by
``hybrid_core.processing.normalize_windows``, the function the workers call, so a
version is trained on exactly what it is served.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from hybrid_core.processing import FloatArray, fill_missing, normalize_windows
from hybrid_core.version_params import Artifact, Normalization, ResidualSpread, VersionParams

DATASET_NAME = "statsmodels.datasets.co2"
DATASET_CITATION = "statsmodels.datasets.co2 (Mauna Loa weekly CO2, 1958-2001)"
HORIZON = 24
"""Weeks forecast by every model."""
TRAIN_FRACTION = 0.70
VALIDATION_FRACTION = 0.15
"""The rest (0.15) is the held-out test split of the backtest."""

Part = Literal["train", "validation", "test"]
IntArray = npt.NDArray[np.int64]
Float64Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Co2Series:
    """The weekly values (ppm, gaps filled) with their ISO dates."""

    values: Float64Array
    dates: tuple[str, ...]
    filled: int


def load_co2() -> Co2Series:
    """Load ``statsmodels.datasets.co2`` and fill its missing weeks by linear interpolation."""
    from statsmodels.datasets import co2

    frame = co2.load_pandas().data
    raw = [float(value) for value in frame["co2"].to_numpy()]
    with_gaps: list[float | None] = [None if math.isnan(value) else value for value in raw]
    values = fill_missing(with_gaps, field="co2")
    dates = tuple(stamp.date().isoformat() for stamp in frame.index)
    return Co2Series(values=values, dates=dates, filled=sum(v is None for v in with_gaps))


@dataclass(frozen=True)
class ChronologicalSplit:
    """Index bounds: train ``[0, train_end)``, validation ``[train_end, validation_end)``, test the rest."""

    train_end: int
    validation_end: int
    length: int

    def bounds(self, part: Part) -> tuple[int, int]:
        """``[start, end)`` of one part."""
        return {
            "train": (0, self.train_end),
            "validation": (self.train_end, self.validation_end),
            "test": (self.validation_end, self.length),
        }[part]

    def origins(self, part: Part, window: int, horizon: int = HORIZON) -> IntArray:
        """Forecast origins whose ``horizon`` targets all lie in ``part`` (inputs may reach back before it).

        Origins do not depend on the window beyond the first one, so models with
        different windows are scored on the same held-out targets.
        """
        start, end = self.bounds(part)
        first = max(start - 1, window - 1)
        return np.arange(first, end - horizon, dtype=np.int64)

    def describe(self, dates: tuple[str, ...]) -> dict[str, str]:
        """First and last date of each part, for the provenance in ``params.json``."""
        described: dict[str, str] = {}
        for part in ("train", "validation", "test"):
            start, end = self.bounds(part)
            described[f"{part}_start"] = dates[start]
            described[f"{part}_end"] = dates[end - 1]
        return described


def chronological_split(
    length: int, train_fraction: float = TRAIN_FRACTION, validation_fraction: float = VALIDATION_FRACTION
) -> ChronologicalSplit:
    """Split ``length`` points in time order; no part sees a later part's targets."""
    train_end = round(length * train_fraction)
    validation_end = round(length * (train_fraction + validation_fraction))
    if not 0 < train_end < validation_end < length:
        raise ValueError(f"cannot split {length} points as {train_fraction}/{validation_fraction}")
    return ChronologicalSplit(train_end=train_end, validation_end=validation_end, length=length)


def change_scale(train_values: Float64Array, horizon: int = HORIZON) -> float:
    """Standard deviation of the 1..horizon-step changes: the normalization scale."""
    changes = np.concatenate([train_values[h:] - train_values[:-h] for h in range(1, horizon + 1)])
    return float(np.std(changes))


def normalizing_params(scale: float, window: int, horizon: int = HORIZON) -> VersionParams:
    """Parameters carrying only the normalization, to call ``normalize_windows`` before training.

    The residuals and the artifact are placeholders: the real ones exist only after training.
    """
    return VersionParams(
        model="training",
        version="0",
        kind="lstm",
        window=window,
        horizon=horizon,
        normalization=Normalization(scale=scale),
        residuals=ResidualSpread(interval_level=0.9, lower_quantile=[], upper_quantile=[], std=[]),
        artifact=Artifact(file="-", format="torchscript", sha256="-"),
    )


@dataclass(frozen=True)
class Windows:
    """Normalized model inputs and targets at some origins, with what is needed to undo it."""

    inputs: FloatArray
    """``[n, window]`` FP32, normalized as served."""
    targets: FloatArray
    """``[n, horizon]`` FP32, ``(y - last) / scale``."""
    centers: Float64Array
    """``[n]`` last observed value of each window (ppm)."""
    actual: Float64Array
    """``[n, horizon]`` targets in ppm."""


def make_windows(
    values: Float64Array, origins: IntArray, window: int, scale: float, horizon: int = HORIZON
) -> Windows:
    """Cut the window ending at each origin and the ``horizon`` values after it, then normalize."""
    inputs_at = origins[:, None] + np.arange(1 - window, 1)
    targets_at = origins[:, None] + np.arange(1, horizon + 1)
    prepared = normalize_windows(values[inputs_at], normalizing_params(scale, window, horizon))
    actual = values[targets_at]
    targets = ((actual - prepared.centers[:, None]) / scale).astype(np.float32)
    return Windows(inputs=prepared.inputs, targets=targets, centers=prepared.centers, actual=actual)
