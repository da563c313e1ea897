"""Request checks that need the resolved version or the configured caps (names the field)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hybrid_core.bands import check_bands
from hybrid_core.errors import InvalidInput, PayloadTooLarge
from hybrid_core.forecast_spec import ForecastSpec
from hybrid_core.schemas import ForecastRequest, NamedSeries
from hybrid_core.settings import Settings
from hybrid_core.time_axis import (
    SeriesAxis,
    axis_from_start,
    axis_from_timestamps,
    axis_on_offset,
    parse_offset,
)
from hybrid_core.version_params import MAX_HORIZON_FACTOR, VersionParams
from operation_server.array_body import ArrayJobOptions, ArrayRequest


def validate_request(request: ForecastRequest, params: VersionParams, settings: Settings) -> ForecastSpec:
    """Check ``request`` against the version and caps; return what to forecast.

    The schema already refused an empty ``series`` list or an empty series in it.
    """
    horizon = _check_options(request, len(request.series), "series", params, settings)
    labels = _labels(request)
    for index, values in enumerate(request.all_values()):
        _check_values(f"series[{index}]", values, params, settings)
    return _spec(request, horizon, labels)


def validate_arrays(request: ArrayRequest, params: VersionParams, settings: Settings) -> ForecastSpec:
    """:func:`validate_request`'s checks for an array body, vectorized, naming the array element.

    Reading the archive already refused bad shapes, dtypes, lengths and sizes over the caps.
    """
    options = request.options
    horizon = _check_options(options, request.series_count, "values", params, settings)
    _check_arrays(request, params)
    return _spec(options, horizon, _array_labels(request))


def _check_options(
    options: ForecastRequest | ArrayJobOptions,
    count: int,
    field: str,
    params: VersionParams,
    settings: Settings,
) -> int:
    """The series count's cap, the horizon (returned, the version's by default) and the bands."""
    if count > settings.max_series_per_job:
        raise PayloadTooLarge(
            f"{field} holds {count} series; at most {settings.max_series_per_job} per job", field=field
        )
    horizon = params.horizon if options.horizon is None else options.horizon
    if horizon > params.max_horizon:
        past = (
            f"{params.max_horizon} ({MAX_HORIZON_FACTOR} x its horizon {params.horizon}, recursive past it)"
            if params.residual_quantiles is not None
            else f"its horizon {params.horizon} (no residual distribution for recursive steps)"
        )
        raise InvalidInput(
            f"horizon {horizon} exceeds what {params.model} version {params.version} serves: {past}",
            field="horizon",
        )
    check_bands(params, options.levels, options.quantiles)
    return horizon


def _spec(options: ForecastRequest | ArrayJobOptions, horizon: int, labels: dict[str, Any]) -> ForecastSpec:
    return ForecastSpec(
        horizon=horizon,
        levels=tuple(sorted(set(options.levels))),
        quantiles=tuple(sorted(set(options.quantiles))),
        **labels,
    )


def _too_short(field: str, points: int, params: VersionParams) -> InvalidInput:
    message = (
        f"{field} has {points} points; {params.model} version {params.version} needs at least {params.window}"
    )
    return InvalidInput(message, field=field)


def _unobserved(field: str, params: VersionParams) -> InvalidInput:
    # The model sees only the last `window` points; gaps are interpolated, but not all of them.
    return InvalidInput(f"{field} has no observed value in its last {params.window} points", field=field)


def _check_values(field: str, values: list[float | None], params: VersionParams, settings: Settings) -> None:
    if len(values) < params.window:
        raise _too_short(field, len(values), params)
    if len(values) > settings.max_series_length:
        raise InvalidInput(
            f"{field} has {len(values)} points; at most {settings.max_series_length} are accepted",
            field=field,
        )
    for position, value in enumerate(values):
        if value is None:
            continue
        if not math.isfinite(value):
            raise InvalidInput(
                f"{field}[{position}] is {value}; send null for a missing point",
                field=f"{field}[{position}]",
            )
    if all(v is None for v in values[-params.window :]):
        raise _unobserved(field, params)


def _check_arrays(request: ArrayRequest, params: VersionParams) -> None:
    """Lengths against the window, no infinity, an observed point in each last window (NaN: missing)."""
    values, lengths = request.values, request.lengths
    short = np.flatnonzero(lengths < params.window)
    if short.size:
        index = int(short[0])
        raise _too_short(f"values[{index}]", int(lengths[index]), params)
    columns = np.arange(values.shape[1])
    infinite = np.argwhere(np.isinf(values) & (columns < lengths[:, None]))
    if infinite.size:
        row, column = (int(i) for i in infinite[0])
        raise InvalidInput(
            f"values[{row}][{column}] is {values[row, column]}; NaN marks a missing point",
            field=f"values[{row}][{column}]",
        )
    last = lengths[:, None] - params.window + np.arange(params.window)
    unobserved = np.flatnonzero(np.isnan(np.take_along_axis(values, last, axis=1)).all(axis=1))
    if unobserved.size:
        raise _unobserved(f"values[{int(unobserved[0])}]", params)


def _labels(request: ForecastRequest) -> dict[str, Any]:
    """Ids and time axes of named series (None when no series is named), refusing duplicate ids."""
    if not any(isinstance(item, NamedSeries) for item in request.series):
        return {}
    ids: list[str | None] = []
    axes: list[SeriesAxis | None] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(request.series):
        if not isinstance(item, NamedSeries):
            ids.append(None)
            axes.append(None)
            continue
        field = f"series[{index}]"
        if item.id in seen:
            raise InvalidInput(
                f"{field}.id {item.id!r} repeats series[{seen[item.id]}].id; ids must be unique",
                field=f"{field}.id",
            )
        seen[item.id] = index
        ids.append(item.id)
        if item.start is not None and item.freq is not None:
            axes.append(axis_from_start(item.start, item.freq, len(item.values), field))
        elif item.timestamps is not None:
            axes.append(axis_from_timestamps(item.timestamps, item.freq, len(item.values), field))
        else:
            axes.append(None)
    return {"ids": tuple(ids), "axes": tuple(axes) if any(a is not None for a in axes) else None}


def _array_labels(request: ArrayRequest) -> dict[str, Any]:
    """The ``id`` array's ids (unique, 1 to 256 characters) and the ``start`` array's axes."""
    if request.ids is None:
        return {}
    empty = np.flatnonzero(np.char.str_len(request.ids) == 0)
    if empty.size:
        raise InvalidInput(f"id[{int(empty[0])}] is empty", field=f"id[{int(empty[0])}]")
    order = np.argsort(request.ids, kind="stable")
    ranked = request.ids[order]
    repeats = order[1:][ranked[1:] == ranked[:-1]]
    if repeats.size:
        index = int(repeats.min())
        earlier = int(np.flatnonzero(request.ids == request.ids[index])[0])
        raise InvalidInput(
            f"id[{index}] {str(request.ids[index])!r} repeats id[{earlier}]; ids must be unique",
            field=f"id[{index}]",
        )
    ids = tuple(request.ids.tolist())
    if request.starts is None or request.options.freq is None:
        return {"ids": ids}
    offset = parse_offset(request.options.freq, "freq")
    axes = tuple(
        axis_on_offset(start, offset, length, f"start[{index}]")
        for index, (start, length) in enumerate(
            zip(request.starts.tolist(), request.lengths.tolist(), strict=True)
        )
    )
    return {"ids": ids, "axes": axes}
