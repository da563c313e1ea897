"""Failures on the main path: Triton down, Triton gone for good, a worker killed mid-job.

These tests run their own Triton, worker and API (on a Redis database of their own), so
stopping them does not disturb the other integration tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from job_store.models import JobResult
from local_stack.processes import ManagedProcess
from local_stack.triton_server import LocalTritonServer, find_free_port
from local_stack.waiting import wait_until
from tests.conftest import CANONICAL_REPOSITORY
from tests.support.data import request_series
from tests.support.processes import launch_api, launch_worker, start_api, start_worker, started, stop_all
from tests.support.triton import module_triton

pytestmark = pytest.mark.integration

SERIES = request_series(4, 160, seed=21)


@pytest.fixture(scope="module")
def own_triton(session_dir: Path) -> Iterator[LocalTritonServer]:
    with module_triton(
        CANONICAL_REPOSITORY, session_dir / "triton-resilience", models=["lstm_timeseries"]
    ) as server:
        yield server


@pytest.fixture(scope="module")
def own_env(service_env: dict[str, str], redis_url: str, own_triton: LocalTritonServer) -> dict[str, str]:
    env = dict(service_env)
    env["HYBRID_REDIS_URL"] = redis_url.rsplit("/", 1)[0] + "/1"
    env["HYBRID_TRITON_GRPC_URL"] = own_triton.grpc_url
    env.update(own_triton.control_env())
    return env


@pytest.fixture(scope="module")
def own_api(own_env: dict[str, str], session_dir: Path) -> Iterator[httpx.Client]:
    port = find_free_port()
    process = start_api(own_env, session_dir / "logs" / "api-resilience.log", port)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        wait_until(lambda: client.get("/readyz").status_code == 200, timeout_s=30, message="API ready")
        yield client
    process.stop()


def submit(client: httpx.Client, body: dict[str, Any]) -> str:
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def job(client: httpx.Client, job_id: str, wait_s: float = 0) -> dict[str, Any]:
    view: dict[str, Any] = client.get(f"/v1/jobs/{job_id}", params={"wait_s": wait_s}).json()
    return view


def test_job_succeeds_after_retries_when_triton_stopped_then_restarted(
    own_api: httpx.Client, own_env: dict[str, str], own_triton: LocalTritonServer, session_dir: Path
) -> None:
    launched = launch_worker(own_env, session_dir / "logs" / "worker-retry.log")
    worker = launched.process
    try:
        own_triton.stop()  # seconds of unloading, while the worker starts
        started(launched)
        job_id = submit(own_api, {"model": "lstm_timeseries", "series": SERIES})
        wait_until(lambda: job(own_api, job_id)["attempts"] >= 2, timeout_s=30, message="job retried")
        assert job(own_api, job_id)["status"] in {"queued", "running"}
        own_triton.start()
        view = job(own_api, job_id, wait_s=60)
        assert view["status"] == "succeeded", view
        assert view["attempts"] >= 2
    finally:
        worker.stop()
        if not own_triton.is_running:
            own_triton.start()


def test_job_fails_with_reason_when_triton_absent_beyond_retry_budget(
    own_env: dict[str, str],
    session_dir: Path,
    db_engine: Engine,  # the session database migrated before its API and worker start together
) -> None:
    env = dict(own_env)
    env["HYBRID_REDIS_URL"] = own_env["HYBRID_REDIS_URL"].rsplit("/", 1)[0] + "/2"
    env["HYBRID_TRITON_GRPC_URL"] = f"127.0.0.1:{find_free_port()}"  # nothing listens here
    env["HYBRID_TASK_MAX_RETRIES"] = "2"
    port = find_free_port()
    api, worker = started(
        launch_api(env, session_dir / "logs" / "api-absent.log", port),
        launch_worker(env, session_dir / "logs" / "worker-absent.log"),
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            job_id = submit(client, {"model": "lstm_timeseries", "series": SERIES})
            view = job(client, job_id, wait_s=45)
        assert view["status"] == "failed", view
        assert view["error"]["code"] == "triton_unavailable"
        assert "after 2 retries" in view["error"]["message"]
        assert view["attempts"] == 3
    finally:
        stop_all(worker, api)


def test_job_has_exactly_one_result_when_worker_killed_mid_job(
    own_api: httpx.Client,
    own_env: dict[str, str],
    own_triton: LocalTritonServer,
    session_dir: Path,
    db_engine: Engine,
) -> None:
    launched = launch_worker(own_env, session_dir / "logs" / "worker-killed.log")
    first = launched.process
    second: ManagedProcess | None = None
    try:
        # Hold the job inside the worker: Triton is down, so it sits in its retry loop, unacknowledged.
        own_triton.stop()  # seconds of unloading, while the worker starts
        started(launched)
        job_id = submit(own_api, {"model": "lstm_timeseries", "series": SERIES})
        wait_until(lambda: job(own_api, job_id)["status"] == "running", timeout_s=30, message="job running")
        first.kill()
        own_triton.start()
        second = start_worker(own_env, session_dir / "logs" / "worker-after-kill.log")
        view = job(own_api, job_id, wait_s=60)
        assert view["status"] == "succeeded", view
        with db_engine.connect() as connection:
            rows = connection.execute(
                select(func.count()).select_from(JobResult).where(JobResult.job_id == job_id)
            ).scalar_one()
        assert rows == 1
    finally:
        first.kill()
        if second is not None:
            second.stop()
        if not own_triton.is_running:
            own_triton.start()


def test_job_fails_as_expired_when_no_worker_takes_it(own_env: dict[str, str], session_dir: Path) -> None:
    env = dict(own_env)
    env["HYBRID_REDIS_URL"] = own_env["HYBRID_REDIS_URL"].rsplit("/", 1)[0] + "/5"  # no worker here
    env["HYBRID_JOB_TIMEOUT_S"] = "2"
    port = find_free_port()
    api = start_api(env, session_dir / "logs" / "api-expiry.log", port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            job_id = submit(client, {"model": "lstm_timeseries", "series": SERIES})
            assert job(client, job_id)["status"] == "queued"
            view = job(client, job_id, wait_s=20)
        assert view["status"] == "failed", view
        assert view["error"]["code"] == "job_expired"
    finally:
        api.stop()
