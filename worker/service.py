"""The worker's job logic as plain functions; ``worker.tasks`` only adds messaging concerns.

Jobs run in batches (``worker.gathering``): the batch starts in one transaction, each group
of jobs on the same model, version and horizon goes to Triton as one set of series, and the
batch finishes in one transaction through :class:`job_store.lifecycle.JobLifecycle`.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from hybrid_core.errors import HybridError, RetryableError, VersionNotReady
from hybrid_core.forecast_spec import ForecastSpec
from hybrid_core.forecasting import ForecastOutcome, MeanPaths, finish, forecast_means
from hybrid_core.logs import job_context
from hybrid_core.processing import Forecast, forecast_distance
from hybrid_core.scoring import tracked_forecasts
from hybrid_core.series_codec import SeriesValues
from hybrid_core.tracing import batch_span, span
from hybrid_core.version_params import VersionParams
from job_store.accuracy import tracked_rows
from job_store.jobs import ShadowRecord, StartedJob
from job_store.lifecycle import Failed, Outcome, Succeeded
from job_store.models import Job
from triton_client import InferenceOutput
from triton_client.errors import TritonModelNotFound, TritonUnavailable
from worker.runtime import WorkerRuntime

logger = logging.getLogger(__name__)

GroupKey = tuple[str, str, int]
"""(model, version, horizon): jobs that can share one set of Triton requests."""


def process_batch(runtime: WorkerRuntime, job_ids: Sequence[str]) -> Mapping[str, RetryableError]:
    """Run a batch of jobs; record successes and permanent failures; return the retryable errors.

    Jobs that already finished (redelivered messages) are left untouched. A job whose input
    breaks its group's request is run alone, so it cannot fail its batch-mates.
    """
    with batch_span(job_ids):
        return _process_batch(runtime, job_ids)


def _process_batch(runtime: WorkerRuntime, job_ids: Sequence[str]) -> Mapping[str, RetryableError]:
    started = runtime.lifecycle.start(job_ids, lease_s=runtime.settings.job_lease_s)
    if started and not runtime.wait_for_triton():  # an attempt each, then back to the queue
        away = TritonUnavailable("no Triton replica answers")
        return {item.job.id: away for item in started}
    groups: dict[GroupKey, list[StartedJob]] = defaultdict(list)
    for item in started:
        groups[(item.job.model, item.job.version, item.job.horizon)].append(item)
    outcomes: list[Outcome] = []
    retry: dict[str, RetryableError] = {}
    answered: dict[str, ForecastOutcome] = {}
    for key, members in groups.items():
        with job_context(model=key[0], version=key[1]), span("forecast", model=key[0], version=key[1]):
            results = _forecast_group(runtime, key, members)
        for item, result in results:
            if isinstance(result, RetryableError):
                retry[item.job.id] = result
            elif isinstance(result, HybridError):
                outcomes.append(Failed(item.job.id, result))
            else:
                answered[item.job.id] = result
                outcomes.append(_succeeded(runtime, item, result))
    with span("persist"):
        finished = runtime.lifecycle.finish(outcomes)
    inputs = {item.job.id: item for item in started}
    mirrored = [
        (job, inputs[job.id], answered[job.id].forecasts)
        for job in finished
        if job.shadow_version and job.id in answered
    ]
    if mirrored:
        with span("shadows", jobs=len(mirrored)):
            run_shadows(runtime, mirrored)
    return retry


def _succeeded(runtime: WorkerRuntime, item: StartedJob, outcome: ForecastOutcome) -> Succeeded:
    job, spec = item.job, item.spec
    timings = dict(outcome.timings_s)
    if job.started_at is not None:
        timings["queue_wait_s"] = max(0.0, (job.started_at - job.created_at).total_seconds())
    params = runtime.params(job.model, outcome.version)
    return Succeeded(
        job.id,
        outcome.version,
        outcome.forecast_dicts(),  # built only if an event or a cached view carries them
        timings,
        interval_level=params.residuals.interval_level,
        meta=spec.result_meta(outcome.direct_steps),
        tracked=_tracked(job, job.arm, outcome, item.series, spec, params),
        packed=outcome.parts.packed(),
    )


def _tracked(
    job: Job,
    arm: str,
    outcome: ForecastOutcome,
    series: Sequence[SeriesValues],
    spec: ForecastSpec,
    params: VersionParams,
) -> list[dict[str, Any]]:
    """The rows that keep the job's named, dated forecasts for scoring against actuals."""
    if spec.ids is None or spec.axes is None:
        return []  # nothing to keep, and the outcome's forecasts need not be built
    kept = tracked_forecasts(outcome.forecasts, series, spec.ids, spec.axes, params)
    return tracked_rows(
        kept, job_id=job.id, tenant=job.tenant, model=job.model, version=outcome.version, arm=arm
    )


def _forecast_group(
    runtime: WorkerRuntime, key: GroupKey, members: list[StartedJob]
) -> list[tuple[StartedJob, ForecastOutcome | HybridError]]:
    """Forecast every member's series in one call; on a permanent error, each member alone.

    The group shares the Triton calls; each member is post-processed with its own spec.
    """
    try:
        paths = _roll_out(runtime, key, [s for item in members for s in item.series])
    except RetryableError as exc:
        return [(item, exc) for item in members]
    except Exception as exc:
        if len(members) == 1:
            return [(members[0], _as_failure(exc, members[0].job.id))]
        # One member's input (or a bug it triggers) broke the shared request: isolate it.
        return [pair for item in members for pair in _forecast_group(runtime, key, [item])]
    params = runtime.params(key[0], paths.version)
    split: list[tuple[StartedJob, ForecastOutcome | HybridError]] = []
    offset = 0
    for item in members:
        count = len(item.series)
        try:
            split.append((item, finish(paths.part(offset, offset + count), params, item.spec)))
        except Exception as exc:
            split.append((item, _as_failure(exc, item.job.id)))
        offset += count
    return split


def _roll_out(runtime: WorkerRuntime, key: GroupKey, series: Sequence[SeriesValues]) -> MeanPaths:
    model, version, horizon = key
    params = runtime.params(model, version)  # the repository holds the version, or this raises

    def infer(batch: npt.NDArray[np.float32]) -> InferenceOutput:
        try:
            return runtime.infer(model, version, batch)
        except TritonModelNotFound as exc:
            raise VersionNotReady(
                f"{model} version {version} is in the repository but not READY in Triton yet ({exc.message})"
            ) from exc

    return forecast_means(
        series,
        params,
        infer,
        horizon=horizon,
        batch_size=runtime.settings.infer_batch_size,
        executor=runtime.infer_pool,
    )


def _as_failure(exc: Exception, job_id: str) -> HybridError:
    if isinstance(exc, HybridError):
        return exc
    logger.exception("job %s failed unexpectedly", job_id, exc_info=exc, extra={"job_id": job_id})
    return HybridError(f"internal error: {type(exc).__name__}: {exc}")


def run_shadows(runtime: WorkerRuntime, mirrored: Sequence[tuple[Job, StartedJob, list[Forecast]]]) -> None:
    """Mirror stable jobs to their canary: store each shadow forecast and its distance, never return it.

    Shadows of one model, canary version and horizon share one set of Triton calls, and all are
    stored in one transaction. A shadow's failure is recorded on its row and never touches the job.
    """
    groups: dict[GroupKey, list[tuple[Job, StartedJob, list[Forecast]]]] = defaultdict(list)
    for job, item, answered in mirrored:
        assert job.shadow_version is not None
        groups[(job.model, job.shadow_version, job.horizon)].append((job, item, answered))
    records: list[ShadowRecord] = []
    for key, members in groups.items():
        started = time.perf_counter()
        results = _forecast_group(runtime, key, [item for _, item, _ in members])
        latency_s = time.perf_counter() - started
        for (job, item, answered), (_, result) in zip(members, results, strict=True):
            records.append(_shadow_record(runtime, job, item, answered, key, result, latency_s))
    runtime.store.record_shadows(records)


def _shadow_record(
    runtime: WorkerRuntime,
    job: Job,
    item: StartedJob,
    answered: list[Forecast],
    key: GroupKey,
    result: ForecastOutcome | HybridError,
    latency_s: float,
) -> ShadowRecord:
    model, version, _ = key
    if isinstance(result, HybridError):
        return ShadowRecord(job.id, model, version, latency_s, error_code=result.code)
    params = runtime.params(model, version)
    return ShadowRecord(
        job.id,
        model,
        version,
        latency_s,
        forecasts=[f.as_dict() for f in result.forecasts],
        mean_abs_diff=forecast_distance(answered, result.forecasts),
        tracked=_tracked(job, "shadow", result, item.series, item.spec, params),
    )


def fail_job(runtime: WorkerRuntime, job_id: str, error: HybridError) -> None:
    """Record ``error`` as the job's final reason (no-op for a job that already finished)."""
    if runtime.lifecycle.fail(job_id, error) is None:
        logger.info("job %s already finished or unknown; not failing it with %s", job_id, error.code)
