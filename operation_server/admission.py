"""Admission control: shed work the platform cannot take before doing any of it.

- ``POST /v1/jobs`` answers 429 while ``max_queue_depth`` jobs wait in the queue, so an offered
  load above capacity gets a quick refusal instead of a queue that grows until jobs expire.
- Each key has a rate (a token bucket holding one second's worth) and its tenant a bound on jobs
  queued or running. Both are checked, and the job counted, by one Lua script in Redis: one round
  trip per submission, shared by every API process. A finished job leaves its tenant's set when
  its final view is written (``job_store.hot_state``); an entry older than ``job_timeout_s`` is
  dropped, so a lost finish can never hold a tenant back for good.
- The sync path serves at most ``sync_max_concurrency`` requests per process and sheds the rest
  with a 503.

Every shed request is counted in ``hybrid_requests_shed_total{reason}``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from hybrid_core.errors import SyncAtCapacity, TooManyRequests
from hybrid_core.queueing import JobQueue
from hybrid_core.settings import Settings
from job_store.hot_state import in_flight_key
from operation_server.metrics import REQUESTS_SHED
from operation_server.principal import Principal

DEPTH_CACHE_S = 0.25
"""How long one process trusts a queue-depth reading (one LLEN per quarter second, not per request)."""
QUEUE_FULL_RETRY_AFTER_S = 2

_ADMIT = """
-- KEYS[1] the key's token bucket, KEYS[2] the tenant's jobs in flight (job id -> admitted at)
-- ARGV rate_per_s, burst, max_in_flight, job_id, stale_after_s
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local max_in_flight = tonumber(ARGV[3])
if max_in_flight > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[5]))
  if redis.call('ZCARD', KEYS[2]) >= max_in_flight then return {1, 1} end
end
local rate = tonumber(ARGV[1])
if rate > 0 then
  local burst = tonumber(ARGV[2])
  local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
  local tokens = tonumber(bucket[1]) or burst
  local at = tonumber(bucket[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
  local ttl = math.ceil(burst / rate) + 1
  if tokens < 1 then
    redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
    redis.call('EXPIRE', KEYS[1], ttl)
    return {2, math.ceil((1 - tokens) / rate)}
  end
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'at', tostring(now))
  redis.call('EXPIRE', KEYS[1], ttl)
end
if max_in_flight > 0 then redis.call('ZADD', KEYS[2], now, ARGV[4]) end
return {0, 0}
"""
_IN_FLIGHT, _RATE = 1, 2


def bucket_key(key_name: str) -> str:
    return f"hybrid:rate:{key_name}"


class Admission:
    """The API's admission checks; one per process."""

    def __init__(self, settings: Settings, client: redis.Redis, queue: JobQueue) -> None:
        self._settings = settings
        self._queue = queue
        self._redis = client
        self._admit = client.register_script(_ADMIT)
        self._depth = (0, -math.inf)
        self._depth_lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._sync_running = 0

    def admit_job(self, caller: Principal, job_id: str, *, depth: int | None = None) -> None:
        """Let ``caller`` submit ``job_id``, counting it against its tenant; else TooManyRequests.

        ``depth``: the queue depth as just read from :meth:`cached_depth` (else it is read here).
        """
        limit = self._settings.max_queue_depth
        if limit and (depth if depth is not None else self.queue_depth()) >= limit:
            self._shed(
                TooManyRequests(
                    f"{limit} jobs are waiting already; retry later",
                    reason="queue_full",
                    retry_after_s=QUEUE_FULL_RETRY_AFTER_S,
                )
            )
        self._admit_key(caller, job_id)

    def admit_request(self, caller: Principal) -> None:
        """Let ``caller`` make a sync forecast (its rate only); else TooManyRequests."""
        self._admit_key(caller, None)

    def counts_in_redis(self, caller: Principal) -> bool:
        """Whether admitting ``caller``'s job costs a Redis round trip (a rate or in-flight limit)."""
        return bool(self._rate(caller) or self._max_in_flight(caller))

    def rate_limited(self, caller: Principal) -> bool:
        """Whether ``caller``'s requests are rate limited (and so cost a Redis round trip)."""
        return bool(self._rate(caller))

    def release(self, caller: Principal, job_id: str) -> None:
        """Uncount a job admitted but not recorded (its submission failed)."""
        if self._max_in_flight(caller):
            self._redis.zrem(in_flight_key(caller.tenant), job_id)

    @contextmanager
    def sync_slot(self) -> Iterator[None]:
        """Hold one of the process's sync slots for the block; 503 when none is free."""
        with self._sync_lock:
            if self._sync_running >= self._settings.sync_max_concurrency:
                full = True
            else:
                full = False
                self._sync_running += 1
        if full:
            limit = self._settings.sync_max_concurrency
            self._shed(SyncAtCapacity(f"{limit} sync forecasts are running; retry later or submit a job"))
        try:
            yield
        finally:
            with self._sync_lock:
                self._sync_running -= 1

    def cached_depth(self) -> int | None:
        """The queue depth when known without a Redis read (0 with no ``max_queue_depth``), else None."""
        if not self._settings.max_queue_depth:
            return 0
        depth, read_at = self._depth
        return depth if time.monotonic() - read_at < DEPTH_CACHE_S else None

    def queue_depth(self) -> int:
        """Jobs waiting in the queue, read at most every ``DEPTH_CACHE_S``."""
        depth, read_at = self._depth
        now = time.monotonic()
        if now - read_at < DEPTH_CACHE_S:
            return depth
        with self._depth_lock:
            depth, read_at = self._depth
            if now - read_at >= DEPTH_CACHE_S:
                depth = self._queue.depth()
                self._depth = (depth, time.monotonic())
        return depth

    def _max_in_flight(self, caller: Principal) -> int:
        return caller.max_in_flight if caller.max_in_flight is not None else self._settings.key_max_in_flight

    def _rate(self, caller: Principal) -> float:
        return caller.rate_per_s if caller.rate_per_s is not None else self._settings.key_rate_per_s

    def _admit_key(self, caller: Principal, job_id: str | None) -> None:
        rate = self._rate(caller)
        max_in_flight = self._max_in_flight(caller) if job_id is not None else 0
        if not rate and not max_in_flight:
            return  # nothing to count: no Redis round trip
        keys = [bucket_key(caller.name), in_flight_key(caller.tenant)]
        stale_after_s = self._settings.job_timeout_s
        args: list[str | float] = [rate, max(1.0, rate), max_in_flight, job_id or "", stale_after_s]
        verdict, wait_s = self._admit(keys=keys, args=args)
        if verdict == _IN_FLIGHT:
            self._shed(
                TooManyRequests(
                    f"tenant {caller.tenant!r} has {max_in_flight} jobs queued or running; retry when one "
                    "ends",
                    reason="too_many_in_flight",
                )
            )
        if verdict == _RATE:
            self._shed(
                TooManyRequests(
                    f"key {caller.name!r} is over its {rate:g} requests per second",
                    reason="rate_limited",
                    retry_after_s=max(1, int(wait_s)),
                )
            )

    @staticmethod
    def _shed(error: TooManyRequests | SyncAtCapacity) -> None:
        REQUESTS_SHED.labels(error.reason if isinstance(error, TooManyRequests) else error.code).inc()
        raise error
