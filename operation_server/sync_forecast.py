"""The API's synchronous forecasting path: the worker's forecasting code, answered in-process.

``run_forecast`` is the one service function behind ``POST /v1/models/{model}/forecast``:
the shared ``forecast_async`` (same pre/post-processing as the worker) over the aio Triton
client, with the same metrics as a job. ``record_forecast`` optionally stores the request
and its result as a finished job (``?record=true``, or when the answer gets a shadow run on
the canary), with the job's Kafka event in the outbox when events are on: any worker's outbox
relay publishes it. Named, dated series are kept for scoring against actuals either way.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import numpy as np
import numpy.typing as npt

from hybrid_core import metrics
from hybrid_core.errors import HybridError
from hybrid_core.forecast_spec import ForecastSpec
from hybrid_core.forecasting import AsyncInferFn, ForecastOutcome, forecast_async
from hybrid_core.processing import Forecast, forecast_distance
from hybrid_core.schemas import ForecastRequest
from hybrid_core.scoring import tracked_forecasts
from hybrid_core.version_params import VersionParams
from job_store.accuracy import tracked_rows
from job_store.jobs import JobStore, ShadowRecord
from job_store.lifecycle import JobLifecycle, Succeeded
from operation_server.versions import Resolution
from triton_client import AsyncTritonPool, InferenceOutput


def _infer_on(triton: AsyncTritonPool, model: str, version: str) -> AsyncInferFn:
    async def infer(batch: npt.NDArray[np.float32]) -> InferenceOutput:
        metrics.TRITON_IN_FLIGHT.inc()
        try:
            return await triton.infer(model, batch, version=version)
        finally:
            metrics.TRITON_IN_FLIGHT.dec()

    return infer


async def run_forecast(
    triton: AsyncTritonPool,
    request: ForecastRequest,
    resolution: Resolution,
    *,
    spec: ForecastSpec,
    batch_size: int,
    received_at: float,
) -> ForecastOutcome:
    """Forecast ``request`` on the resolved version through Triton, recording the job metrics.

    ``received_at`` (``time.perf_counter()``) starts the end-to-end duration. Raises the
    HybridError of a failed forecast after counting it.
    """
    model, version, arm = request.model, resolution.version, resolution.arm
    infer = _infer_on(triton, model, version)
    try:
        outcome = await forecast_async(
            request.all_values(), resolution.params, infer, spec, batch_size=batch_size
        )
    except HybridError as exc:
        metrics.JOBS_FINISHED.labels(model, version, arm, "failed").inc()
        metrics.JOB_FAILURES.labels(exc.code).inc()
        raise
    metrics.observe_stages(model, version, outcome.timings_s)
    metrics.JOBS_FINISHED.labels(model, version, arm, "succeeded").inc()
    metrics.JOB_DURATION.labels(model, version, arm).observe(time.perf_counter() - received_at)
    return outcome


def tracked_of(
    request: ForecastRequest,
    spec: ForecastSpec,
    outcome: ForecastOutcome,
    params: VersionParams,
    *,
    job_id: str | None,
    tenant: str,
    arm: str,
) -> list[dict[str, Any]]:
    """The ``tracked_forecasts`` rows of an answer's named, dated series (none for bare series)."""
    if spec.ids is None or spec.axes is None:
        return []
    kept = tracked_forecasts(outcome.forecasts, request.all_values(), spec.ids, spec.axes, params)
    return tracked_rows(
        kept, job_id=job_id, tenant=tenant, model=request.model, version=outcome.version, arm=arm
    )


def record_forecast(
    store: JobStore,
    lifecycle: JobLifecycle,
    request: ForecastRequest,
    resolution: Resolution,
    spec: ForecastSpec,
    outcome: ForecastOutcome,
    tenant: str,
) -> str:
    """Store ``request`` and ``outcome`` as a succeeded job of ``tenant`` (blocking); return its id.

    The job names its shadow version when the answer gets a shadow run (:func:`shadow_forecast`).
    """
    started = time.perf_counter()
    job_id = uuid.uuid4().hex
    store.create(resolution.new_job(job_id, request, request.all_values(), spec, tenant=tenant, shadow=True))
    done = Succeeded(
        job_id,
        outcome.version,
        outcome.forecast_dicts(),
        dict(outcome.timings_s),
        interval_level=resolution.params.residuals.interval_level,
        meta=spec.result_meta(outcome.direct_steps),
        tracked=tracked_of(
            request, spec, outcome, resolution.params, job_id=job_id, tenant=tenant, arm=resolution.arm
        ),
        packed=outcome.parts.packed(),
    )
    lifecycle.finish([done], observed=True)  # run_forecast counted it already
    metrics.observe_stages(request.model, resolution.version, {"persist_s": time.perf_counter() - started})
    return job_id


async def shadow_forecast(
    triton: AsyncTritonPool,
    store: JobStore,
    request: ForecastRequest,
    spec: ForecastSpec,
    params: VersionParams,
    *,
    job_id: str,
    tenant: str,
    answered: list[Forecast],
    batch_size: int,
) -> None:
    """Mirror an answered sync forecast to the canary (``params``' version): store its forecast and
    distance next to the recorded job, never return it. A failure is recorded on the shadow row."""
    started = time.perf_counter()
    infer = _infer_on(triton, request.model, params.version)
    try:
        shadow = await forecast_async(request.all_values(), params, infer, spec, batch_size=batch_size)
    except HybridError as exc:
        failed = ShadowRecord(
            job_id, request.model, params.version, time.perf_counter() - started, error_code=exc.code
        )
        await asyncio.to_thread(store.record_shadows, [failed])
        return
    record = ShadowRecord(
        job_id,
        request.model,
        params.version,
        time.perf_counter() - started,
        forecasts=[f.as_dict() for f in shadow.forecasts],
        mean_abs_diff=forecast_distance(answered, shadow.forecasts),
        tracked=tracked_of(request, spec, shadow, params, job_id=job_id, tenant=tenant, arm="shadow"),
    )
    await asyncio.to_thread(store.record_shadows, [record])
