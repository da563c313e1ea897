"""The one owner of a job's transitions: accept, start and finish, for one job or a batch, with every
effect.

Finishing writes the result rows or failure reasons, the outbox events (one transaction), the
Redis views (one pipeline, one wake-up publish) and the finished-job metrics. The worker's
success and failure paths, the sweeper, an enqueue failure and the sync path's ``record=true``
all go through :class:`JobLifecycle`, so each finished job gets the same effects.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hybrid_core import metrics
from hybrid_core.errors import HybridError, JobCancelled
from hybrid_core.schemas import JobView
from job_store.hot_state import CACHED_FORECASTS_MAX_SERIES, HotJobState
from job_store.jobs import Failed, JobStore, NewJob, StartedJob, Succeeded, utcnow
from job_store.models import Job
from job_store.views import job_event, job_view, queued_view

logger = logging.getLogger(__name__)

Outcome = Succeeded | Failed
"""What became of one job: its forecasts or its final error."""

__all__ = ["Failed", "JobLifecycle", "Outcome", "Succeeded"]


@dataclass
class JobLifecycle:
    """Start and finish jobs in batches; ``on_finished`` runs once per batch that finished any."""

    store: JobStore
    hot: HotJobState
    topic: str | None
    """Kafka topic of job events; None when events are off."""
    worker: str
    on_finished: Callable[[], None] | None = None

    def accept_many(self, jobs: Sequence[NewJob]) -> None:
        """Record accepted jobs (queued, durable) in one transaction and cache their views in one
        Redis pipeline, before they are enqueued."""
        self.store.create_many(jobs)
        self._cache([(job.tenant, queued_view(job)) for job in jobs], announce=False)

    def accept_once(self, job: NewJob) -> Job | None:
        """Record a job that carries an idempotency key, unless its tenant used the key already.

        None when ``job`` was recorded (and its view cached); else the job holding the key. Such
        jobs skip the group commit: a conflict must not fail the group's other submissions.
        """
        holder = self.store.create_once(job)
        if holder is None:
            self._cache([(job.tenant, queued_view(job))], announce=False)
        return holder

    def cancel(self, job_id: str) -> Job | None:
        """Cancel an active job: it never runs, or its result is discarded; None if it had finished."""
        return self.fail(job_id, JobCancelled("cancelled by its owner"))

    def start(self, job_ids: Sequence[str], *, lease_s: float) -> list[StartedJob]:
        """Mark the still-active jobs running under a lease (one transaction, one Redis pipeline)."""
        started = self.store.start_many(job_ids, lease_s=lease_s)
        self._cache([(s.job.tenant, job_view(s.job)) for s in started], announce=False)
        return started

    def finish(self, outcomes: Sequence[Outcome], *, observed: bool = False) -> list[Job]:
        """Record every outcome with its event, view and metrics; return the jobs finished now.

        Jobs that had already finished (a redelivered message, a sweeper that came first) are
        left untouched and not returned. ``observed``: the caller's transport already counted
        these forecasts in the metrics (the sync path), so they are not counted twice.
        """
        if not outcomes:
            return []
        successes = {o.job_id: o for o in outcomes if isinstance(o, Succeeded)}
        failures = {o.job_id: o for o in outcomes if isinstance(o, Failed)}

        def event_of(job: Job) -> Any:
            if job.id in failures:
                return job_event(job, error=failures[job.id].error)
            done = successes[job.id]
            return job_event(
                job, timings_s=done.timings_s, forecasts=done.forecasts, direct_steps=_direct_steps(done)
            )

        persist_started = time.perf_counter()
        finished = self.store.finish_many(
            list(successes.values()),
            list(failures.values()),
            worker=self.worker,
            event_of=event_of,
            topic=self.topic,
        )
        persist_s = time.perf_counter() - persist_started
        if not finished:
            return []
        publish_started = time.perf_counter()
        if self.on_finished is not None:
            self.on_finished()
        views = []
        for job in finished:
            done = successes.get(job.id)
            forecasts = done.forecasts if done is not None else None
            if job.series_count > CACHED_FORECASTS_MAX_SERIES:
                forecasts = None  # the API serves a bulk result from the database
            level = done.interval_level if done is not None else None
            direct = _direct_steps(done) if done is not None else None
            views.append(
                (job.tenant, job_view(job, forecasts=forecasts, interval_level=level, direct_steps=direct))
            )
        self._cache(views, announce=True)
        if not observed:
            stages_s = {"persist_s": persist_s, "publish_s": time.perf_counter() - publish_started}
            _observe(finished, successes, failures, stages_s)
        return finished

    def fail(self, job_id: str, error: HybridError) -> Job | None:
        """Finish one job as failed with ``error``; None when it had already finished."""
        finished = self.finish([Failed(job_id, error)])
        return finished[0] if finished else None

    def _cache(self, views: list[tuple[str, JobView]], *, announce: bool) -> None:
        try:
            self.hot.put_many(views, announce=announce)
        except Exception:  # the database already holds the truth; a cold cache only slows polling
            logger.exception("could not cache %d job views in Redis", len(views))


def _direct_steps(done: Succeeded) -> int | None:
    return None if done.meta is None else done.meta.get("direct_steps")


def _observe(
    finished: list[Job],
    successes: dict[str, Succeeded],
    failures: dict[str, Failed],
    stages_s: dict[str, float],
) -> None:
    """Count each finished job; a success's stages are its own and the batch's persist/publish."""
    now = utcnow()
    for job in finished:
        status = job.status
        metrics.JOBS_FINISHED.labels(job.model, job.version, job.arm, status).inc()
        if job.id in failures:
            metrics.JOB_FAILURES.labels(failures[job.id].error.code).inc()
            continue
        metrics.observe_stages(job.model, job.version, successes[job.id].timings_s | stages_s)
        metrics.JOB_DURATION.labels(job.model, job.version, job.arm).observe(
            max(0.0, (now - job.created_at).total_seconds())
        )
