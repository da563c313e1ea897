"""Realistic request series cut from the weekly Mauna Loa CO2 record (shipped with statsmodels).

Shared by the benchmarks and the tests (``tests.support.data`` re-exports it), so both send
the same kind of input.
"""

from __future__ import annotations

from functools import cache

import numpy as np


@cache
def co2_series() -> tuple[float, ...]:
    """The weekly CO2 series (ppm) with its gaps filled by interpolation."""
    from statsmodels.datasets import co2

    values = co2.load_pandas().data["co2"].interpolate().bfill().to_numpy(dtype=float)
    return tuple(values.tolist())


def request_series(count: int, length: int, *, seed: int = 0) -> list[list[float]]:
    """``count`` windows of ``length`` points at random offsets, with a little noise."""
    values = np.asarray(co2_series())
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, values.size - length, size=count)
    noise = rng.normal(0.0, 0.05, size=(count, length))
    return [(values[s : s + length] + n).round(4).tolist() for s, n in zip(starts, noise, strict=True)]
