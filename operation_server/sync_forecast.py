"""The API's synchronous forecasting path: the worker's forecasting code, answered in-process.

``run_forecast`` is the one service function behind ``POST /v1/models/{model}/forecast``:
the shared ``forecast_async`` (same pre/post-processing as the worker) over the aio Triton
client, with the same metrics as a job. ``record_forecast`` optionally stores the request
and its result as a finished job (``?record=true``), with the job's Kafka event in the
outbox when events are on: any worker's outbox relay publishes it.
"""

from __future__ import annotations

import time
import uuid

import numpy as np
import numpy.typing as npt

from hybrid_core import metrics
from hybrid_core.errors import HybridError
from hybrid_core.forecast_spec import ForecastSpec
from hybrid_core.forecasting import ForecastOutcome, forecast_async
from hybrid_core.schemas import ForecastRequest
from job_store.jobs import JobStore
from job_store.lifecycle import JobLifecycle, Succeeded
from operation_server.versions import Resolution
from triton_client import AsyncTritonPool, InferenceOutput


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

    async def infer(batch: npt.NDArray[np.float32]) -> InferenceOutput:
        metrics.TRITON_IN_FLIGHT.inc()
        try:
            return await triton.infer(model, batch, version=version)
        finally:
            metrics.TRITON_IN_FLIGHT.dec()

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

    No shadow run: the sync path answers from one version, so the job records none.
    """
    started = time.perf_counter()
    job_id = uuid.uuid4().hex
    store.create(resolution.new_job(job_id, request, spec, tenant=tenant, shadow=False))
    done = Succeeded(
        job_id,
        outcome.version,
        [f.as_dict() for f in outcome.forecasts],
        dict(outcome.timings_s),
        interval_level=resolution.params.residuals.interval_level,
        meta=spec.result_meta(outcome.direct_steps),
    )
    lifecycle.finish([done], observed=True)  # run_forecast counted it already
    metrics.observe_stages(request.model, resolution.version, {"persist_s": time.perf_counter() - started})
    return job_id
