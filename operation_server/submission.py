"""Submitting a job: resolve its version, validate it, admit it, record it and enqueue it.

Routes await :func:`submit`. Resolution, validation and admission run on the event loop when
the job is small and every read they need is in memory: the rollout policy's and the queue
depth's caches, and no per-key limit to count in Redis. Otherwise they run in a worker thread,
which reads what expired. The repository listing and a version's parameters are local file
reads at most once a second, done in place.

Recording and enqueueing go through the :class:`Submitter`'s group commit: concurrent
submissions share one thread hop, one transaction, one Redis pipeline and one broker connection.
A 202 still means the job is durably recorded and queued. A job whose enqueue the broker refused
is recorded as failed and answered 503.

A job with an idempotency key takes the blocking path in a thread: its insert may find a twin,
and that conflict must not fail the group's other submissions.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from hybrid_core import tracing
from hybrid_core.errors import EnqueueFailed, ServiceUnavailable
from hybrid_core.forecast_spec import ForecastSpec
from hybrid_core.queueing import JobQueue, QueuedJob
from hybrid_core.schemas import Arm, ForecastRequest, JobAccepted
from hybrid_core.series_codec import SeriesValues
from hybrid_core.version_params import VersionParams
from job_store.jobs import Failed, NewJob
from job_store.lifecycle import JobLifecycle
from operation_server.array_body import ArrayJobOptions
from operation_server.group_commit import GroupCommit
from operation_server.idempotency import replay
from operation_server.metrics import JOBS_SUBMITTED
from operation_server.principal import Principal
from operation_server.versions import Resolution, resolve_request, resolve_under

if TYPE_CHECKING:
    from operation_server.state import ApiState

LOOP_MAX_POINTS = 16_384
"""Jobs with more points are validated in a worker thread, so that their CPU does not hold up
other requests on the event loop (a one-series job of 200 points takes ~0.1 ms there)."""


@dataclass(frozen=True)
class Submission:
    """One job as its route read it."""

    options: ForecastRequest | ArrayJobOptions
    points: int
    """Points in all its series: how much validating it costs."""
    series: Callable[[], Sequence[SeriesValues]]
    validate: Callable[[VersionParams], ForecastSpec]
    """Checks the series against the resolved version's parameters (InvalidInput naming the field)."""
    fingerprint: Callable[[], str]
    """The body's hash, kept with an idempotency key."""


@dataclass(frozen=True)
class _Recording:
    job: NewJob
    trace_parent: Any


class Submitter:
    """Records and enqueues accepted jobs, many per transaction; one per API process."""

    def __init__(self, lifecycle: JobLifecycle, queue: JobQueue) -> None:
        self._lifecycle = lifecycle
        self._queue = queue
        self._group: GroupCommit[_Recording, ServiceUnavailable | None] = GroupCommit(self._record)

    async def record(self, job: NewJob) -> ServiceUnavailable | None:
        """Record ``job`` (queued, durable) and enqueue it, sharing the writes with concurrent calls.

        Returns None, or the broker's refusal (the job is then recorded as failed); raises what
        kept it from being recorded at all.
        """
        return await self._group.submit(_Recording(job, tracing.current_context()))

    def enqueue_recorded(self, jobs: Sequence[NewJob]) -> list[ServiceUnavailable | None]:
        """Enqueue recorded jobs (blocking); a job the broker refused is recorded as failed."""
        return self._enqueue([_Recording(job, tracing.current_context()) for job in jobs])

    def _record(self, items: Sequence[_Recording]) -> list[ServiceUnavailable | None]:
        self._lifecycle.accept_many([item.job for item in items])
        return self._enqueue(items)

    def _enqueue(self, items: Sequence[_Recording]) -> list[ServiceUnavailable | None]:
        queued = [QueuedJob(i.job.job_id, len(i.job.series), i.trace_parent) for i in items]
        errors = self._queue.enqueue_many(queued)
        refused = [
            Failed(item.job.job_id, EnqueueFailed(error.message))
            for item, error in zip(items, errors, strict=True)
            if error is not None
        ]
        self._lifecycle.finish(refused)
        return errors


async def submit(
    state: ApiState, caller: Principal, submission: Submission, idempotency_key: str | None
) -> JobAccepted:
    """Replay a known idempotency key, else resolve, validate, admit, record and enqueue one job."""
    if idempotency_key is not None:
        return await asyncio.to_thread(_submit_once, state, caller, submission, idempotency_key)
    job = _prepare_from_memory(state, caller, submission)
    if job is None:
        job = await asyncio.to_thread(_prepare_blocking, state, caller, submission, None)
    try:
        refusal = await state.submitter.record(job)
    except Exception:  # not recorded; a cancelled caller's job is still written, so it stays counted
        await asyncio.to_thread(state.admission.release, caller, job.job_id)
        raise
    if refusal is not None:
        raise refusal
    return _accepted(job)


def _prepare_from_memory(state: ApiState, caller: Principal, submission: Submission) -> NewJob | None:
    """The job, prepared on the event loop; None when that would need a database or Redis read."""
    if submission.points > LOOP_MAX_POINTS or state.admission.counts_in_redis(caller):
        return None
    depth = state.admission.cached_depth()
    if depth is None:
        return None
    state.catalog.versions(submission.options.model)  # an unknown model is a 404 first
    hit, policy = state.rollout.cached_policy(submission.options.model)
    if not hit:
        return None
    resolution = resolve_under(state.catalog, submission.options, policy)
    return _prepare(state, caller, submission, resolution, depth, None)


def _prepare_blocking(
    state: ApiState, caller: Principal, submission: Submission, idempotency: tuple[str, str] | None
) -> NewJob:
    """The job, prepared with whatever reads it needs (in a worker thread)."""
    resolution = resolve_request(state, submission.options)
    return _prepare(state, caller, submission, resolution, None, idempotency)


def _prepare(
    state: ApiState,
    caller: Principal,
    submission: Submission,
    resolution: Resolution,
    depth: int | None,
    idempotency: tuple[str, str] | None,
) -> NewJob:
    """Validate under ``resolution``, build the job record and admit it (the last step, so that a
    refused request is never counted)."""
    spec = submission.validate(resolution.params)
    job_id = uuid.uuid4().hex
    job = resolution.new_job(
        job_id, submission.options, submission.series(), spec, tenant=caller.tenant, idempotency=idempotency
    )
    state.admission.admit_job(caller, job_id, depth=depth)
    return job


def _submit_once(state: ApiState, caller: Principal, submission: Submission, key: str) -> JobAccepted:
    """A job with an idempotency key, in a worker thread: the first job under the key, or this one."""
    idempotency = (key, submission.fingerprint())
    holder = state.store.by_idempotency_key(caller.tenant, key)
    if holder is not None:
        return replay(holder, idempotency[1])
    job = _prepare_blocking(state, caller, submission, idempotency)
    try:
        holder = state.lifecycle.accept_once(job)
    except BaseException:
        state.admission.release(caller, job.job_id)
        raise
    if holder is not None:  # a concurrent twin recorded it first
        state.admission.release(caller, job.job_id)
        return replay(holder, idempotency[1])
    refusal = state.submitter.enqueue_recorded([job])[0]
    if refusal is not None:
        raise refusal
    return _accepted(job)


def _accepted(job: NewJob) -> JobAccepted:
    JOBS_SUBMITTED.labels(job.model, job.version, job.arm).inc()
    return JobAccepted(
        job_id=job.job_id,
        status="queued",
        model=job.model,
        version=job.version,
        arm=cast(Arm, job.arm),
        series_count=len(job.series),
        links={"self": f"/v1/jobs/{job.job_id}"},
    )
