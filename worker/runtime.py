"""Per-process resources of a worker, created lazily after the process forked.

A gRPC channel created before ``fork()`` hangs in the child (a known tritonclient
issue), so nothing here is built at import time: the first task of each process
builds it, and ``worker_process_init`` discards anything inherited from a parent.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import redis
from celery.signals import worker_process_init, worker_shutdown

from event_bus import OutboxRelay
from hybrid_core.gc_tuning import settle_heap
from hybrid_core.metrics import TRITON_IN_FLIGHT
from hybrid_core.settings import Settings, get_settings
from hybrid_core.version_params import VersionParams, load_version_params
from job_store.database import make_engine, make_session_factory, migrate
from job_store.hot_state import HotJobState
from job_store.jobs import JobStore
from job_store.lifecycle import JobLifecycle
from triton_client import InferenceOutput, TritonPool
from worker.gathering import JobGatherer
from worker.leases import LeaseKeeper
from worker.metrics import KAFKA_EVENTS_PENDING

TRITON_PROBE_S = 0.25
"""How often a batch held by :meth:`WorkerRuntime.wait_for_triton` asks Triton again."""


@dataclass
class WorkerRuntime:
    """Everything a task needs, shared by the threads of one worker process."""

    settings: Settings
    store: JobStore
    lifecycle: JobLifecycle
    triton: TritonPool
    infer_pool: ThreadPoolExecutor
    leases: LeaseKeeper
    relay: OutboxRelay | None = None
    gatherer: JobGatherer | None = None
    """Set by the tasks module: it binds the batch logic of ``worker.service`` to this runtime."""

    def params(self, model: str, version: str) -> VersionParams:
        """The pinned version's parameters from the model repository."""
        return load_version_params(Path(self.settings.model_repository), model, version)

    def infer(self, model: str, version: str, batch: npt.NDArray[np.float32]) -> InferenceOutput:
        """Run one batch of a pinned version; the one seam between job logic and Triton."""
        with TRITON_IN_FLIGHT.track_inprogress():
            return self.triton.infer(model, batch, version=version)

    def wait_for_triton(self) -> bool:
        """True at once while a Triton replica is in the pool; else probe every ``TRITON_PROBE_S``
        until one answers, for up to ``worker_triton_wait_s`` (a third of the visibility timeout at
        most, so the held messages are not redelivered meanwhile). False if none answered.

        A batch that waits here holds its jobs' task threads, so the worker takes no new messages
        while Triton is away. Sending every job straight back with a short retry instead made the
        workers spin: on 2 cores that retry storm slowed a Triton restart from 5 s to 45 s.
        """
        if self.triton.replicas(healthy_only=True):
            return True
        settings = self.settings
        wait_s = min(settings.worker_triton_wait_s, settings.task_visibility_timeout_s / 3)
        deadline = time.monotonic() + wait_s
        while not self.triton.is_server_ready():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(TRITON_PROBE_S, remaining))
        return True

    def close(self) -> None:
        self.leases.stop()
        if self.gatherer is not None:
            self.gatherer.close()
        if self.relay is not None:
            self.relay.stop()
        self.infer_pool.shutdown(wait=False, cancel_futures=True)
        self.triton.close()


def build_runtime(settings: Settings) -> WorkerRuntime:
    """Connect to the database (migrating it), Redis and Triton."""
    # Every task thread, every bulk-inference thread, the outbox relay and the lease renewal
    # may hold a connection.
    pool_size = settings.worker_concurrency + settings.worker_infer_threads + 3
    engine = make_engine(settings.resolved_database_url, pool_size=pool_size)
    migrate(engine)
    sessions = make_session_factory(engine)
    relay = None
    if settings.kafka_bootstrap_servers:
        # kafka-python logs an ERROR per failed connection during a broker outage; the relay
        # already records each failure on the outbox row.
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
        relay = OutboxRelay.from_settings(settings, sessions)
        relay.start()
        KAFKA_EVENTS_PENDING.set_function(relay.pending_count)
    store = JobStore(sessions)
    topic = settings.kafka_topic if settings.kafka_bootstrap_servers else None
    lifecycle = JobLifecycle(
        store,
        HotJobState(redis.Redis.from_url(settings.redis_url)),
        topic=topic,
        worker=socket.gethostname(),
        # Publish the batch's outbox events now rather than at the relay's next tick.
        on_finished=relay.wake if relay is not None else None,
    )
    return WorkerRuntime(
        settings=settings,
        store=store,
        lifecycle=lifecycle,
        relay=relay,
        triton=_triton_pool(settings),
        infer_pool=ThreadPoolExecutor(settings.worker_infer_threads, thread_name_prefix="triton-infer"),
        leases=LeaseKeeper(
            lambda job_ids: store.renew_leases(job_ids, lease_s=settings.job_lease_s),
            lease_s=settings.job_lease_s,
        ),
    )


def _triton_pool(settings: Settings) -> TritonPool:
    """Every Triton replica, probed in this process's own thread (built after the fork)."""
    pool = TritonPool(
        settings.triton_urls,
        infer_timeout_s=settings.triton_timeout_s,
        health_interval_s=settings.triton_health_interval_s,
    )
    pool.start_probing()
    return pool


_runtime: WorkerRuntime | None = None
_lock = threading.Lock()


def get_runtime() -> WorkerRuntime:
    """This process's runtime, built on first use."""
    global _runtime
    if _runtime is None:
        with _lock:
            if _runtime is None:
                _runtime = build_runtime(get_settings())
                settle_heap()  # the consumer, the runtime and its clients live as long as the process
    return _runtime


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _forget_inherited_runtime(**_: object) -> None:
    # A prefork child must not reuse its parent's gRPC channel or connections.
    global _runtime
    _runtime = None


@worker_shutdown.connect  # type: ignore[untyped-decorator]
def _close_runtime(**_: object) -> None:
    global _runtime
    if _runtime is not None:
        _runtime.close()
        _runtime = None
