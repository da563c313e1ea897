"""``POST /v1/models/{model}/forecast``: a forecast answered directly, without a Celery hop.

Same body, validation, version resolution, processing and metrics as a job; Triton is
called from the API process through the aio client. ``?record=true`` also stores it as a
finished job that ``GET /v1/jobs/{job_id}`` returns.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from hybrid_core.errors import InvalidInput
from hybrid_core.schemas import Arm, ForecastOut, ForecastRequest
from operation_server.auth import JobsCaller
from operation_server.deps import StateDep
from operation_server.errors import documented
from operation_server.fast_json import FastJsonRoute
from operation_server.sync_forecast import record_forecast, run_forecast, shadow_forecast, tracked_of
from operation_server.validation import validate_request
from operation_server.versions import resolve_request

router = APIRouter(
    prefix="/v1/models",
    tags=["forecast"],
    route_class=FastJsonRoute,
    responses=documented(400, 401, 403, 404, 409, 413, 422, 429, 503, 504),
)

# Validation walks every point; above this many series it runs off the event loop.
INLINE_VALIDATION_MAX_SERIES = 64


class SyncForecastOut(BaseModel):
    """Answer of ``POST /v1/models/{model}/forecast``."""

    model_config = ConfigDict(protected_namespaces=())

    model: str
    version: str
    arm: Arm
    horizon: int
    interval_level: float
    forecasts: list[ForecastOut]
    timings_s: dict[str, float]
    job_id: str | None = None
    direct_steps: int | None = Field(
        default=None,
        description="Past the model's horizon: how many first steps came straight from the model.",
    )


@router.post("/{model}/forecast", response_model=SyncForecastOut)
async def forecast_now(
    model: str,
    body: ForecastRequest,
    state: StateDep,
    caller: JobsCaller,
    record: Annotated[bool, Query(description="Also store it as a finished job.")] = False,
) -> Response:
    """Forecast ``body.series`` now; Triton failures answer 503/504 with Retry-After."""
    received_at = time.perf_counter()
    if body.model != model:
        message = f"model {body.model!r} in the body differs from {model!r} in the path"
        raise InvalidInput(message, field="model")
    if state.admission.rate_limited(caller):
        await asyncio.to_thread(state.admission.admit_request, caller)
    resolution = resolve_request(state, body)
    if len(body.series) <= INLINE_VALIDATION_MAX_SERIES:
        spec = validate_request(body, resolution.params, state.settings)
    else:
        spec = await asyncio.to_thread(validate_request, body, resolution.params, state.settings)
    with state.admission.sync_slot():
        outcome = await run_forecast(
            state.triton_aio,
            body,
            resolution,
            spec=spec,
            batch_size=state.settings.infer_batch_size,
            received_at=received_at,
        )
    job_id = None
    shadow = resolution.shadow_version
    if record or shadow:
        job_id = await asyncio.to_thread(
            record_forecast, state.store, state.lifecycle, body, resolution, spec, outcome, caller.tenant
        )
    elif spec.ids is not None and spec.axes is not None:
        tracked = tracked_of(
            body, spec, outcome, resolution.params, job_id=None, tenant=caller.tenant, arm=resolution.arm
        )
        await asyncio.to_thread(state.accuracy.track, tracked)
    if shadow and job_id is not None:
        state.spawn(
            shadow_forecast(
                state.triton_aio,
                state.store,
                body,
                spec,
                state.catalog.params(model, shadow),
                job_id=job_id,
                tenant=caller.tenant,
                answered=outcome.forecasts,
                batch_size=state.settings.infer_batch_size,
            )
        )
    # Built from values we produced (no re-validation) and serialized once by pydantic-core:
    # returning the model would make FastAPI validate and encode it again.
    answer = SyncForecastOut.model_construct(
        model=model,
        version=resolution.version,
        arm=resolution.arm,
        horizon=spec.horizon,
        interval_level=resolution.params.residuals.interval_level,
        forecasts=[ForecastOut.model_construct(**f.as_dict()) for f in outcome.forecasts],
        timings_s=outcome.timings_s,
        job_id=job_id,
        direct_steps=outcome.direct_steps,
    )
    return Response(answer.model_dump_json(), media_type="application/json")
