"""A job's arrays as bytes: its series going in, its forecasts coming out.

Series are float32 values (NaN where a value is missing) with each series' length. A
10,000-series job is 17 MB of JSON; as two ``.npy`` arrays it is 8 MB that the database stores
as one binary value and the worker reads without parsing a number. NaN marks a value the
client sent as ``null``: validation refused any NaN the client sent itself, so after it NaN can
only mean missing.

Forecasts are one float64 ``[series, 3, horizon]`` array (mean, lower, upper). They stay
float64 so that a job read from the database answers the same digits as its cached view, its
event and the sync path.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Series = npt.NDArray[np.float32]

SeriesValues = Sequence[float | None] | npt.NDArray[np.floating[Any]]
"""One series: as the client sent it (``None`` missing), or as stored (an array, NaN missing)."""


def pack_series(series: Sequence[Sequence[float | None]]) -> bytes:
    """Encode validated series (``None`` for a missing value) as bytes."""
    lengths = np.fromiter((len(values) for values in series), dtype=np.int64, count=len(series))
    if len(series) and (lengths == lengths[0]).all():
        values = np.array(series, dtype=np.float32).reshape(-1)  # None becomes NaN
    else:
        values = np.concatenate([np.array(s, dtype=np.float32) for s in series] or [np.empty(0, np.float32)])
    buffer = io.BytesIO()
    np.save(buffer, lengths, allow_pickle=False)
    np.save(buffer, values, allow_pickle=False)
    return buffer.getvalue()


def unpack_series(packed: bytes) -> list[Series]:
    """Decode :func:`pack_series`'s bytes: one float32 array per series, NaN where missing."""
    buffer = io.BytesIO(packed)
    lengths = np.load(buffer, allow_pickle=False)
    values = np.load(buffer, allow_pickle=False)
    return list(np.split(values, np.cumsum(lengths)[:-1])) if len(lengths) else []


FORECAST_FIELDS = ("mean", "lower", "upper")


def pack_forecasts(forecasts: Sequence[Mapping[str, Sequence[float]]]) -> bytes:
    """Encode forecasts (``{"mean", "lower", "upper"}`` per series, one horizon) as bytes."""
    array = np.array([[f[name] for name in FORECAST_FIELDS] for f in forecasts], dtype=np.float64)
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def unpack_forecasts(packed: bytes) -> list[dict[str, list[float]]]:
    """Decode :func:`pack_forecasts`'s bytes into one ``{"mean", "lower", "upper"}`` per series."""
    rows = np.load(io.BytesIO(packed), allow_pickle=False).tolist()
    return [dict(zip(FORECAST_FIELDS, row, strict=True)) for row in rows]
