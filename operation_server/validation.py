"""Request checks that need the resolved version or the configured caps (names the field)."""

from __future__ import annotations

import math

from hybrid_core.errors import InvalidInput, PayloadTooLarge
from hybrid_core.schemas import ForecastRequest
from hybrid_core.settings import Settings
from hybrid_core.version_params import VersionParams


def validate_request(request: ForecastRequest, params: VersionParams, settings: Settings) -> int:
    """Check ``request`` against the version and caps; return the horizon to forecast.

    The schema already refused an empty ``series`` list or an empty series in it.
    """
    if len(request.series) > settings.max_series_per_job:
        raise PayloadTooLarge(
            f"series holds {len(request.series)} series; at most {settings.max_series_per_job} per job",
            field="series",
        )
    horizon = params.horizon if request.horizon is None else request.horizon
    if horizon > params.horizon:
        raise InvalidInput(
            f"horizon {horizon} exceeds {params.model} version {params.version}'s horizon {params.horizon}",
            field="horizon",
        )
    for index, values in enumerate(request.series):
        field = f"series[{index}]"
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
    return horizon
