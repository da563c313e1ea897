"""The API's submitter against real PostgreSQL and Redis: concurrent submissions are recorded and
enqueued together, and a broker that refuses them leaves each job recorded as failed."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine

from hybrid_core.errors import ServiceUnavailable
from hybrid_core.queueing import JOBS_QUEUE, RUN_JOB_TASK, JobQueue, make_celery
from hybrid_core.settings import Settings
from job_store.database import make_session_factory
from job_store.hot_state import HotJobState
from job_store.jobs import JobStore, NewJob
from job_store.lifecycle import JobLifecycle
from local_stack.triton_server import find_free_port
from operation_server.submission import Submitter
from tests.support.services import redis_server

pytestmark = pytest.mark.integration


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[str]:
    """A Redis no worker consumes from, so the queued messages stay to be read."""
    with redis_server(tmp_path / "redis") as url:
        yield url


def _submitter(db_engine: Engine, redis_url: str) -> tuple[Submitter, JobStore]:
    store = JobStore(make_session_factory(db_engine))
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=1)
    lifecycle = JobLifecycle(store, HotJobState(client), topic=None, worker="api@test")
    queue = JobQueue(make_celery(Settings(redis_url=redis_url)), client)
    return Submitter(lifecycle, queue), store


def _job() -> NewJob:
    return NewJob(uuid.uuid4().hex, "lstm_timeseries", "1", "pinned", None, 4, [[1.0, 2.0, 3.0]])


async def _record_together(submitter: Submitter, jobs: list[NewJob]) -> list[ServiceUnavailable | None]:
    return await asyncio.gather(*(submitter.record(job) for job in jobs))


def test_submitter_records_and_enqueues_every_job_when_submitted_concurrently(
    db_engine: Engine, private_redis: str
) -> None:
    submitter, store = _submitter(db_engine, private_redis)
    jobs = [_job() for _ in range(12)]

    refusals = asyncio.run(_record_together(submitter, jobs))

    assert refusals == [None] * 12
    for job in jobs:
        recorded = store.get(job.job_id)
        assert recorded is not None and recorded.status == "queued"
    messages = [json.loads(raw) for raw in redis.Redis.from_url(private_redis).lrange(JOBS_QUEUE, 0, -1)]
    assert all(message["headers"]["task"] == RUN_JOB_TASK for message in messages)
    job_ids = [json.loads(base64.b64decode(message["body"]))[0][0] for message in messages]
    assert sorted(job_ids) == sorted(job.job_id for job in jobs)


def test_submitter_records_each_job_failed_when_the_broker_refuses_them(db_engine: Engine) -> None:
    dead_redis = f"redis://127.0.0.1:{find_free_port()}/0"  # nothing listens there
    submitter, store = _submitter(db_engine, dead_redis)
    jobs = [_job() for _ in range(3)]

    refusals = asyncio.run(_record_together(submitter, jobs))

    assert all(isinstance(refusal, ServiceUnavailable) for refusal in refusals)
    for job in jobs:
        recorded = store.get(job.job_id)
        assert recorded is not None and recorded.status == "failed"
        assert recorded.error_code == "enqueue_failed"
