"""The database decides that a job runs: a job whose queue message was lost still finishes.

The jobs here are written straight into the database, as if their message had been lost
(queued, never enqueued) or dropped while running. The module runs its own API with short
reconcile bounds and its own worker, on a Redis database and a PostgreSQL database of their own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update

from job_store.database import make_engine, make_session_factory, migrate
from job_store.jobs import JobStore, NewJob, utcnow
from job_store.models import Job, JobResult
from job_store.pass_lock import exclusive_pass
from local_stack.triton_server import find_free_port
from local_stack.waiting import wait_until
from tests.support.data import request_series
from tests.support.processes import launch_api, launch_worker, started, stop_all
from tests.support.services import postgres_database

pytestmark = pytest.mark.integration

SERIES = request_series(1, 200, seed=5)
MAX_RETRIES = 3


@pytest.fixture(scope="module")
def reconcile_env(service_env: dict[str, str], redis_url: str) -> Iterator[dict[str, str]]:
    with postgres_database() as database_url:
        env = dict(service_env)
        env.update(
            {
                "HYBRID_DATABASE_URL": database_url,
                "HYBRID_REDIS_URL": redis_url.rsplit("/", 1)[0] + "/7",
                "HYBRID_RECONCILE_INTERVAL_S": "0.5",
                "HYBRID_REQUEUE_AFTER_S": "2",
                "HYBRID_JOB_LEASE_S": "3",
                "HYBRID_TASK_MAX_RETRIES": str(MAX_RETRIES),
            }
        )
        yield env


@pytest.fixture(scope="module")
def engine(reconcile_env: dict[str, str]) -> Iterator[Engine]:
    engine = make_engine(reconcile_env["HYBRID_DATABASE_URL"])
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def platform(reconcile_env: dict[str, str], engine: Engine, session_dir: Path) -> Iterator[None]:
    logs = session_dir / "logs"
    worker, api = started(
        launch_worker(reconcile_env, logs / "worker-reconcile.log"),
        launch_api(reconcile_env, logs / "api-reconcile.log", find_free_port()),
    )
    yield
    stop_all(api, worker)


def lost_job(engine: Engine, *, status: str, age_s: float, attempts: int = 0, lease_s: float = 0) -> str:
    """A job in the database whose queue message does not exist; a running one leased ``lease_s``."""
    job_id = uuid.uuid4().hex
    store = JobStore(make_session_factory(engine))
    store.create(NewJob(job_id, "lstm_timeseries", "2", "pinned", None, 24, SERIES))
    then = utcnow() - timedelta(seconds=age_s)
    with engine.begin() as connection:
        connection.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                status=status,
                attempts=attempts,
                created_at=then,
                started_at=then if status == "running" else None,
                lease_expires_at=then + timedelta(seconds=lease_s) if status == "running" else None,
            )
        )
    return job_id


def job_of(engine: Engine, job_id: str) -> Job:
    with make_session_factory(engine)() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def result_rows(engine: Engine, job_id: str) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).where(JobResult.job_id == job_id)) or 0)


def test_queued_job_without_message_succeeds_when_reconciler_enqueues_it(
    platform: None, engine: Engine
) -> None:
    job_id = lost_job(engine, status="queued", age_s=60)

    wait_until(lambda: job_of(engine, job_id).status == "succeeded", timeout_s=30, message="job finished")

    assert result_rows(engine, job_id) == 1


def test_running_job_whose_message_was_dropped_succeeds_when_its_lease_expires(
    platform: None, engine: Engine
) -> None:
    job_id = lost_job(engine, status="running", age_s=60, attempts=1)

    wait_until(lambda: job_of(engine, job_id).status == "succeeded", timeout_s=30, message="job finished")

    job = job_of(engine, job_id)
    assert job.attempts == 2
    assert result_rows(engine, job_id) == 1


def test_stranded_job_fails_with_reason_when_started_beyond_its_retry_budget(
    platform: None, engine: Engine
) -> None:
    job_id = lost_job(engine, status="running", age_s=60, attempts=MAX_RETRIES + 1)

    wait_until(lambda: job_of(engine, job_id).status == "failed", timeout_s=30, message="stranded job failed")

    job = job_of(engine, job_id)
    assert job.error_code == "job_stranded"
    assert result_rows(engine, job_id) == 0


def test_running_job_is_left_alone_while_its_lease_is_renewed(platform: None, engine: Engine) -> None:
    held = lost_job(engine, status="running", age_s=60, attempts=1, lease_s=3600)
    lost = lost_job(engine, status="running", age_s=60, attempts=1)

    wait_until(lambda: job_of(engine, lost).status == "succeeded", timeout_s=30, message="lost job finished")

    job = job_of(engine, held)
    assert (job.status, job.attempts) == ("running", 1)


def test_reconcile_pass_runs_in_one_process_when_two_race(
    reconcile_env: dict[str, str], engine: Engine
) -> None:
    with exclusive_pass(engine, "test pass") as first, exclusive_pass(engine, "test pass") as second:
        assert (first, second) == (True, False)
    with exclusive_pass(engine, "test pass") as again:
        assert again is True
