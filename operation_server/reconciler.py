"""The database, not the broker, decides that a job runs: enqueue again what the queue lost.

A queue message can be lost (a Redis restart without its last writes, a worker that could
not acknowledge or retry a message while Redis was down). The durable job row is still
``queued`` or ``running`` then. Every ``reconcile_interval_s`` one API process (elected by
``job_store.pass_lock``) enqueues again:

- every running job whose lease expired: the worker that held it died or gave it up, since a
  live worker renews the leases of the jobs it holds (``worker.leases``);
- every job queued for longer than ``requeue_after_s``, when the queue is empty, so that its
  message is not merely waiting behind others.

A job started more often than its retry budget allows is failed with its reason instead.
Duplicates are harmless: a worker starts only active jobs, and a job gets one result row.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import Engine

from hybrid_core.errors import HybridError, RetryableError
from hybrid_core.queueing import JobQueue
from hybrid_core.settings import Settings
from job_store.jobs import JobStore, utcnow
from job_store.lifecycle import Failed, JobLifecycle
from job_store.pass_lock import exclusive_pass

logger = logging.getLogger(__name__)

MAX_JOBS_PER_PASS = 500


class StrandedJob(HybridError):
    code = "job_stranded"


def reconcile(
    settings: Settings, engine: Engine, store: JobStore, queue: JobQueue, lifecycle: JobLifecycle
) -> int:
    """One reconciler pass, unless another API process runs it now; return how many were enqueued."""
    with exclusive_pass(engine, "stranded job reconciler") as elected:
        return requeue_stranded_jobs(settings, store, queue, lifecycle) if elected else 0


def requeue_stranded_jobs(
    settings: Settings, store: JobStore, queue: JobQueue, lifecycle: JobLifecycle
) -> int:
    """Enqueue again the jobs whose message was lost; return how many were enqueued."""
    now = utcnow()
    stranded = store.expired_leases(now, limit=MAX_JOBS_PER_PASS)
    if queue.depth() == 0:  # messages still waiting: a long queue is not a lost message
        queued_before = now - timedelta(seconds=settings.requeue_after_s)
        stranded += store.queued_jobs_before(queued_before, now, limit=MAX_JOBS_PER_PASS)
    runnable = [job for job in stranded if job.attempts <= settings.task_max_retries]
    exhausted = [job for job in stranded if job.attempts > settings.task_max_retries]
    if exhausted:
        error = StrandedJob(f"the job was started {settings.task_max_retries + 1} times and never finished")
        lifecycle.finish([Failed(job.id, error) for job in exhausted])
    requeued: list[str] = []
    for job in runnable:
        try:
            queue.enqueue(job.id, series_count=job.series_count)
        except RetryableError as exc:
            logger.warning("could not enqueue stranded job %s again: %s", job.id, exc.message)
            break
        requeued.append(job.id)
    if requeued:
        # The new message gets ``requeue_after_s`` to reach a worker before the job counts as lost again.
        store.renew_leases(requeued, lease_s=settings.requeue_after_s)
        logger.warning(
            "enqueued %d stranded jobs again (lease expired, or queued with no message)", len(requeued)
        )
    return len(requeued)
