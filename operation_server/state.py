"""The API's long-lived resources, built once per process in the app's lifespan."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import redis
import redis.asyncio as aioredis
from sqlalchemy import Engine

from hybrid_core.queueing import JobQueue, make_celery
from hybrid_core.settings import Settings
from job_store.accuracy import AccuracyStore
from job_store.api_keys import KeyCache, KeyStore
from job_store.database import make_engine, make_session_factory, migrate
from job_store.hot_state import HotJobState
from job_store.jobs import JobStore
from job_store.lifecycle import JobLifecycle
from job_store.rollouts import RolloutStore
from operation_server.admission import Admission
from operation_server.catalog import ModelCatalog
from operation_server.rollout.service import RolloutService
from operation_server.rollout.triton_sync import version_stager
from operation_server.submission import Submitter
from operation_server.waiter import JobDoneWaiter
from triton_client import AsyncTritonPool, ControlKey, TritonPool

logger = logging.getLogger(__name__)


def _finished_background(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("background work failed", exc_info=task.exception())


@dataclass
class ApiState:
    settings: Settings
    engine: Engine
    store: JobStore
    lifecycle: JobLifecycle
    """Finishes jobs the API ends itself: sync ``record=true``, enqueue failures, the sweeper."""
    hot: HotJobState
    redis: redis.Redis
    aioredis: aioredis.Redis
    triton: TritonPool
    """Every Triton replica: model control per replica, readiness probed in a background thread."""
    catalog: ModelCatalog
    queue: JobQueue
    waiter: JobDoneWaiter
    rollout: RolloutService
    triton_aio: AsyncTritonPool
    """The sync forecast path's pool (sharing ``triton``'s replica health); bound to the event loop
    that built it (close it there)."""
    keys: KeyCache
    """API keys, looked up through a short cache."""
    admission: Admission
    accuracy: AccuracyStore
    """Forecasts kept for scoring, actuals and their scores."""
    submitter: Submitter
    """Records and enqueues accepted jobs, many per transaction (bound to the serving event loop)."""
    background: set[asyncio.Task[None]] = field(default_factory=set)
    """Work a request started and does not wait for (sync shadow runs)."""

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` after the answer; a failure is logged, never raised to a caller."""
        task = asyncio.get_running_loop().create_task(work)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        task.add_done_callback(_finished_background)

    def close(self) -> None:
        self.triton.close()
        self.redis.close()
        self.engine.dispose()


API_DB_POOL_SIZE = 40
RECORDING_WORKER = f"api@{socket.gethostname()}"
"""The ``worker`` column of results the API recorded itself."""


def build_state(settings: Settings) -> ApiState:
    """Connect to the database (migrating it), Redis, Triton and the Celery broker.

    Call it in the running event loop that serves requests: the aio Triton channel binds to it.
    """
    # Sync routes run in AnyIO's thread pool (40 threads) besides the upkeep tasks.
    engine = make_engine(settings.resolved_database_url, pool_size=API_DB_POOL_SIZE)
    migrate(engine)
    sync_redis = redis.Redis.from_url(settings.redis_url)
    async_redis = aioredis.Redis.from_url(settings.redis_url)
    # The control key lets the rollout controller read the repository index and load/unload versions.
    control_key = ControlKey.configured(settings.triton_control_header, settings.triton_control_secret)
    triton = TritonPool(
        settings.triton_urls,
        infer_timeout_s=settings.triton_timeout_s,
        control_key=control_key,
        health_interval_s=settings.triton_health_interval_s,
    )
    triton.start_probing()
    sessions = make_session_factory(engine)
    jobs = JobStore(sessions)
    accuracy = AccuracyStore(sessions)
    hot = HotJobState(sync_redis)
    catalog = ModelCatalog(settings.model_repository, triton)
    topic = settings.kafka_topic if settings.kafka_bootstrap_servers else None
    queue = JobQueue(make_celery(settings), sync_redis)
    lifecycle = JobLifecycle(jobs, hot, topic=topic, worker=RECORDING_WORKER)
    return ApiState(
        settings=settings,
        engine=engine,
        store=jobs,
        lifecycle=lifecycle,
        hot=hot,
        redis=sync_redis,
        aioredis=async_redis,
        triton=triton,
        catalog=catalog,
        queue=queue,
        waiter=JobDoneWaiter(async_redis),
        rollout=RolloutService(RolloutStore(sessions), jobs, accuracy, catalog, version_stager(settings)),
        triton_aio=AsyncTritonPool(triton.replica_set, infer_timeout_s=settings.triton_timeout_s),
        keys=KeyCache(KeyStore(sessions), settings.key_cache_s),
        admission=Admission(settings, sync_redis, queue),
        accuracy=accuracy,
        submitter=Submitter(lifecycle, queue),
    )
