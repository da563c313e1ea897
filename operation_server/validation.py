"""Request checks that need the resolved version or the configured caps (names the field)."""

from __future__ import annotations

import math
from typing import Any

from hybrid_core.bands import check_bands
from hybrid_core.errors import InvalidInput, PayloadTooLarge
from hybrid_core.forecast_spec import ForecastSpec
from hybrid_core.schemas import ForecastRequest, NamedSeries
from hybrid_core.settings import Settings
from hybrid_core.time_axis import SeriesAxis, axis_from_start, axis_from_timestamps
from hybrid_core.version_params import MAX_HORIZON_FACTOR, VersionParams


def validate_request(request: ForecastRequest, params: VersionParams, settings: Settings) -> ForecastSpec:
    """Check ``request`` against the version and caps; return what to forecast.

    The schema already refused an empty ``series`` list or an empty series in it.
    """
    if len(request.series) > settings.max_series_per_job:
        raise PayloadTooLarge(
            f"series holds {len(request.series)} series; at most {settings.max_series_per_job} per job",
            field="series",
        )
    horizon = params.horizon if request.horizon is None else request.horizon
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
    check_bands(params, request.levels, request.quantiles)
    labels = _labels(request)
    for index, values in enumerate(request.all_values()):
        _check_values(f"series[{index}]", values, params, settings)
    return ForecastSpec(
        horizon=horizon,
        levels=tuple(sorted(set(request.levels))),
        quantiles=tuple(sorted(set(request.quantiles))),
        **labels,
    )


def _check_values(field: str, values: list[float | None], params: VersionParams, settings: Settings) -> None:
    if len(values) < params.window:
        raise InvalidInput(
            f"{field} has {len(values)} points; {params.model} version {params.version} "
            f"needs at least {params.window}",
            field=field,
        )
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
    # The model sees only the last `window` points; gaps are interpolated, but not all of them.
    if all(v is None for v in values[-params.window :]):
        message = f"{field} has no observed value in its last {params.window} points"
        raise InvalidInput(message, field=field)


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
