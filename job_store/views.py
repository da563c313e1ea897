"""Build the API's job view from durable rows."""

from __future__ import annotations

from typing import Any, Literal, cast

from hybrid_core.errors import HybridError, JobCancelled
from hybrid_core.schemas import (
    EVENT_INLINE_MAX_SERIES,
    Arm,
    ErrorOut,
    ForecastOut,
    JobEvent,
    JobStatus,
    JobView,
)
from hybrid_core.series_codec import unpack_forecasts
from job_store.jobs import NewJob, utcnow
from job_store.models import Job, JobResult


def job_view(
    job: Job,
    result: JobResult | None = None,
    *,
    forecasts: list[dict[str, Any]] | None = None,
    interval_level: float | None = None,
) -> JobView:
    """The view of ``job``; forecasts come from ``result`` or are passed directly.

    Forecasts are ours (the worker computed them), so their models are built without
    validation: a 10,000-series view is built in milliseconds instead of a fifth of a second.
    """
    rows = forecasts if forecasts is not None else (result_forecasts(result) if result is not None else None)
    error = None
    if job.error_code is not None:
        error = ErrorOut(code=job.error_code, message=job.error_message or "")
    return JobView(
        job_id=job.id,
        status=cast(JobStatus, job.status),
        model=job.model,
        version=job.version,
        arm=cast(Arm, job.arm),
        horizon=job.horizon,
        series_count=job.series_count,
        attempts=job.attempts,
        forecasts=None if rows is None else [ForecastOut.model_construct(**r) for r in rows],
        error=error,
        interval_level=interval_level,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def result_forecasts(result: JobResult) -> list[dict[str, Any]]:
    """The forecasts of a result row, packed (since migration 0005) or JSON (before)."""
    if result.packed is not None:
        return list(unpack_forecasts(result.packed))
    return result.forecasts or []


def queued_view(job: NewJob) -> JobView:
    """The view of a job just accepted, built from what the API recorded."""
    return JobView(
        job_id=job.job_id,
        status="queued",
        model=job.model,
        version=job.version,
        arm=cast(Arm, job.arm),
        horizon=job.horizon,
        series_count=len(job.series),
        attempts=0,
        created_at=job.created_at,
    )


def _final_status(error: HybridError | None) -> Literal["succeeded", "failed", "cancelled"]:
    if error is None:
        return "succeeded"
    return "cancelled" if isinstance(error, JobCancelled) else "failed"


def job_event(
    job: Job,
    *,
    timings_s: dict[str, float] | None = None,
    forecasts: list[dict[str, Any]] | None = None,
    error: HybridError | None = None,
) -> JobEvent:
    """The Kafka event of a finished job: ``failed`` with ``error``, else ``succeeded``.

    Forecasts travel inline only for small jobs; consumers of larger ones read ``result_path``.
    """
    inline = forecasts is not None and len(forecasts) <= EVENT_INLINE_MAX_SERIES
    return JobEvent(
        job_id=job.id,
        status=_final_status(error),
        model=job.model,
        version=job.version,
        arm=cast(Arm, job.arm),
        series_count=job.series_count,
        timings_s=timings_s or {},
        result_path=f"/v1/jobs/{job.id}",
        forecasts=[ForecastOut.model_validate(f) for f in forecasts] if forecasts and inline else None,
        error=None if error is None else ErrorOut(code=error.code, message=error.message),
        finished_at=utcnow(),
    )
