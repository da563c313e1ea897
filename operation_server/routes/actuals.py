"""``POST /v1/actuals``: observed values of named series, scored in the background against every
forecast made for them (``operation_server.scoring_pass``)."""

from __future__ import annotations

import math
from datetime import datetime

from fastapi import APIRouter

from hybrid_core.errors import InvalidInput
from hybrid_core.schemas import ActualsAccepted, ActualsRequest
from hybrid_core.time_axis import as_utc, parse_timestamp
from operation_server.auth import JobsCaller
from operation_server.deps import StateDep
from operation_server.errors import documented
from operation_server.fast_json import FastJsonRoute
from operation_server.metrics import ACTUAL_POINTS

router = APIRouter(
    prefix="/v1/actuals",
    tags=["accuracy"],
    route_class=FastJsonRoute,
    responses=documented(400, 401, 403, 404, 413, 422, 503),
)


def actual_points(body: ActualsRequest) -> list[tuple[str, datetime, float]]:
    """Every ``(series id, UTC time, value)`` of ``body``; InvalidInput naming the bad field."""
    points: list[tuple[str, datetime, float]] = []
    seen: dict[str, int] = {}
    for index, series in enumerate(body.series):
        field = f"series[{index}]"
        if series.id in seen:
            raise InvalidInput(
                f"{field}.id {series.id!r} repeats series[{seen[series.id]}].id", field=f"{field}.id"
            )
        seen[series.id] = index
        if len(series.values) != len(series.timestamps):
            raise InvalidInput(
                f"{field} has {len(series.values)} values for {len(series.timestamps)} timestamps",
                field=f"{field}.values",
            )
        for position, (stamp, value) in enumerate(zip(series.timestamps, series.values, strict=True)):
            if not math.isfinite(value):
                raise InvalidInput(
                    f"{field}.values[{position}] is {value}", field=f"{field}.values[{position}]"
                )
            at = as_utc(parse_timestamp(stamp, f"{field}.timestamps[{position}]"))
            points.append((series.id, at, value))
    return points


@router.post("", status_code=202, response_model=ActualsAccepted)
def post_actuals(body: ActualsRequest, state: StateDep, caller: JobsCaller) -> ActualsAccepted:
    """Record observed values; each scores every forecast of the caller's that covers its time."""
    state.catalog.versions(body.model)  # 404 for a model the repository does not hold
    points = actual_points(body)
    new = state.accuracy.record_actuals(body.model, caller.tenant, points)
    ACTUAL_POINTS.labels(body.model).inc(len(points))
    return ActualsAccepted(model=body.model, points=len(points), new_points=new)
