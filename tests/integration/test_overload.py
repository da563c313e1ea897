"""Overload: twice the measured capacity, offered open loop, is shed quickly and loses nothing.

The module runs its own API and worker on a database and Redis database of their own, with a
small ``HYBRID_MAX_QUEUE_DEPTH``. It measures capacity (a burst of jobs, timed until all are
done), then offers twice that rate for ``OVERLOAD_S`` seconds whatever the answers, and checks:
the queue stays bounded, every shed request is a 429 with ``Retry-After``, every accepted job
succeeds, and the accepted jobs' p99 stays under the bound the queue depth implies.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pytest
import redis
from sqlalchemy import Engine, func, select

from hybrid_core.queueing import JOBS_QUEUE
from job_store.database import make_engine, migrate
from job_store.models import Job
from local_stack.triton_server import find_free_port
from local_stack.waiting import wait_until
from tests.support.data import request_series
from tests.support.processes import launch_api, launch_worker, started, stop_all
from tests.support.services import postgres_database

pytestmark = pytest.mark.integration

MAX_QUEUE_DEPTH = 150
OVERLOAD_S = float(os.environ.get("HYBRID_TEST_OVERLOAD_S", "20"))
"""The queue fills within about 150 / capacity s (4 s at 40 jobs/s); the rest is steady shedding."""
JOB = {"model": "lstm_timeseries", "series": request_series(1, 200, seed=13)}
MAX_OUTSTANDING = 256
"""Open loop, but a bounded number of requests on the wire (the load generator shares 2 cores)."""


@dataclass
class Offered:
    accepted: list[str] = field(default_factory=list)
    shed: list[str | None] = field(default_factory=list)
    """Retry-After of each 429."""
    other: list[int] = field(default_factory=list)
    dropped: int = 0
    """Arrivals not sent because MAX_OUTSTANDING requests were already on the wire."""
    started: float = 0.0
    sent_for_s: float = 0.0
    """How long sending took: longer than asked when the generator could not keep the rate."""


@dataclass
class OverloadStack:
    url: str
    engine: Engine
    redis_url: str


@pytest.fixture(scope="module")
def overload_stack(service_env: dict[str, str], redis_url: str, session_dir: Path) -> Iterator[OverloadStack]:
    with postgres_database() as database_url:
        env = dict(service_env)
        env.update(
            {
                "HYBRID_DATABASE_URL": database_url,
                "HYBRID_REDIS_URL": redis_url.rsplit("/", 1)[0] + "/10",
                "HYBRID_MAX_QUEUE_DEPTH": str(MAX_QUEUE_DEPTH),
                "HYBRID_KAFKA_BOOTSTRAP_SERVERS": "",
                # One job at a time: a worker slow enough that the load generator, on the same
                # 2 cores, can offer twice what it finishes.
                "HYBRID_WORKER_BATCH_MAX_JOBS": "1",
            }
        )
        redis.Redis.from_url(env["HYBRID_REDIS_URL"]).flushdb()
        engine = make_engine(database_url)
        migrate(engine)
        logs = session_dir / "logs"
        port = find_free_port()
        worker, api = started(
            launch_worker(env, logs / "worker-overload.log", concurrency=1),
            launch_api(env, logs / "api-overload.log", port),
        )
        try:
            yield OverloadStack(f"http://127.0.0.1:{port}", engine, env["HYBRID_REDIS_URL"])
        finally:
            stop_all(api, worker)
            engine.dispose()


def unfinished(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).where(Job.status.in_(("queued", "running")))) or 0)


def measure_capacity(stack: OverloadStack, jobs: int = 100) -> float:
    """Jobs per second the worker finishes: a burst queued at once, timed until the last is done."""
    started = time.monotonic()

    async def burst() -> None:
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
            answers = await asyncio.gather(*(client.post("/v1/jobs", json=JOB) for _ in range(jobs)))
        assert {answer.status_code for answer in answers} == {202}

    asyncio.run(burst())
    wait_until(lambda: unfinished(stack.engine) == 0, timeout_s=120, interval_s=0.05, message="burst done")
    return jobs / (time.monotonic() - started)


async def offer(url: str, rate_per_s: float, duration_s: float) -> Offered:
    """Send POSTs at ``rate_per_s`` for ``duration_s`` whatever the answers (open loop)."""
    offered = Offered()
    outstanding: set[asyncio.Task[None]] = set()
    limits = httpx.Limits(max_connections=MAX_OUTSTANDING, max_keepalive_connections=MAX_OUTSTANDING)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def one() -> None:
            response = await client.post("/v1/jobs", json=JOB)
            if response.status_code == 202:
                offered.accepted.append(response.json()["job_id"])
            elif response.status_code == 429:
                offered.shed.append(response.headers.get("Retry-After"))
            else:
                offered.other.append(response.status_code)

        loop = asyncio.get_running_loop()
        start = loop.time()
        offered.started = start
        for index in range(int(rate_per_s * duration_s)):
            await asyncio.sleep(max(0.0, start + index / rate_per_s - loop.time()))
            if len(outstanding) >= MAX_OUTSTANDING:
                offered.dropped += 1
                continue
            task = asyncio.create_task(one())
            outstanding.add(task)
            task.add_done_callback(outstanding.discard)
        offered.sent_for_s = loop.time() - start
        await asyncio.gather(*outstanding)
    return offered


def test_overload_sheds_with_429_and_loses_nothing_when_offered_twice_capacity(
    overload_stack: OverloadStack,
) -> None:
    stack = overload_stack
    # A fresh worker's first jobs are slower (connections, Triton's first batches), and batches grow
    # with the queue: a cold burst measured 29 jobs/s where 58/s offered never filled the queue.
    measure_capacity(stack, jobs=50)
    capacity = measure_capacity(stack, jobs=MAX_QUEUE_DEPTH - 20)
    depths: list[int] = []
    stop = threading.Event()
    broker = redis.Redis.from_url(stack.redis_url)

    def sample_depth() -> None:
        while not stop.wait(1.0):
            depths.append(int(broker.llen(JOBS_QUEUE)))

    sampler = threading.Thread(target=sample_depth, daemon=True)
    sampler.start()
    offered = asyncio.run(offer(stack.url, 2 * capacity, OVERLOAD_S))
    stop.set()
    sampler.join()
    wait_until(lambda: unfinished(stack.engine) == 0, timeout_s=120, message="accepted jobs finished")

    with stack.engine.connect() as connection:
        rows = connection.execute(
            select(Job.status, Job.created_at, Job.finished_at).where(Job.id.in_(offered.accepted))
        ).all()
    latencies_s = [(row.finished_at - row.created_at).total_seconds() for row in rows]
    p99_s = float(np.percentile(latencies_s, 99))
    # A job waits behind at most the queue's bound (plus what arrives while depth is re-read) at the
    # measured rate; twice that, plus a second, leaves room for a noisy 2-core machine.
    bound_s = 2 * (MAX_QUEUE_DEPTH + 0.25 * 2 * capacity) / capacity + 1
    print(
        f"capacity {capacity:.0f} jobs/s; offered {2 * capacity:.0f}/s for {OVERLOAD_S:.0f} s "
        f"(sent in {offered.sent_for_s:.0f} s): "
        f"accepted {len(offered.accepted)}, shed {len(offered.shed)} (429), other {offered.other}, "
        f"not sent (generator limit) {offered.dropped}; accepted p50 "
        f"{np.percentile(latencies_s, 50):.2f} s, p99 {p99_s:.2f} s (bound {bound_s:.1f} s); "
        f"queue depth per second: max {max(depths)}, {depths}"
    )
    assert offered.shed, "nothing was shed at twice the capacity"
    assert all(retry_after is not None and int(retry_after) >= 1 for retry_after in offered.shed)
    assert not offered.other, offered.other
    assert len(rows) == len(offered.accepted)
    assert {row.status for row in rows} == {"succeeded"}
    assert max(depths) <= MAX_QUEUE_DEPTH + 0.25 * 2 * capacity + MAX_OUTSTANDING / 4
    assert p99_s <= bound_s
