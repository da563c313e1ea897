"""Build the API's job view from durable rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt

from hybrid_core.errors import HybridError, JobCancelled
from hybrid_core.forecast_spec import ForecastSpec
from hybrid_core.schemas import (
    EVENT_INLINE_MAX_SERIES,
    Arm,
    ErrorOut,
    ForecastOut,
    JobEvent,
    JobStatus,
    JobView,
)
from hybrid_core.series_codec import forecast_arrays, pack_forecasts, unpack_forecasts
from hybrid_core.time_axis import future_timestamps
from job_store.jobs import NewJob, utcnow
from job_store.models import Job, JobResult


def job_view(
    job: Job,
    result: JobResult | None = None,
    *,
    forecasts: Sequence[Mapping[str, Any]] | None = None,
    interval_level: float | None = None,
    direct_steps: int | None = None,
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
        direct_steps=direct_steps
        if result is None or result.meta is None
        else result.meta.get("direct_steps"),
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def result_forecasts(result: JobResult) -> list[dict[str, Any]]:
    """The forecasts of a result row, packed (since migration 0005) or JSON (before), with their ids
    and timestamps (since migration 0009)."""
    if result.packed is None:
        return result.forecasts or []
    forecasts = unpack_forecasts(result.packed)
    if result.meta is None:
        return forecasts
    steps = len(forecasts[0]["mean"]) if forecasts else 0
    labels = ForecastSpec.from_json(steps, result.meta)
    stamps = future_timestamps(labels.axes, steps) if labels.axes is not None else None
    labelled = []
    for index, forecast in enumerate(forecasts):
        head: dict[str, Any] = {}
        if labels.series_id(index) is not None:
            head["id"] = labels.series_id(index)
        if stamps is not None and stamps[index] is not None:
            head["timestamps"] = stamps[index]
        labelled.append(head | forecast)
    return labelled


def result_arrays(result: JobResult, *, interval_level: float | None = None) -> dict[str, npt.NDArray[Any]]:
    """The forecasts of a result row as ``[series, horizon]`` arrays (:func:`forecast_arrays`), with
    ``id`` (``[series]``) and ``timestamps`` (``[series, horizon]``, ISO 8601) when the request named or
    dated its series ("" where one series was not), then what the job's view says besides its
    forecasts: ``interval_level`` (0-d float, when given) and ``direct_steps`` (0-d int, when later
    steps were recursive)."""
    packed = result.packed if result.packed is not None else pack_forecasts(result.forecasts or [])
    arrays: dict[str, npt.NDArray[Any]] = dict(forecast_arrays(packed))
    if result.meta is not None:
        count, steps = arrays["mean"].shape
        labels = ForecastSpec.from_json(steps, result.meta)
        if labels.ids is not None:
            arrays["id"] = np.array([series_id or "" for series_id in labels.ids], dtype=str)
        if labels.axes is not None:
            blank = [""] * steps
            stamps = future_timestamps(labels.axes, steps)
            arrays["timestamps"] = np.array([row or blank for row in stamps], dtype=str).reshape(count, steps)
    if interval_level is not None:
        arrays["interval_level"] = np.array(interval_level, dtype=np.float64)
    direct_steps = result.meta.get("direct_steps") if result.meta is not None else None
    if direct_steps is not None:
        arrays["direct_steps"] = np.array(direct_steps, dtype=np.int64)
    return arrays


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
    forecasts: Sequence[Mapping[str, Any]] | None = None,
    error: HybridError | None = None,
    direct_steps: int | None = None,
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
        direct_steps=direct_steps,
        finished_at=utcnow(),
    )
