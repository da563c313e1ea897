"""The database, not the broker, decides that a job runs: enqueue again what the queue lost.

A queue message can be lost (a Redis restart without the last writes, a worker that dropped
a message it could not acknowledge while Redis was down). The durable job row is still
``queued`` or ``running`` then, and nothing would finish it until the sweeper expires it. Every
``reconcile_interval_s`` this pass finds jobs queued for longer than ``requeue_after_s`` or
running for longer than ``job_lease_s`` and, when the queue is empty (so their message is not
merely waiting behind others), enqueues them again. A job that was started more often than its
retry budget allows is failed with its reason instead. Duplicates are harmless: a worker starts
only active jobs, and a job gets one result row.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from hybrid_core.errors import HybridError, RetryableError
from hybrid_core.queueing import JobQueue
from hybrid_core.settings import Settings
from job_store.jobs import JobStore, utcnow
from job_store.lifecycle import Failed, JobLifecycle

logger = logging.getLogger(__name__)

MAX_JOBS_PER_PASS = 500


class StrandedJob(HybridError):
    code = "job_stranded"


def requeue_stranded_jobs(
    settings: Settings, store: JobStore, queue: JobQueue, lifecycle: JobLifecycle
) -> int:
    """Enqueue again the jobs whose message was lost; return how many were enqueued."""
    if queue.depth() > 0:
        return 0  # messages still wait: a long queue is not a lost message
    now = utcnow()
    stranded = store.stranded_jobs(
        queued_before=now - timedelta(seconds=settings.requeue_after_s),
        started_before=now - timedelta(seconds=settings.job_lease_s),
        limit=MAX_JOBS_PER_PASS,
    )
    runnable = [job for job in stranded if job.attempts <= settings.task_max_retries]
    exhausted = [job for job in stranded if job.attempts > settings.task_max_retries]
    if exhausted:
        error = StrandedJob(f"the job was started {settings.task_max_retries + 1} times and never finished")
        lifecycle.finish([Failed(job.id, error) for job in exhausted])
    requeued = 0
    for job in runnable:
        try:
            queue.enqueue(job.id, series_count=job.series_count)
        except RetryableError as exc:
            logger.warning("could not enqueue stranded job %s again: %s", job.id, exc.message)
            break
        requeued += 1
    if requeued:
        logger.warning("enqueued %d stranded jobs again (queued or running with no message)", requeued)
    return requeued
