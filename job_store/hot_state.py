"""Hot job state in Redis: the latest view of each job for fast polling, and done notices.

The database stays the source of truth: a missing or stale key only costs a
database read, never a wrong answer for a finished job (terminal views are
written after the database commit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson
import redis

from hybrid_core.schemas import TERMINAL_STATUSES, JobView

KEY_PREFIX = "hybrid:job:"
DONE_CHANNEL = "hybrid:job-done"
NOTICE_SEPARATOR = ","
"""A done notice names every job a batch finished, separated by this (job ids are hex)."""
DEFAULT_TTL_S = 24 * 3600
# Views larger than this (bulk jobs) are not cached: the API reads them from the database.
MAX_CACHED_VIEW_BYTES = 1_000_000
CACHED_FORECASTS_MAX_SERIES = 500
"""Jobs with more series are cached without forecasts (not even built: a bulk view is megabytes)."""


def in_flight_key(tenant: str) -> str:
    """The tenant's jobs queued or running, as admission control counts them (a sorted set)."""
    return f"hybrid:in-flight:{tenant}"


def job_key(tenant: str, job_id: str) -> str:
    """A job's view lives under its tenant: a caller can only ever read its own tenant's views."""
    return f"{KEY_PREFIX}{tenant}:{job_id}"


class HotJobState:
    """Write and read job views in Redis and announce finished jobs on a channel."""

    def __init__(self, client: redis.Redis, *, ttl_s: int = DEFAULT_TTL_S) -> None:
        self._redis = client
        self._ttl_s = ttl_s

    def put_many(self, views: Sequence[tuple[str, JobView]], *, announce: bool = True) -> None:
        """Store ``(tenant, view)`` pairs in one pipeline; the terminal ones are announced in one notice."""
        if not views:
            return
        pipe = self._redis.pipeline(transaction=False)
        done: list[str] = []
        for tenant, view in views:
            payload = view.model_dump_json()
            if len(payload) > MAX_CACHED_VIEW_BYTES:
                payload = view.model_copy(update={"forecasts": None}).model_dump_json()
            pipe.set(job_key(tenant, view.job_id), payload, ex=self._ttl_s)
            if view.status in TERMINAL_STATUSES:
                done.append(view.job_id)
                pipe.zrem(in_flight_key(tenant), view.job_id)  # it leaves its tenant's jobs in flight
        if announce and done:
            pipe.publish(DONE_CHANNEL, NOTICE_SEPARATOR.join(done))
        pipe.execute()


def parse_done_notice(data: bytes) -> list[str]:
    """The job ids of one :data:`DONE_CHANNEL` notice."""
    return data.decode().split(NOTICE_SEPARATOR)


@dataclass(frozen=True)
class ViewJson:
    """A job view as the JSON the API answers, with its status (read without building the model)."""

    status: str
    body: bytes


def cached_view(raw: bytes | str | None, *, need_forecasts: bool = True) -> ViewJson | None:
    """A cached view that can answer a read by itself: any state, but a success only with its
    forecasts (unless the read does not ``need_forecasts``).

    None for a missing key or a bulk result cached without forecasts (:meth:`HotJobState.put_many`
    strips those): the caller reads the database then. Views are written after each commit of
    the job's state, so a cached view is never ahead of the database. The cached bytes are the
    view's own JSON, so they are answered as they are, without a model in between.
    """
    if raw is None:
        return None
    fields = orjson.loads(raw)
    status = fields["status"]
    if need_forecasts and status == "succeeded" and fields.get("forecasts") is None:
        return None
    return ViewJson(status, raw.encode() if isinstance(raw, str) else raw)
