"""Faults under a steady load: every job ends in a recorded state soon after the last fault.

The module runs its own stack as separate processes: Triton, a Redis with an append-only file,
a PostgreSQL database, two workers and the API (short reconcile bounds, so a lost message is
found within seconds). While clients submit one-series jobs, it injects in turn: a worker
SIGKILLed, tritonserver SIGKILLed for 10 s, Redis SIGKILLed for 5 s, every database connection
terminated, the API SIGKILLed. This test restarts what it killed, as a supervisor would, and
restarts a worker that exits by itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select, text

from job_store.database import make_engine, migrate
from job_store.jobs import utcnow
from job_store.models import EventOutbox, Job, JobResult
from local_stack.processes import ManagedProcess
from local_stack.redis_server import RedisServer
from local_stack.triton_server import LocalTritonServer, find_free_port
from local_stack.waiting import wait_until
from tests.conftest import CANONICAL_REPOSITORY
from tests.support.data import request_series
from tests.support.processes import Launched, launch_api, launch_worker, started, stop_all
from tests.support.services import postgres_database
from tests.support.triton import module_triton

pytestmark = pytest.mark.integration

SERIES = request_series(1, 200, seed=9)
RECOVERY_BOUND_S = 60.0
CLIENTS = 3
BETWEEN_FAULTS_S = 2.0
"""Load before, between and after the faults: at about 40 accepted jobs/s, each fault finds many in flight."""


@dataclass
class Load:
    """Clients submitting jobs until stopped; what they were answered."""

    url: str
    accepted: list[str] = field(default_factory=list)
    refused: list[tuple[int, str | None]] = field(default_factory=list)
    unreachable: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=15) as client:
            while not self.stop.is_set():
                try:
                    response = client.post("/v1/jobs", json={"model": "lstm_timeseries", "series": SERIES})
                except httpx.TransportError:
                    self.unreachable += 1
                    time.sleep(0.2)
                    continue
                if response.status_code == 202:
                    self.accepted.append(response.json()["job_id"])
                else:
                    self.refused.append((response.status_code, response.headers.get("Retry-After")))
                time.sleep(0.05)


@dataclass
class FaultStack:
    env: dict[str, str]
    triton: LocalTritonServer
    redis: RedisServer
    engine: Engine
    logs: Path
    api_port: int
    workers: list[ManagedProcess] = field(default_factory=list)
    api: ManagedProcess | None = None

    def launch_worker(self, index: int) -> Launched:
        return launch_worker(self.env, self.logs / f"worker-faults-{index}.log", concurrency=8)

    def start_worker(self, index: int) -> ManagedProcess:
        [worker] = started(self.launch_worker(index))
        return worker

    def launch_api(self) -> Launched:
        return launch_api(self.env, self.logs / "api-faults.log", self.api_port)

    def start_api(self) -> None:
        [self.api] = started(self.launch_api())


@pytest.fixture(scope="module")
def fault_stack(service_env: dict[str, str], session_dir: Path) -> Iterator[FaultStack]:
    logs = session_dir / "logs"
    redis = RedisServer(find_free_port(), session_dir / "redis-faults", appendonly=True)
    triton_dir = session_dir / "triton-faults"
    with (
        module_triton(CANONICAL_REPOSITORY, triton_dir, models=["lstm_timeseries"]) as triton,
        redis,
        postgres_database() as database_url,
    ):
        env = dict(service_env)
        env.update(
            {
                "HYBRID_DATABASE_URL": database_url,
                "HYBRID_REDIS_URL": redis.url,
                "HYBRID_TRITON_GRPC_URL": triton.grpc_url,
                **triton.control_env(),
                "HYBRID_RECONCILE_INTERVAL_S": "1",
                "HYBRID_REQUEUE_AFTER_S": "4",
                "HYBRID_JOB_LEASE_S": "6",
            }
        )
        engine = make_engine(database_url)
        migrate(engine)
        stack = FaultStack(env, triton, redis, engine, logs, find_free_port())
        *stack.workers, stack.api = started(
            stack.launch_worker(0), stack.launch_worker(1), stack.launch_api()
        )
        try:
            yield stack
        finally:
            stop_all(*([stack.api] if stack.api is not None else []), *stack.workers)
            engine.dispose()


def supervise_workers(stack: FaultStack, stop: threading.Event) -> None:
    """Restart a worker that died (killed, or crashed by a broker outage), as Compose would."""
    while not stop.wait(0.5):
        for index, worker in enumerate(stack.workers):
            if worker.process is not None and worker.process.poll() is not None:
                # Redis may still be down: the next round tries again.
                with contextlib.suppress(RuntimeError):
                    stack.workers[index] = stack.start_worker(index)


def terminate_connections(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )


def unfinished(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.scalar(select(func.count()).where(Job.status.in_(("queued", "running")))) or 0
        )


def test_every_job_finishes_recorded_when_faults_hit_under_load(fault_stack: FaultStack) -> None:
    stack = fault_stack
    load = Load(f"http://127.0.0.1:{stack.api_port}")
    clients = [threading.Thread(target=load.run, daemon=True) for _ in range(CLIENTS)]
    stop_supervisor = threading.Event()
    supervisor = threading.Thread(target=supervise_workers, args=(stack, stop_supervisor), daemon=True)
    for thread in [*clients, supervisor]:
        thread.start()
    cleared: dict[str, datetime] = {}
    """When each fault cleared (wall clock, as the database records jobs)."""
    try:
        time.sleep(BETWEEN_FAULTS_S)
        stack.workers[0].kill()  # a worker SIGKILLed mid-batch
        cleared["worker SIGKILL"] = utcnow()
        time.sleep(BETWEEN_FAULTS_S)
        assert stack.triton.pid is not None
        os.kill(stack.triton.pid, signal.SIGKILL)
        time.sleep(10)
        stack.triton.start()
        cleared["tritonserver down 10 s"] = utcnow()
        time.sleep(BETWEEN_FAULTS_S)
        stack.redis.kill()
        time.sleep(5)
        stack.redis.start()
        cleared["Redis down 5 s"] = utcnow()
        time.sleep(BETWEEN_FAULTS_S)
        terminate_connections(stack.engine)
        cleared["database connections terminated"] = utcnow()
        time.sleep(BETWEEN_FAULTS_S)
        assert stack.api is not None
        stack.api.kill()
        stack.start_api()
        cleared["API SIGKILL"] = utcnow()
        time.sleep(BETWEEN_FAULTS_S)
    finally:
        load.stop.set()
        for thread in clients:
            thread.join(timeout=30)
    load_stopped = time.monotonic()
    wait_until(lambda: unfinished(stack.engine) == 0, timeout_s=RECOVERY_BOUND_S, message="every job final")
    stop_supervisor.set()
    recovered_s = time.monotonic() - load_stopped

    with stack.engine.connect() as connection:
        jobs = {
            row.id: row
            for row in connection.execute(
                select(Job.id, Job.status, Job.error_code, Job.created_at, Job.finished_at)
            )
        }
        results = {
            job_id: count
            for job_id, count in connection.execute(
                select(JobResult.job_id, func.count()).group_by(JobResult.job_id)
            )
        }
        events = {
            job_id: count
            for job_id, count in connection.execute(
                select(EventOutbox.job_id, func.count()).group_by(EventOutbox.job_id)
            )
        }
    assert len(load.accepted) >= 50, f"too little load: {len(load.accepted)} jobs accepted"
    assert set(load.accepted) <= set(jobs), "an accepted job has no record"
    succeeded = [job_id for job_id, row in jobs.items() if row.status == "succeeded"]
    failed = [row for row in jobs.values() if row.status == "failed"]
    assert all(results.get(job_id) == 1 for job_id in succeeded), "a succeeded job without exactly one result"
    assert all(events.get(job_id) == 1 for job_id in succeeded), "a succeeded job without exactly one event"
    assert all(row.error_code for row in failed), "a failed job without a reason"
    accepted_failed = [row for row in failed if row.id in set(load.accepted)]
    assert all(row.error_code != "job_expired" for row in accepted_failed)
    assert all(status == 503 and retry_after for status, retry_after in load.refused), load.refused
    hit = {fault: jobs_in_flight_at(jobs.values(), at) for fault, at in cleared.items()}
    for fault, in_flight in hit.items():
        late = [job.id for job, after_s in in_flight if after_s > RECOVERY_BOUND_S]
        assert not late, f"{fault}: {len(late)} jobs finished more than {RECOVERY_BOUND_S} s after it cleared"
    print(
        f"accepted {len(load.accepted)}, refused {len(load.refused)} (503), unreachable {load.unreachable}, "
        f"jobs {len(jobs)}: succeeded {len(succeeded)}, failed {len(failed)} "
        f"{sorted({row.error_code for row in failed})}; all final {recovered_s:.1f} s after the load "
        f"stopped ({BETWEEN_FAULTS_S:g} s after the last fault)"
    )
    for fault, in_flight in hit.items():
        waits = sorted(after_s for _, after_s in in_flight)
        summary = f"max {waits[-1]:.1f} s, median {waits[len(waits) // 2]:.1f} s" if waits else "-"
        print(f"  {fault}: {len(waits)} jobs unfinished when it cleared; finished after it: {summary}")


def jobs_in_flight_at(jobs: Iterable[Any], at: datetime) -> list[tuple[Any, float]]:
    """The jobs accepted before ``at`` and finished after it, with how long after it they finished."""
    return [
        (job, (job.finished_at - at).total_seconds())
        for job in jobs
        if job.finished_at is not None and job.created_at <= at < job.finished_at
    ]
