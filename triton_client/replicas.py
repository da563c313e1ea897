"""Health and load of each Triton replica of a process, shared by its sync and async pools.

A replica is *healthy* while it is in the pool. A call that fails in a way that says the
replica may be gone (unavailable, past its deadline) takes it out; a liveness probe that
passes takes it back. The pool picks the healthy replica with the fewest requests in flight,
ties going round robin.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from hybrid_core.errors import HybridError
from triton_client.metrics import (
    REPLICA_ERRORS,
    REPLICA_FAILOVERS,
    REPLICA_HEALTHY,
    REPLICA_IN_FLIGHT,
    REPLICA_REQUESTS,
)


@dataclass(frozen=True)
class ReplicaStatus:
    """One replica as its pool sees it now."""

    url: str
    healthy: bool
    in_flight: int
    last_error: str | None
    down_since_s: float | None
    """``time.monotonic()`` when it was taken out; None while healthy."""


@dataclass
class _Replica:
    url: str
    healthy: bool = True
    in_flight: int = 0
    last_error: str | None = None
    down_since_s: float | None = None


class ReplicaSet:
    """Thread-safe per-replica state; the one place that takes replicas out and back."""

    def __init__(self, urls: Sequence[str]) -> None:
        if not urls:
            raise ValueError("a Triton pool needs at least one replica URL")
        if len(set(urls)) != len(urls):
            raise ValueError(f"Triton replica URLs repeat: {list(urls)}")
        self._replicas = [_Replica(url) for url in urls]
        self._lock = threading.Lock()
        self._turn = itertools.count()
        for replica in self._replicas:
            REPLICA_HEALTHY.labels(replica.url).set(1)
            REPLICA_IN_FLIGHT.labels(replica.url).set(0)
            REPLICA_REQUESTS.labels(replica.url)

    @property
    def urls(self) -> list[str]:
        return [replica.url for replica in self._replicas]

    def __len__(self) -> int:
        return len(self._replicas)

    def choose(self, exclude: Collection[int] = ()) -> int | None:
        """The healthy replica not in ``exclude`` with the fewest requests in flight (None: none left).

        With no healthy replica at all and none tried yet, the one taken out longest ago gets one
        try: a one-replica pool then behaves as a plain client, and a pool whose replicas all blinked
        does not refuse work until the next probe.
        """
        with self._lock:
            count = len(self._replicas)
            start = next(self._turn) % count
            order = [(start + step) % count for step in range(count)]
            healthy = [i for i in order if self._replicas[i].healthy and i not in exclude]
            if healthy:
                return min(healthy, key=lambda i: self._replicas[i].in_flight)
            if exclude or any(r.healthy for r in self._replicas):
                return None
            return min(range(count), key=lambda i: self._replicas[i].down_since_s or 0.0)

    @contextmanager
    def request(self, index: int) -> Iterator[None]:
        """Count one request in flight to replica ``index`` for the duration of the block."""
        url = self._replicas[index].url
        with self._lock:
            self._replicas[index].in_flight += 1
        REPLICA_REQUESTS.labels(url).inc()
        REPLICA_IN_FLIGHT.labels(url).inc()
        try:
            yield
        finally:
            with self._lock:
                self._replicas[index].in_flight -= 1
            REPLICA_IN_FLIGHT.labels(url).dec()

    def failed(self, index: int, error: HybridError, *, take_out: bool, retried: bool) -> None:
        """Record a failed call; ``take_out`` when the failure says the replica may be gone."""
        url = self._replicas[index].url
        REPLICA_ERRORS.labels(url, error.code).inc()
        if retried:
            REPLICA_FAILOVERS.labels(url).inc()
        if take_out:
            self.mark_down(index, error.message)

    def mark_down(self, index: int, reason: str) -> None:
        with self._lock:
            replica = self._replicas[index]
            replica.last_error = reason
            if replica.healthy:
                replica.healthy = False
                replica.down_since_s = time.monotonic()
        REPLICA_HEALTHY.labels(replica.url).set(0)

    def mark_up(self, index: int) -> None:
        with self._lock:
            replica = self._replicas[index]
            replica.healthy = True
            replica.down_since_s = None
        REPLICA_HEALTHY.labels(replica.url).set(1)

    def is_healthy(self, index: int) -> bool:
        with self._lock:
            return self._replicas[index].healthy

    def healthy_indexes(self) -> list[int]:
        with self._lock:
            return [i for i, replica in enumerate(self._replicas) if replica.healthy]

    def statuses(self) -> list[ReplicaStatus]:
        with self._lock:
            return [
                ReplicaStatus(r.url, r.healthy, r.in_flight, r.last_error, r.down_since_s)
                for r in self._replicas
            ]
