"""The Celery application shared by the API (which enqueues) and the workers (which consume).

Only messaging configuration lives here; the tasks are registered by ``worker.tasks``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery
from kombu.exceptions import OperationalError as BrokerError

from hybrid_core.errors import ServiceUnavailable
from hybrid_core.kombu_redis import TRANSPORT as KOMBU_REDIS_TRANSPORT
from hybrid_core.logs import job_context
from hybrid_core.settings import Settings
from hybrid_core.tracing import enqueue_headers

RUN_JOB_TASK = "hybrid.run_job"
JOBS_QUEUE = "forecast-jobs"


def make_celery(settings: Settings) -> Celery:
    """A Celery app on the Redis broker with at-least-once delivery settings."""
    app = Celery("hybrid", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        # kombu's Redis transport, reusing one client for its acknowledgement bookkeeping.
        broker_transport=KOMBU_REDIS_TRANSPORT,
        task_default_queue=JOBS_QUEUE,
        task_routes={RUN_JOB_TASK: {"queue": JOBS_QUEUE}},
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        # At-least-once: acknowledge after the task ran, requeue when its worker dies.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        # Ride out a broker outage of any length: retry the connection forever (a worker stuck
        # for good is restarted by its liveness probe, see worker.liveness).
        broker_connection_retry=True,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        broker_channel_error_retry=True,
        broker_transport_options={
            # An unacknowledged job (its worker was killed) comes back after this long.
            "visibility_timeout": settings.task_visibility_timeout_s,
            "unacked_restore_interval": max(1, min(10, settings.task_visibility_timeout_s // 2)),
            "unacked_restore_throttle": 1,
            "socket_connect_timeout": 5,
            "socket_keepalive": True,
        },
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    return app


@dataclass(frozen=True)
class QueuedJob:
    """A recorded job to hand to a worker."""

    job_id: str
    series_count: int
    """Lets the worker run a bulk job on its own instead of in a micro-batch."""
    trace_parent: Any = None
    """The submitting request's trace context (``tracing.current_context()``), if any."""


class JobQueue:
    """The API's port to the job queue: enqueue recorded jobs, read how many wait."""

    def __init__(self, app: Celery, client: redis.Redis) -> None:
        self._app = app
        self._redis = client

    def enqueue(self, job_id: str, *, series_count: int) -> None:
        """Queue ``job_id`` for a worker; ServiceUnavailable when the broker refuses it."""
        error = self.enqueue_many([QueuedJob(job_id, series_count)])[0]
        if error is not None:
            raise error

    def enqueue_many(self, jobs: Sequence[QueuedJob]) -> list[ServiceUnavailable | None]:
        """Queue each job over one broker connection; per job, None or why the broker refused it.

        Once the broker refuses one job (after the retry policy's attempts) the rest of ``jobs``
        are refused with it, rather than each waiting out its own retries.
        """
        errors: list[ServiceUnavailable | None] = []
        refusal: Exception | None = None
        try:
            with self._app.producer_or_acquire() as producer:
                for job in jobs:
                    refusal = self._send(producer, job)
                    if refusal is not None:
                        break
                    errors.append(None)
        except (BrokerError, OSError) as exc:  # no connection to publish on
            refusal = exc
        return errors + [_refused(refusal) for _ in range(len(jobs) - len(errors))]

    def _send(self, producer: Any, job: QueuedJob) -> Exception | None:
        # The enqueue span's context travels in the message headers (none when tracing is off).
        with job_context(job.job_id), enqueue_headers(job.job_id, job.trace_parent) as headers:
            try:
                self._app.send_task(
                    RUN_JOB_TASK,
                    args=[job.job_id],
                    kwargs={"series_count": job.series_count},
                    headers=headers,
                    producer=producer,
                    # Given, so Celery does not saferepr the arguments of every message (2% of the API's CPU).
                    argsrepr=job.job_id,
                    kwargsrepr=str(job.series_count),
                    retry=True,
                    retry_policy={"max_retries": 2},
                )
            except (BrokerError, OSError) as exc:
                return exc
        return None

    def depth(self) -> int:
        """Jobs waiting in the queue (not yet reserved by a worker)."""
        return int(self._redis.llen(JOBS_QUEUE))


def _refused(exc: Exception | None) -> ServiceUnavailable:
    error = ServiceUnavailable(f"could not enqueue the job: {exc}")
    error.__cause__ = exc
    return error
