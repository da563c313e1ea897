"""The store's side of the job lifecycle: cancellation, idempotency keys, listing, retention."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update

from hybrid_core.errors import JobCancelled
from hybrid_core.schemas import JobEvent
from job_store.database import make_engine, make_session_factory, migrate
from job_store.jobs import Failed, JobStore, NewJob, Succeeded, utcnow
from job_store.models import EventOutbox, Job, JobInput, JobResult
from job_store.views import job_event

FORECAST = {"mean": [1.0], "lower": [0.5], "upper": [1.5]}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> JobStore:
    return JobStore(make_session_factory(engine))


def new_job(job_id: str, tenant: str = "t", **extra: str) -> NewJob:
    return NewJob(job_id, "m", "1", "pinned", None, 1, [[1.0, 2.0]], tenant=tenant, **extra)  # type: ignore[arg-type]


def finish(store: JobStore, *outcomes: Succeeded | Failed) -> list[Job]:
    successes = [o for o in outcomes if isinstance(o, Succeeded)]
    failures = [o for o in outcomes if isinstance(o, Failed)]
    return store.finish_many(successes, failures, worker="w", event_of=_event, topic="events")


def _event(job: Job) -> JobEvent:
    return job_event(job, error=JobCancelled("cancelled") if job.status == "cancelled" else None)


def count(engine: Engine, table: type) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table)) or 0)


def test_cancelled_queued_job_is_never_started(store: JobStore) -> None:
    store.create(new_job("a"))

    assert [job.status for job in finish(store, Failed("a", JobCancelled("by owner")))] == ["cancelled"]
    assert store.start_many(["a"], lease_s=30) == []


def test_cancelled_running_job_gets_no_result_when_its_worker_finishes(
    store: JobStore, engine: Engine
) -> None:
    store.create(new_job("a"))
    store.start_many(["a"], lease_s=30)
    finish(store, Failed("a", JobCancelled("by owner")))

    assert finish(store, Succeeded("a", "1", [FORECAST], {})) == []

    job = store.get("a")
    assert job is not None and job.status == "cancelled"
    assert count(engine, JobResult) == 0


def test_create_once_returns_the_key_holder_when_the_key_was_used(store: JobStore) -> None:
    assert store.create_once(new_job("first", idempotency_key="k", request_hash="h1")) is None

    holder = store.create_once(new_job("second", idempotency_key="k", request_hash="h2"))

    assert holder is not None and (holder.id, holder.request_hash) == ("first", "h1")
    assert store.get("second") is None
    assert store.create_once(new_job("other-tenant", tenant="u", idempotency_key="k")) is None


def test_list_jobs_pages_newest_first_when_a_cursor_is_passed(store: JobStore) -> None:
    base = utcnow()
    for index in range(5):
        store.create(
            NewJob(
                f"j{index}",
                "m",
                "1",
                "pinned",
                None,
                1,
                [[1.0]],
                tenant="t",
                created_at=base + timedelta(seconds=index),
            )
        )
    store.create(new_job("elsewhere", tenant="u"))

    first = store.list_jobs("t", limit=2)
    second = store.list_jobs("t", limit=10, before=(first[-1].created_at, first[-1].id))

    assert [job.id for job in first] == ["j4", "j3"]
    assert [job.id for job in second] == ["j2", "j1", "j0"]
    assert store.list_jobs("t", limit=10, status="running") == []


def test_prune_deletes_old_finished_jobs_and_published_events_only(store: JobStore, engine: Engine) -> None:
    for job_id in ("old", "recent", "active"):
        store.create(new_job(job_id))
    finish(store, Succeeded("old", "1", [FORECAST], {}), Succeeded("recent", "1", [FORECAST], {}))
    long_ago = utcnow() - timedelta(days=40)
    with engine.begin() as connection:
        connection.execute(update(Job).where(Job.id == "old").values(finished_at=long_ago))
        connection.execute(update(EventOutbox).values(published_at=long_ago))
        connection.execute(
            update(EventOutbox).where(EventOutbox.job_id == "recent").values(published_at=None)
        )
    cutoff = utcnow() - timedelta(days=30)

    assert store.prune_finished(cutoff, limit=100) == 1
    assert store.prune_published_events(cutoff, limit=100) == 1

    assert store.get("old") is None and store.get("recent") is not None and store.get("active") is not None
    assert (count(engine, JobInput), count(engine, JobResult), count(engine, EventOutbox)) == (2, 1, 1)
