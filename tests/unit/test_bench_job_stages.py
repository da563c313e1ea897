"""A bulk job's stage breakdown, read back from an embedded SQLite store."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy.exc import NoResultFound

from benchmarks.job_stages import job_stages
from benchmarks.workloads import BulkJobTiming
from job_store.database import make_engine, make_session_factory, migrate
from job_store.jobs import JobStore, NewJob, Succeeded
from job_store.views import job_event


def test_job_stages_split_the_recorded_job_into_stages(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    engine = make_engine(url)
    migrate(engine)
    store = JobStore(make_session_factory(engine))
    store.create(NewJob("j1", "m", "1", "pinned", None, 24, [[1.0, 2.0]]))
    store.start_many(["j1"], lease_s=30)
    timings = {"preprocess_s": 0.5, "infer_s": 2.0, "postprocess_s": 0.25, "total_s": 2.75}
    store.finish_many([Succeeded("j1", "1", [], timings)], [], worker="w", event_of=job_event, topic=None)
    engine.dispose()

    stages = job_stages(url, BulkJobTiming("j1", submit_s=1.5, answered_at_unix_s=time.time()))

    assert stages["submit_s"] == 1.5
    assert stages["infer_s"] == 2.0
    assert stages["preprocess_s"] == 0.5
    assert set(stages) == {
        "submit_s",
        "queue_wait_s",
        "preprocess_s",
        "infer_s",
        "postprocess_s",
        "worker_other_s",
        "result_fetch_s",
    }
    assert all(value >= 0 for value in stages.values())


def test_job_stages_fail_for_an_unknown_job(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    with pytest.raises(NoResultFound):
        job_stages(url, BulkJobTiming("missing", submit_s=1.0, answered_at_unix_s=0.0))
