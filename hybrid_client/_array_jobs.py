"""Jobs submitted as arrays: ``POST /v1/jobs/arrays``, a chunk's series as one ``.npz`` body.

JSON costs per point on both sides (a Python float built, printed and parsed for each); the
archive is float32 rows written and read whole, at a nearly fixed cost per request. Against the
real stack (``submit`` to an API with no worker, 2-core machine, series of 156 weekly points,
medians of 15 interleaved runs) a chunk as arrays took 1 ms longer at 1-2 series, tied at 5-10
(800-1,600 points), and saved 10 ms at 50 series (-21%), 22 ms at 100 (-34%). So a chunk goes as
arrays from ``RequestLimits.array_min_points`` (5,000) points on, where the saving is clear of
the noise; smaller ones stay JSON, readable in logs and proxies. The archive cannot carry
per-point timestamps, which ``submit`` never sends (a frame's series go as ``start`` + ``freq``).

The job is the same either way: values as float32 (as the API stores JSON ones), NaN where JSON
has null, the same ids, dates and options; an error names the JSON body's field.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np

from hybrid_client._protocol import checked, error_from
from hybrid_client.errors import ApiError
from hybrid_client.frames import WireSeries, request_options

ARRAY_JOBS_PATH = "/v1/jobs/arrays"
NPZ_HEADERS = {"Content-Type": "application/x-npz"}
MAX_PADDING = 2
"""A ragged chunk goes as arrays only while its padded ``[series, points]`` rectangle holds at most
this many times its points: one long series among short ones would make the body grow instead."""


def worth_arrays(series: Sequence[WireSeries], min_points: int) -> bool:
    """Whether a chunk goes as arrays: enough points, and not mostly padding."""
    points = sum(s.points for s in series)
    if not series or points < min_points:
        return False
    return len(series) * max(s.points for s in series) <= MAX_PADDING * points


def array_request(
    series: Sequence[WireSeries],
    *,
    model: str,
    version: str | None,
    horizon: int | None,
    levels: Sequence[float],
    quantiles: Sequence[float],
    routing_key: str | None,
) -> dict[str, Any]:
    """The ``httpx`` arguments of ``POST /v1/jobs/arrays`` for the series: the body
    :func:`hybrid_client.frames.request_body` sends as JSON, as an archive and query parameters."""
    lengths = np.fromiter((s.points for s in series), dtype=np.int64, count=len(series))
    values = np.full((len(series), int(lengths.max())), np.nan, dtype=np.float32)
    for row, item in zip(values, series, strict=True):
        row[: item.points] = item.values
    arrays = {"values": values, "id": np.array([s.id for s in series], dtype=str)}
    if (lengths != lengths[0]).any():
        arrays["lengths"] = lengths
    freq = series[0].freq
    if freq is not None:
        arrays["start"] = np.array([s.start for s in series], dtype=str)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    params = {"model": model} | request_options(
        version=version, horizon=horizon, levels=levels, quantiles=quantiles, routing_key=routing_key
    )
    if freq is not None:
        params["freq"] = freq
    return {"params": params, "content": buffer.getvalue(), "headers": NPZ_HEADERS}


def lacks_array_jobs(response: httpx.Response) -> bool:
    """An API from before array jobs: ``/v1/jobs/{id}`` takes no POST (405), or no route matched."""
    if response.status_code == 405:
        return True
    return response.status_code == 404 and error_from(response).code == "not_found"


# The archive's names of a series' parts, and what a JSON body calls them.
_JSON_FIELDS = [
    (re.compile(r"^values(?=\[|$)"), "series"),
    (re.compile(r"^lengths(\[\d+\])$"), r"series\1"),
    (re.compile(r"^(id|start)\[(\d+)\]$"), r"series[\2].\1"),
    (re.compile(r"^freq$"), "series[0].freq"),
]


def json_field(field: str | None) -> str | None:
    """The field a JSON body's error names for an archive's (``values[3][17]`` -> ``series[3][17]``,
    ``id[2]`` -> ``series[2].id``): an error names the same field whichever way the chunk went."""
    if field is None:
        return None
    for pattern, replacement in _JSON_FIELDS:
        renamed, count = pattern.subn(replacement, field)
        if count:
            return renamed
    return field


def array_job_answer(response: httpx.Response) -> Any:
    """The ``JobAccepted`` answer, or the mapped exception naming the JSON body's field."""
    try:
        return checked(response)
    except ApiError as exc:
        exc.field = json_field(exc.field)
        raise
