"""The worker's job logic as plain functions; ``worker.tasks`` only adds messaging concerns."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict

import numpy as np
import numpy.typing as npt

from hybrid_core import metrics
from hybrid_core.errors import HybridError
from hybrid_core.forecasting import forecast
from hybrid_core.processing import Forecast
from job_store.hot_state import CACHED_FORECASTS_MAX_SERIES
from job_store.jobs import utcnow
from job_store.models import Job
from job_store.views import job_event, job_view
from triton_client.codec import InferenceOutput
from worker.runtime import WorkerRuntime

logger = logging.getLogger(__name__)


def _event_topic(runtime: WorkerRuntime) -> str | None:
    return runtime.settings.kafka_topic if runtime.settings.kafka_bootstrap_servers else None


def process_job(runtime: WorkerRuntime, job_id: str) -> None:
    """Run one job to success. Raises HybridError (retryable or permanent) on failure.

    A job that already finished (a redelivered message) is left untouched.
    """
    started = runtime.store.start(job_id)
    if started is None:
        logger.info("job %s already finished or unknown; nothing to do", job_id)
        return
    job, series = started.job, started.series
    runtime.hot.put(job_view(job))
    params = runtime.params(job.model, job.version)

    def infer(batch: npt.NDArray[np.float32]) -> InferenceOutput:
        return runtime.infer(job.model, job.version, batch)

    outcome = forecast(
        series,
        params,
        infer,
        horizon=job.horizon,
        batch_size=runtime.settings.infer_batch_size,
        executor=runtime.infer_pool,
    )
    forecasts = [asdict(f) for f in outcome.forecasts]
    timings = dict(outcome.timings_s)
    if job.started_at is not None:
        timings["queue_wait_s"] = max(0.0, (job.started_at - job.created_at).total_seconds())
    event = job_event(job, timings_s=timings, forecasts=forecasts)
    persist_started = time.perf_counter()
    finished = runtime.store.record_success(
        job_id,
        version=outcome.version,
        forecasts=forecasts,
        timings=timings,
        worker=runtime.worker_name,
        event=event,
        topic=_event_topic(runtime),
    )
    timings["persist_s"] = time.perf_counter() - persist_started
    if finished is None:
        return
    publish_started = time.perf_counter()
    runtime.job_finished()
    _publish_view(runtime, finished, forecasts, params.residuals.interval_level)
    timings["publish_s"] = time.perf_counter() - publish_started
    _observe_success(job, timings)
    if job.shadow_version:
        run_shadow(runtime, job, series, outcome.forecasts)


def run_shadow(
    runtime: WorkerRuntime, job: Job, series: list[list[float | None]], answered: list[Forecast]
) -> None:
    """Mirror a stable job to the canary: store its forecast and distance, never return it.

    A shadow failure is recorded on the shadow row and never touches the job.
    """
    version = job.shadow_version
    assert version is not None
    started = time.perf_counter()
    try:
        shadow = forecast(
            series,
            runtime.params(job.model, version),
            lambda batch: runtime.infer(job.model, version, batch),
            horizon=job.horizon,
            batch_size=runtime.settings.infer_batch_size,
            executor=runtime.infer_pool,
        )
    except HybridError as exc:
        runtime.store.record_shadow(
            job.id,
            model=job.model,
            version=version,
            forecasts=None,
            mean_abs_diff=None,
            latency_s=time.perf_counter() - started,
            error_code=exc.code,
        )
        return
    diff = float(
        np.mean(
            [
                np.abs(np.subtract(a.mean, b.mean)).mean()
                for a, b in zip(answered, shadow.forecasts, strict=True)
            ]
        )
    )
    runtime.store.record_shadow(
        job.id,
        model=job.model,
        version=version,
        forecasts=[asdict(f) for f in shadow.forecasts],
        mean_abs_diff=diff,
        latency_s=time.perf_counter() - started,
        error_code=None,
    )


def _observe_success(job: Job, timings: dict[str, float]) -> None:
    metrics.observe_stages(job.model, job.version, timings)
    metrics.JOBS_FINISHED.labels(job.model, job.version, job.arm, "succeeded").inc()
    metrics.JOB_DURATION.labels(job.model, job.version, job.arm).observe(
        max(0.0, (utcnow() - job.created_at).total_seconds())
    )


def fail_job(runtime: WorkerRuntime, job_id: str, error: HybridError) -> None:
    """Record ``error`` as the job's final reason (no-op for a job that already finished)."""
    job = runtime.store.get(job_id)
    if job is None:
        logger.error("cannot fail unknown job %s: %s", job_id, error.message)
        return
    event = job_event(job, error=error)
    failed = runtime.store.record_failure(
        job_id, code=error.code, message=error.message, event=event, topic=_event_topic(runtime)
    )
    if failed is not None:
        runtime.job_finished()
        _publish_view(runtime, failed, None, None)
        metrics.JOBS_FINISHED.labels(job.model, job.version, job.arm, "failed").inc()
        metrics.JOB_FAILURES.labels(error.code).inc()


def _publish_view(
    runtime: WorkerRuntime, job: Job, forecasts: list[dict[str, list[float]]] | None, level: float | None
) -> None:
    if job.series_count > CACHED_FORECASTS_MAX_SERIES:
        forecasts = None  # the API serves a bulk result from the database
    try:
        runtime.hot.put(job_view(job, forecasts=forecasts, interval_level=level))
    except Exception:  # the database already holds the truth; a cold cache only slows polling
        logger.exception("could not cache the view of job %s in Redis", job.id)
