"""Outages of the stores (database, Redis) seen as our error tree, translated at one boundary.

A dropped connection, a restarting server or a timeout goes away by itself: it is a
``ServiceUnavailable`` (503 with ``Retry-After`` on the API, a retry on the worker), never an
internal error.
"""

from __future__ import annotations

import redis
import sqlalchemy.exc

from hybrid_core.errors import ServiceUnavailable

TRANSIENT_STORE_ERRORS: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
)
"""Store errors that pass by themselves (connection refused, reset, shut down, timed out)."""


def as_unavailable(exc: Exception) -> ServiceUnavailable:
    """The ServiceUnavailable that stands for a transient store error."""
    store = "Redis" if isinstance(exc, redis.RedisError) else "the database"
    # The first line only: a driver's message may carry the failed statement and its parameters.
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ServiceUnavailable(f"{store} is unavailable: {type(exc).__name__}: {detail}")
