"""``/v1/jobs``: submit forecasting jobs and read them back (with long-polling)."""

from __future__ import annotations

import asyncio
import base64
import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Query, Response
from pydantic import BaseModel, Field

from hybrid_core.errors import (
    InvalidInput,
    JobFinished,
    JobNotFound,
    NoForecasts,
    NotFound,
)
from hybrid_core.forecast_spec import ForecastSpec
from hybrid_core.schemas import TERMINAL_STATUSES, ForecastRequest, JobAccepted, JobStatus, JobView
from hybrid_core.series_codec import npz_bytes
from hybrid_core.version_params import VersionParams
from job_store.hot_state import ViewJson, cached_view, job_key
from job_store.models import Job
from job_store.views import job_view, result_arrays
from operation_server.array_body import NPZ_MEDIA_TYPE, ArrayJobOptions, read_array_request
from operation_server.auth import JobsCaller
from operation_server.deps import StateDep
from operation_server.errors import documented
from operation_server.fast_json import FastJsonRoute
from operation_server.idempotency import IdempotencyKeyHeader, array_fingerprint, request_fingerprint
from operation_server.state import ApiState
from operation_server.submission import Submission, submit
from operation_server.validation import validate_arrays, validate_request

logger = logging.getLogger(__name__)
router = APIRouter(
    prefix="/v1/jobs",
    tags=["jobs"],
    route_class=FastJsonRoute,
    responses=documented(400, 401, 403, 404, 409, 413, 422, 429, 503),
)

MAX_WAIT_S = 60.0
DEFAULT_PAGE, MAX_PAGE = 50, 200
# Safety net under the pub/sub wake-up: re-read the job at least this often while waiting.
WAIT_RECHECK_S = 1.0
ANNOUNCED_RECHECK_S = 0.05


@router.post("", status_code=202, response_model=JobAccepted)
async def submit_job(
    body: ForecastRequest, state: StateDep, caller: JobsCaller, idempotency_key: IdempotencyKeyHeader = None
) -> Response:
    """Validate, record and enqueue a forecasting job; poll ``links.self`` for its result."""

    def validate(params: VersionParams) -> ForecastSpec:
        return validate_request(body, params, state.settings)

    points = sum(map(len, body.all_values()))
    submission = Submission(body, points, body.all_values, validate, lambda: request_fingerprint(body))
    return _accepted(await submit(state, caller, submission, idempotency_key))


@router.post(
    "/arrays",
    status_code=202,
    response_model=JobAccepted,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {NPZ_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def submit_array_job(
    body: Annotated[bytes, Body(media_type=NPZ_MEDIA_TYPE)],
    options: Annotated[ArrayJobOptions, Query()],
    state: StateDep,
    caller: JobsCaller,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """A job whose series come as one NumPy ``.npz`` body (``Content-Type: application/x-npz``): for
    large jobs, about a tenth of the API's time of the same job in JSON.

    The archive holds ``values`` (``[series, points]``, NaN for a missing point) and optionally
    ``lengths`` (``[series]``: row ``i`` holds ``lengths[i]`` points, the rest is padding), ``id``
    (``[series]`` unique strings) and ``start`` (``[series]`` ISO 8601 dates, with ``freq``). The
    query parameters are the JSON body's other fields. The answer is that of ``POST /v1/jobs``;
    read the forecasts with ``GET /v1/jobs/{id}/forecasts``.
    """
    request = await asyncio.to_thread(read_array_request, body, options, state.settings)

    def validate(params: VersionParams) -> ForecastSpec:
        return validate_arrays(request, params, state.settings)

    points = int(request.values.size)
    submission = Submission(options, points, request.all_values, validate, lambda: array_fingerprint(request))
    return _accepted(await submit(state, caller, submission, idempotency_key))


def _accepted(accepted: JobAccepted) -> Response:
    # The answer's JSON written here: returned as a model, FastAPI would validate it against
    # ``response_model`` again and serialize it in Python (a twentieth of the API's CPU per job).
    return Response(accepted.model_dump_json(), status_code=202, media_type="application/json")


class JobList(BaseModel):
    """A page of the caller's jobs, newest first (without forecasts: read a job for them)."""

    jobs: list[JobView]
    next_cursor: str | None = Field(description="Pass as ``cursor`` for the next page; null on the last.")


@router.get("", response_model=JobList)
def list_jobs(
    state: StateDep,
    caller: JobsCaller,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this status.")] = None,
    model: Annotated[str | None, Query(max_length=128, description="Only jobs of this model.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(max_length=200, description="From a previous page.")] = None,
) -> JobList:
    """The caller's jobs, newest first, a page at a time."""
    before = _decode_cursor(cursor) if cursor is not None else None
    jobs = state.store.list_jobs(caller.tenant, limit=limit + 1, status=status, model=model, before=before)
    page = jobs[:limit]
    next_cursor = _encode_cursor(page[-1]) if len(jobs) > limit else None
    return JobList(jobs=[job_view(job) for job in page], next_cursor=next_cursor)


def _encode_cursor(job: Job) -> str:
    return base64.urlsafe_b64encode(f"{job.created_at.isoformat()}|{job.id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created_at, job_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return datetime.fromisoformat(created_at), job_id
    except ValueError as exc:  # also binascii.Error and UnicodeDecodeError
        raise InvalidInput("cursor is not one this API returned", field="cursor") from exc


@router.delete("/{job_id}", response_model=JobView)
def cancel_job(job_id: str, state: StateDep, caller: JobsCaller) -> JobView:
    """Cancel a queued or running job: it never runs, or its result is discarded (409 once finished)."""
    job = _owned_job(state, caller.tenant, job_id)
    cancelled = state.lifecycle.cancel(job_id)
    if cancelled is None:
        current = state.store.get(job_id)
        status = current.status if current is not None else job.status
        raise JobFinished(f"job {job_id!r} already {status}", field="job_id")
    return job_view(cancelled)


def _owned_job(state: ApiState, tenant: str, job_id: str) -> Job:
    """``tenant``'s job ``job_id``; JobNotFound also for another tenant's (it does not exist for them)."""
    job = state.store.get(job_id)
    if job is None or job.tenant != tenant:
        raise JobNotFound(f"no job {job_id!r}", field="job_id")
    return job


def _read_durable(state: ApiState, tenant: str, job_id: str, *, with_forecasts: bool) -> JobView:
    job = _owned_job(state, tenant, job_id)
    if not with_forecasts:
        return job_view(job)
    result = state.store.get_result(job_id) if job.status == "succeeded" else None
    level = None
    if result is not None:
        level = state.catalog.params(job.model, job.version).residuals.interval_level
    return job_view(job, result, interval_level=level)


async def read_job(
    state: ApiState, tenant: str, job_id: str, *, durable: bool = False, with_forecasts: bool = True
) -> ViewJson:
    """``tenant``'s job view as JSON: Redis when it holds one that can answer, else (or when
    ``durable``) the database. Without ``with_forecasts`` a succeeded view may lack them."""
    if not durable:
        cached = cached_view(await state.aioredis.get(job_key(tenant, job_id)), need_forecasts=with_forecasts)
        if cached is not None:
            return cached
    view = await asyncio.to_thread(_read_durable, state, tenant, job_id, with_forecasts=with_forecasts)
    return ViewJson(view.status, view.model_dump_json().encode())


async def wait_for_job(
    state: ApiState, tenant: str, job_id: str, wait_s: float, *, with_forecasts: bool = True
) -> ViewJson:
    """The job's view once it is finished, or when ``wait_s`` has passed (long-polling)."""
    if wait_s <= 0:
        return await read_job(state, tenant, job_id, with_forecasts=with_forecasts)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    async with state.waiter.watch(job_id) as done:
        # The first read comes once watching, so a notice that came before it cannot be missed.
        view = await read_job(state, tenant, job_id, with_forecasts=with_forecasts)
        while True:
            remaining = deadline - loop.time()
            if view.status in TERMINAL_STATUSES or remaining <= 0:
                return view
            if done.done():
                # Announced but not yet readable as finished: never answer early, re-read shortly.
                await asyncio.sleep(min(remaining, ANNOUNCED_RECHECK_S))
                view = await read_job(state, tenant, job_id, durable=True, with_forecasts=with_forecasts)
                continue
            try:
                await asyncio.wait_for(asyncio.shield(done), timeout=min(remaining, WAIT_RECHECK_S))
            except TimeoutError:
                # No notice (Redis lost it, or the job is still running): the database decides.
                view = await read_job(state, tenant, job_id, durable=True, with_forecasts=with_forecasts)
                continue
            view = await read_job(state, tenant, job_id, with_forecasts=with_forecasts)


WaitS = Annotated[float, Query(ge=0, le=MAX_WAIT_S, description="Long-poll up to this long.")]


@router.get("/{job_id}", response_model=JobView)
async def get_job(job_id: str, state: StateDep, caller: JobsCaller, wait_s: WaitS = 0.0) -> Response:
    """The job's status, and its forecasts once it succeeded (or its error once it failed)."""
    # The view's JSON as read: a cached view is answered without a model built and serialized again.
    view = await wait_for_job(state, caller.tenant, job_id, wait_s)
    return Response(view.body, media_type="application/json")


STILL_RUNNING_RETRY_S = 1


@router.get(
    "/{job_id}/forecasts",
    response_class=Response,
    responses={
        200: {"content": {NPZ_MEDIA_TYPE: {}}, "description": "The forecasts as a NumPy ``.npz`` archive."},
        202: {"model": JobView, "description": "Not finished when the wait ended: the job's status."},
    },
)
async def get_job_forecasts(
    job_id: str, state: StateDep, caller: JobsCaller, wait_s: WaitS = 0.0
) -> Response:
    """A succeeded job's forecasts as arrays, for large jobs: one uncompressed NumPy ``.npz``.

    It holds ``mean``, ``lower``, ``upper`` (``[series, horizon]`` float64), ``lo-80``/``hi-80``
    and ``q-0.1`` for the levels and quantiles asked, ``id`` (``[series]``) for named series,
    ``timestamps`` (``[series, horizon]``, ISO 8601) for dated ones, and what the job's view says
    besides its forecasts: ``interval_level`` (0-d float, the coverage of ``lower``/``upper``) and,
    when steps past the model's horizon were recursive, ``direct_steps`` (0-d int). Read it with
    ``numpy.load(io.BytesIO(body))``. A 10,000-series job answers here in a few milliseconds of
    server time and no parsing, where its JSON view takes a third of a second to build and parse.
    Until the job finishes: 202 with its status and ``Retry-After``; a failed or cancelled job: 409.
    """
    view = await wait_for_job(state, caller.tenant, job_id, wait_s, with_forecasts=False)
    if view.status not in TERMINAL_STATUSES:
        return Response(
            view.body,
            status_code=202,
            media_type="application/json",
            headers={"Retry-After": str(STILL_RUNNING_RETRY_S)},
        )
    if view.status != "succeeded":
        raise NoForecasts(f"job {job_id!r} {view.status}: it has no forecasts", field="job_id")
    body = await asyncio.to_thread(_forecasts_npz, state, job_id)
    return Response(body, media_type=NPZ_MEDIA_TYPE)


def _forecasts_npz(state: ApiState, job_id: str) -> bytes:
    job, result = state.store.get(job_id), state.store.get_result(job_id)
    if job is None or result is None:  # a succeeded job always has its row; only retention removes both
        raise JobNotFound(f"no job {job_id!r}", field="job_id")
    try:
        level: float | None = state.catalog.params(job.model, job.version).residuals.interval_level
    except NotFound:  # the version left the repository: its forecasts stay readable, unlabelled
        level = None
    return npz_bytes(result_arrays(result, interval_level=level))
