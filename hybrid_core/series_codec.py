"""A job's arrays as bytes: its series going in, its forecasts coming out.

Series are float32 values (NaN where a value is missing) with each series' length. A
10,000-series job is 17 MB of JSON; as two ``.npy`` arrays it is 8 MB that the database stores
as one binary value and the worker reads without parsing a number. NaN marks a value the
client sent as ``null``: validation refused any NaN the client sent itself, so after it NaN can
only mean missing.

Forecasts are one float64 ``[series, 3, horizon]`` array (mean, lower, upper); with extra bands,
an array of part names comes first and the array holds one row per part. They stay
float64 so that a job read from the database answers the same digits as its cached view, its
event and the sync path.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

Series = npt.NDArray[np.float32]

SeriesValues = Sequence[float | None] | npt.NDArray[np.floating[Any]]
"""One series: as the client sent it (``None`` missing), or as stored (an array, NaN missing)."""


def pack_series(series: Sequence[SeriesValues]) -> bytes:
    """Encode validated series (``None`` or NaN for a missing value) as bytes."""
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
    lengths, offset = _read_npy(packed, 0)
    values, _ = _read_npy(packed, offset)
    return list(np.split(values, np.cumsum(lengths)[:-1])) if len(lengths) else []


def _read_npy(data: bytes, offset: int) -> tuple[npt.NDArray[Any], int]:
    """The ``.npy`` array at ``offset`` of ``data`` (read-only, as ``np.load`` leaves it) and the
    offset after it. ``np.load`` parses each header with ``ast.literal_eval``, the larger part of
    reading a small job's series; equal headers (jobs of equal length) are parsed once here."""
    # Magic (6 bytes) and version (2), then the header's length: 2 bytes in version 1, 4 after.
    width = 2 if data[offset + 6] == 1 else 4
    start = offset + 8 + width
    header_end = start + int.from_bytes(data[offset + 8 : start], "little")
    shape, fortran_order, dtype = _npy_header(data[offset:header_end])
    count = int(np.prod(shape))
    array = np.frombuffer(data, dtype=dtype, count=count, offset=header_end)
    return array.reshape(shape, order="F" if fortran_order else "C"), header_end + count * dtype.itemsize


@lru_cache(maxsize=256)
def _npy_header(prefix: bytes) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    buffer = io.BytesIO(prefix)
    version = np.lib.format.read_magic(buffer)  # type: ignore[no-untyped-call]
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran_order, dtype = read(buffer)  # type: ignore[no-untyped-call]
    if dtype.hasobject:
        raise ValueError("packed arrays hold numbers only")
    return shape, fortran_order, dtype


FORECAST_FIELDS = ("mean", "lower", "upper")


def _part_names(forecast: Mapping[str, Any]) -> list[str]:
    names = list(FORECAST_FIELDS)
    for level in forecast.get("intervals") or {}:
        names += [f"intervals/{level}/lower", f"intervals/{level}/upper"]
    names += [f"quantiles/{key}" for key in forecast.get("quantiles") or {}]
    return names


def split_part(name: str) -> tuple[str, str, str]:
    """A part name read back as (kind, key, side): ``("mean", "", "")``, ``("intervals", "80", "lower")``,
    ``("quantiles", "0.1", "")``."""
    kind, _, rest = name.partition("/")
    if kind == "intervals":
        level, _, side = rest.rpartition("/")
        return kind, level, side
    return kind, rest, ""


def _part(forecast: Mapping[str, Any], name: str) -> Sequence[float]:
    kind, key, side = split_part(name)
    values: Sequence[float]
    if not key:
        values = forecast[kind]
    elif kind == "intervals":
        values = forecast["intervals"][key][side]
    else:
        values = forecast["quantiles"][key]
    return values


def pack_forecasts(forecasts: Sequence[Mapping[str, Any]]) -> bytes:
    """Encode forecasts (``mean``, ``lower``, ``upper`` and any ``intervals`` / ``quantiles``, one
    horizon, the same parts for every series) as bytes; ids and timestamps are not packed."""
    names = _part_names(forecasts[0]) if forecasts else list(FORECAST_FIELDS)
    return pack_parts(
        names, np.array([[_part(f, name) for name in names] for f in forecasts], dtype=np.float64)
    )


def pack_parts(names: Sequence[str], array: npt.NDArray[np.float64]) -> bytes:
    """Encode a ``[series, parts, horizon]`` array of parts ``names`` (:func:`pack_forecasts`'s form)."""
    buffer = io.BytesIO()
    if list(names) != list(FORECAST_FIELDS):  # the plain form stays one array, as before migration 0009
        np.save(buffer, np.array(names), allow_pickle=False)
    np.save(buffer, np.asarray(array, dtype=np.float64), allow_pickle=False)
    return buffer.getvalue()


def _load_packed(packed: bytes) -> tuple[list[str], npt.NDArray[np.float64]]:
    """The part names and the ``[series, part, horizon]`` array of :func:`pack_forecasts`'s bytes."""
    first, offset = _read_npy(packed, 0)
    if first.dtype.kind != "U":
        return list(FORECAST_FIELDS), first
    return first.tolist(), _read_npy(packed, offset)[0]


def unpack_forecasts(packed: bytes) -> list[dict[str, Any]]:
    """Decode :func:`pack_forecasts`'s bytes into one dict per series, in the answer's shape."""
    names, array = _load_packed(packed)
    if names == list(FORECAST_FIELDS):
        return [dict(zip(FORECAST_FIELDS, row, strict=True)) for row in array.tolist()]
    return [_unflatten(names, row) for row in array.tolist()]


def _unflatten(names: list[str], row: list[list[float]]) -> dict[str, Any]:
    shaped: dict[str, Any] = {}
    for name, values in zip(names, row, strict=True):
        kind, key, side = split_part(name)
        if not key:
            shaped[kind] = values
        elif kind == "intervals":
            shaped.setdefault("intervals", {}).setdefault(key, {})[side] = values
        else:
            shaped.setdefault("quantiles", {})[key] = values
    return shaped


def _array_name(part: str) -> str:
    """A part's name among the arrays: ``mean``, ``lo-80``/``hi-80``, ``q-0.1`` (the client's columns)."""
    kind, key, side = split_part(part)
    if not key:
        return kind
    if kind == "intervals":
        return f"{'lo' if side == 'lower' else 'hi'}-{key}"
    return f"q-{key}"


def forecast_arrays(packed: bytes) -> dict[str, npt.NDArray[np.float64]]:
    """Decode :func:`pack_forecasts`'s bytes into one ``[series, horizon]`` array per part, without
    building a list per series (``mean``, ``lower``, ``upper``, then ``lo-80``, ``hi-80``, ``q-0.1``...)."""
    names, array = _load_packed(packed)
    return {_array_name(name): array[:, position, :] for position, name in enumerate(names)}


def npz_bytes(arrays: Mapping[str, npt.NDArray[Any]]) -> bytes:
    """``arrays`` (numbers or fixed-width strings, never objects) as one uncompressed ``.npz`` archive:
    ``numpy.load(..., allow_pickle=False)`` reads it back by name."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()
