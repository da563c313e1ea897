"""The seed's Celery wiring, shared by its API (which enqueues) and its worker (which answers).

The seed keeps no database: the job's input travels in the task message and its result lives
in Celery's Redis result backend, under ``celery-task-meta-<task id>``. When the backend stores
a result it also publishes the same payload on a channel of that name, which is what the API's
long-poll waits on.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.backends.base import KeyValueStoreBackend

from hybrid_core.schemas import JobStatus
from hybrid_core.settings import Settings

SEED_TASK = "seed.forecast"
SEED_QUEUE = "seed-jobs"
"""Its own queue: the seed never takes our jobs, nor ours its."""
RESULT_EXPIRES_S = 3600
RESULT_KEY_PREFIX: str = KeyValueStoreBackend.task_keyprefix
"""``celery-task-meta-``: the Redis backend's key (and channel) of a task's result."""

_STATUS_OF_STATE: dict[str, JobStatus] = {
    "SUCCESS": "succeeded",
    "FAILURE": "failed",
    "REVOKED": "failed",
    "STARTED": "running",
    "RETRY": "running",
}


def make_seed_celery(settings: Settings, *, results: bool) -> Celery:
    """The seed's Celery app on our Redis; ``results=True`` adds the Redis result backend.

    The API sends without a backend: a Celery client with the Redis backend subscribes to the
    result channel of every task it sends (its ``ResultConsumer``) and only lets go in
    ``AsyncResult.get()``, which the API never calls since it reads the results itself.
    """
    app = Celery(
        "seed",
        broker=settings.redis_url,
        backend=settings.redis_url if results else None,
        set_as_current=False,
    )
    app.conf.update(
        task_default_queue=SEED_QUEUE,
        task_routes={SEED_TASK: {"queue": SEED_QUEUE}},
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=RESULT_EXPIRES_S,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": settings.task_visibility_timeout_s},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    return app


def result_key(job_id: str) -> str:
    """The result backend's key (and publish channel) of ``job_id``."""
    return f"{RESULT_KEY_PREFIX}{job_id}"


def job_view(job_id: str, meta: dict[str, Any] | None) -> dict[str, Any]:
    """Our API's job-view shape from a Celery result meta (None: nothing stored yet).

    Celery cannot tell an unknown task from a queued one (both are ``PENDING``), so neither can
    the seed: an unknown id reads as queued.
    """
    if meta is None:
        return {"job_id": job_id, "status": "queued"}
    status = _STATUS_OF_STATE.get(str(meta.get("status")), "queued")
    view: dict[str, Any] = {"job_id": job_id, "status": status}
    result = meta.get("result")
    if status == "succeeded" and isinstance(result, dict):
        view.update(result)
    elif status == "failed":
        view["error"] = _error(result)
    return view


def _error(result: object) -> dict[str, str]:
    # Celery's JSON form of an exception: {"exc_type": name, "exc_message": args, ...}.
    if isinstance(result, dict) and "exc_type" in result:
        args = result.get("exc_message") or ()
        message = " ".join(str(a) for a in args) if isinstance(args, list | tuple) else str(args)
        return {"code": "job_failed", "message": f"{result['exc_type']}: {message}".rstrip(": ")}
    return {"code": "job_failed", "message": str(result)}
