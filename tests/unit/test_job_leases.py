"""Job leases: a worker renews what it holds; the store finds what nobody holds."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from job_store.database import make_engine, make_session_factory, migrate
from job_store.jobs import JobStore, NewJob, utcnow
from local_stack.waiting import wait_until
from worker.leases import LeaseKeeper


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    engine = make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    migrate(engine)
    yield JobStore(make_session_factory(engine))
    engine.dispose()


def new_job(store: JobStore, job_id: str) -> str:
    store.create(NewJob(job_id, "m", "1", "pinned", None, 2, [[1.0, 2.0]]))
    return job_id


class Renewals:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.fail = fail

    def __call__(self, job_ids: Sequence[str]) -> None:
        self.calls.append(list(job_ids))
        if self.fail:
            raise ConnectionError("database down")


def test_lease_keeper_renews_held_jobs_until_the_block_ends() -> None:
    renewals = Renewals()
    keeper = LeaseKeeper(renewals, lease_s=0.15)
    with keeper.holding("a"), keeper.holding("b"):
        wait_until(lambda: any(call == ["a", "b"] for call in renewals.calls), timeout_s=5, message="renewal")
    keeper.stop()

    assert keeper.held() == []


def test_lease_keeper_keeps_a_job_held_by_two_tasks_until_both_end() -> None:
    keeper = LeaseKeeper(Renewals(), lease_s=60)
    with keeper.holding("a"):
        with keeper.holding("a"):
            pass
        assert keeper.held() == ["a"]
    keeper.stop()

    assert keeper.held() == []


def test_lease_keeper_renews_a_parked_job_until_its_retry_is_due() -> None:
    keeper = LeaseKeeper(Renewals(), lease_s=60)
    keeper.park("later", 0.2)
    keeper.park("given-up", 0)

    assert keeper.held() == ["later"]
    time.sleep(0.3)
    assert keeper.held() == []
    keeper.stop()


def test_lease_keeper_logs_and_goes_on_when_renewal_fails(caplog: pytest.LogCaptureFixture) -> None:
    renewals = Renewals(fail=True)
    keeper = LeaseKeeper(renewals, lease_s=60)
    with caplog.at_level(logging.WARNING), keeper.holding("a"):
        keeper.renew_now()
        keeper.renew_now()
    keeper.stop()

    assert renewals.calls == [["a"], ["a"]]
    assert "could not renew 1 job leases" in caplog.text


def test_store_finds_expired_lease_only_when_nobody_renewed_it(store: JobStore) -> None:
    held, dropped = new_job(store, "held"), new_job(store, "dropped")
    store.start_many([held, dropped], lease_s=0.2)
    store.renew_leases([held], lease_s=60)
    time.sleep(0.3)

    assert [job.id for job in store.expired_leases(utcnow(), limit=10)] == [dropped]


def test_store_skips_a_queued_job_while_its_new_message_is_leased(store: JobStore) -> None:
    requeued, lost = new_job(store, "requeued"), new_job(store, "lost")
    store.renew_leases([requeued], lease_s=60)
    later = utcnow() + timedelta(seconds=1)

    assert [job.id for job in store.queued_jobs_before(later, utcnow(), limit=10)] == [lost]


def test_store_renews_no_lease_of_a_finished_job(store: JobStore) -> None:
    assert store.renew_leases(["no-such-job"], lease_s=60) == 0
