"""Celery tasks: messaging concerns only (retries, acknowledgement); logic is in ``worker.service``."""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import Task
from celery.exceptions import Reject

from hybrid_core.errors import HybridError, RetryableError
from hybrid_core.logs import job_context
from hybrid_core.queueing import RUN_JOB_TASK, make_celery
from hybrid_core.settings import get_settings
from hybrid_core.tracing import remember_job
from job_store.outages import TRANSIENT_STORE_ERRORS, as_unavailable
from worker.gathering import JobGatherer
from worker.liveness import LivenessFile
from worker.metrics import JOB_RETRIES
from worker.retry_policy import backoff_delay_s
from worker.runtime import WorkerRuntime, get_runtime
from worker.service import fail_job, process_batch

logger = logging.getLogger(__name__)

app = make_celery(get_settings())
app.steps["consumer"].add(LivenessFile)


@app.task(  # type: ignore[untyped-decorator]
    name=RUN_JOB_TASK,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    # Our own budget (settings.task_max_retries) decides when to give up and record the failure;
    # Celery's default of 3 would re-raise past it and leave the job running.
    max_retries=None,
)
def run_job(self: Task[Any, Any], job_id: str, series_count: int = 1) -> None:
    """Forecast job ``job_id``; retry retryable failures with backoff, record permanent ones.

    Small jobs join the process's micro-batch; a bulk job (more series than a batch holds
    jobs) runs alone in its task's thread, so it never holds up the small ones.
    """
    runtime = get_runtime()
    remember_job(job_id)
    with job_context(job_id), runtime.leases.holding(job_id):
        _run_job(self, runtime, job_id, series_count)


def _run_job(task: Task[Any, Any], runtime: WorkerRuntime, job_id: str, series_count: int) -> None:
    settings = runtime.settings
    try:
        try:
            if series_count > settings.worker_batch_max_jobs:
                for error in process_batch(runtime, [job_id]).values():
                    raise error
            else:
                _gatherer(runtime).run(job_id)
        except TRANSIENT_STORE_ERRORS as exc:
            raise as_unavailable(exc) from exc
    except RetryableError as exc:
        retries = task.request.retries
        if retries >= settings.task_max_retries:
            logger.warning("job %s failed after %d retries: %s", job_id, retries, exc.message)
            fail_job(runtime, job_id, _exhausted(exc, retries))
            return
        delay = backoff_delay_s(
            retries, base_s=settings.task_retry_backoff_s, max_s=settings.task_retry_backoff_max_s
        )
        logger.info("job %s: %s; retry %d in %.2fs", job_id, exc.message, retries + 1, delay)
        JOB_RETRIES.labels(exc.code).inc()
        _retry_later(task, runtime, job_id, exc, delay)
    except HybridError as exc:
        fail_job(runtime, job_id, exc)
    except Exception as exc:  # a bug must still end the job with a recorded reason
        logger.exception("job %s failed unexpectedly", job_id)
        fail_job(runtime, job_id, HybridError(f"internal error: {type(exc).__name__}: {exc}"))


def _retry_later(
    task: Task[Any, Any], runtime: WorkerRuntime, job_id: str, error: RetryableError, delay_s: float
) -> None:
    """Schedule the job's retry; if the broker cannot take it, leave the job to the reconciler.

    The job's lease is renewed until the retry is due. Celery turns a retry that it cannot
    publish (the broker is down) into a rejected message; the job is then given up here, its
    lease expires, and the reconciler enqueues it again: the broker's loss is never the job's.
    """
    runtime.leases.park(job_id, delay_s)
    try:
        raise task.retry(exc=error, countdown=delay_s) from error
    except Reject as rejected:
        runtime.leases.park(job_id, 0)
        logger.warning(
            "job %s: could not schedule its retry (%s); the reconciler enqueues it again "
            "once its lease expires (%.0fs)",
            job_id,
            rejected.reason,
            runtime.settings.job_lease_s,
        )


_gatherer_lock = threading.Lock()


def _gatherer(runtime: WorkerRuntime) -> JobGatherer:
    """The process's gatherer, built with its runtime (after the fork, like every resource)."""
    if runtime.gatherer is None:
        with _gatherer_lock:
            if runtime.gatherer is None:
                settings = runtime.settings
                runtime.gatherer = JobGatherer(
                    lambda job_ids: process_batch(runtime, job_ids),
                    max_jobs=settings.worker_batch_max_jobs,
                    max_wait_s=settings.worker_batch_max_wait_s,
                    processors=settings.worker_batch_processors,
                )
    return runtime.gatherer


def _exhausted(error: RetryableError, retries: int) -> HybridError:
    exhausted = type(error)(f"gave up after {retries} retries: {error.message}")
    return exhausted
