"""``/v1/jobs``: submit forecasting jobs and read them back (with long-polling)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from hybrid_core.errors import EnqueueFailed, JobNotFound, ServiceUnavailable
from hybrid_core.schemas import TERMINAL_STATUSES, ForecastRequest, JobAccepted, JobView
from job_store.hot_state import cached_view, job_key
from job_store.views import job_view
from operation_server.auth import JobsCaller
from operation_server.deps import StateDep
from operation_server.fast_json import FastJsonRoute
from operation_server.metrics import JOBS_SUBMITTED
from operation_server.state import ApiState
from operation_server.validation import validate_request
from operation_server.versions import resolve_request

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/jobs", tags=["jobs"], route_class=FastJsonRoute)

MAX_WAIT_S = 60.0
# Safety net under the pub/sub wake-up: re-read the job at least this often while waiting.
WAIT_RECHECK_S = 1.0
ANNOUNCED_RECHECK_S = 0.05


@router.post("", status_code=202, response_model=JobAccepted)
def submit_job(body: ForecastRequest, state: StateDep, caller: JobsCaller) -> JobAccepted:
    """Validate, record and enqueue a forecasting job; poll ``links.self`` for its result."""
    resolution = resolve_request(state, body)
    horizon = validate_request(body, resolution.params, state.settings)
    job_id = uuid.uuid4().hex
    state.admission.admit_job(caller, job_id)
    try:
        state.lifecycle.accept(resolution.new_job(job_id, body, horizon, tenant=caller.tenant))
    except BaseException:
        state.admission.release(caller, job_id)
        raise
    try:
        state.queue.enqueue(job_id, series_count=len(body.series))
    except ServiceUnavailable as exc:
        state.lifecycle.fail(job_id, EnqueueFailed(exc.message))
        raise
    JOBS_SUBMITTED.labels(body.model, resolution.version, resolution.arm).inc()
    return JobAccepted(
        job_id=job_id,
        status="queued",
        model=body.model,
        version=resolution.version,
        arm=resolution.arm,
        series_count=len(body.series),
        links={"self": f"/v1/jobs/{job_id}"},
    )


def _read_durable(state: ApiState, tenant: str, job_id: str) -> JobView:
    job = state.store.get(job_id)
    if job is None or job.tenant != tenant:  # another tenant's job does not exist for this caller
        raise JobNotFound(f"no job {job_id!r}", field="job_id")
    result = state.store.get_result(job_id) if job.status == "succeeded" else None
    level = None
    if result is not None:
        level = state.catalog.params(job.model, job.version).residuals.interval_level
    return job_view(job, result, interval_level=level)


async def read_job(state: ApiState, tenant: str, job_id: str, *, durable: bool = False) -> JobView:
    """``tenant``'s job view: Redis when it holds one that can answer, else (or when ``durable``) the
    database."""
    if not durable:
        cached = cached_view(await state.aioredis.get(job_key(tenant, job_id)))
        if cached is not None:
            return cached
    return await asyncio.to_thread(_read_durable, state, tenant, job_id)


@router.get("/{job_id}", response_model=JobView)
async def get_job(
    job_id: str,
    state: StateDep,
    caller: JobsCaller,
    wait_s: Annotated[float, Query(ge=0, le=MAX_WAIT_S, description="Long-poll up to this long.")] = 0.0,
) -> JobView:
    """The job's status, and its forecasts once it succeeded (or its error once it failed)."""
    view = await read_job(state, caller.tenant, job_id)
    if view.status in TERMINAL_STATUSES or wait_s <= 0:
        return view
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    async with state.waiter.watch(job_id) as done:
        # Re-read once watching, so a notice that came before the watch cannot be missed.
        view = await read_job(state, caller.tenant, job_id)
        while True:
            remaining = deadline - loop.time()
            if view.status in TERMINAL_STATUSES or remaining <= 0:
                return view
            if done.done():
                # Announced but not yet readable as finished: never answer early, re-read shortly.
                await asyncio.sleep(min(remaining, ANNOUNCED_RECHECK_S))
                view = await read_job(state, caller.tenant, job_id, durable=True)
                continue
            try:
                await asyncio.wait_for(asyncio.shield(done), timeout=min(remaining, WAIT_RECHECK_S))
            except TimeoutError:
                # No notice (Redis lost it, or the job is still running): the database decides.
                view = await read_job(state, caller.tenant, job_id, durable=True)
                continue
            view = await read_job(state, caller.tenant, job_id)
