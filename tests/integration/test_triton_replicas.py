"""Two real Triton replicas behind one API and one worker: failover, reconcile, promote, rollback.

Each replica serves its own Python-backend copy of a module repository (lstm_timeseries 1, 2 and
a good copy of 2 as version 3); the API links versions exported later into replica 0's copy
only, so a version added afterwards loads on replica 0 and fails on replica 1. Triton loads the
config's versions (1, 2) at start, so a restarted replica differs from a policy on 2 and 3 until
the rollout upkeep reconciles it. The tests run in file order, each from the state the last left.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from hybrid_core.version_params import Artifact, load_version_params, params_path, sha256_of, write_params
from local_stack.testing import running_triton
from local_stack.triton_server import LocalTritonServer, find_free_port
from local_stack.waiting import wait_until
from tests.conftest import CANONICAL_REPOSITORY
from tests.support.data import request_series
from tests.support.processes import launch_api, launch_worker, started, stop_all, stop_concurrently
from tests.support.services import migrate_database, postgres_database
from tests.support.triton import stop_quickly_at_teardown
from triton_client.control import ControlKey

pytestmark = pytest.mark.integration

MODEL = "lstm_timeseries"
TOKEN = "test-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SERIES = request_series(1, 200, seed=41)
RECONCILE_BOUND_S = 15.0
"""A restarted replica holds the policy's versions this long after it is ready, at most."""


def copy_version(repository: Path, source: str, target: str) -> None:
    """``target`` as a byte copy of version ``source`` (its params renamed)."""
    folder = repository / MODEL / target
    shutil.copytree(repository / MODEL / source, folder)
    params = load_version_params(repository, MODEL, source)
    artifact = params.artifact
    assert artifact is not None
    updated = Artifact(file=artifact.file, format=artifact.format, sha256=sha256_of(folder / artifact.file))
    write_params(
        params_path(repository, MODEL, target),
        params.model_copy(update={"version": target, "artifact": updated}),
    )


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("replicas") / "repository"
    shutil.copytree(CANONICAL_REPOSITORY / MODEL, copy / MODEL)
    copy_version(copy, "2", "3")
    return copy


@pytest.fixture(scope="module")
def replicas(repository: Path, session_dir: Path) -> Iterator[list[LocalTritonServer]]:
    key = ControlKey.generate()
    with ExitStack() as stack:
        servers = [
            stack.enter_context(
                running_triton(
                    repository, session_dir / f"triton-replica-{k}", models=[MODEL], control_key=key
                )
            )
            for k in range(2)
        ]
        yield servers
        for server in servers:
            stop_quickly_at_teardown(server)
        stop_concurrently(*servers)  # the exit stack's stops are then no-ops


@pytest.fixture(scope="module")
def api(
    service_env: dict[str, str],
    redis_url: str,
    repository: Path,
    replicas: list[LocalTritonServer],
    session_dir: Path,
) -> Iterator[httpx.Client]:
    with postgres_database() as database_url:
        migrate_database(database_url)
        env = dict(service_env)
        env.update(
            {
                "HYBRID_DATABASE_URL": database_url,
                "HYBRID_REDIS_URL": redis_url.rsplit("/", 1)[0] + "/5",
                "HYBRID_TRITON_GRPC_URL": replicas[0].grpc_url,
                "HYBRID_TRITON_GRPC_URLS": ",".join(r.grpc_url for r in replicas),
                **replicas[0].control_env(),
                "HYBRID_TRITON_PYTHON_REPOSITORY": str(replicas[0].repository),
                "HYBRID_MODEL_REPOSITORY": str(repository),
                "HYBRID_ADMIN_TOKEN": TOKEN,
            }
        )
        logs = session_dir / "logs"
        port = find_free_port()
        processes = started(
            launch_worker(env, logs / "worker-replicas.log", concurrency=16),
            launch_api(env, logs / "api-replicas.log", port),
        )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                wait_until(
                    lambda: client.get("/readyz").status_code == 200, timeout_s=60, message="API ready"
                )
                yield client
        finally:
            stop_all(*reversed(processes))


def ready(server: LocalTritonServer) -> list[str]:
    return server.ready_models().get(MODEL, [])


def put_policy(api: httpx.Client, **spec: Any) -> dict[str, Any]:
    response = api.put(
        f"/v1/models/{MODEL}/rollout", json={"guards": {"enabled": False}, **spec}, headers=AUTH
    )
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


def test_canary_is_loaded_on_every_replica_when_policy_starts_it(
    api: httpx.Client, replicas: list[LocalTritonServer]
) -> None:
    assert [ready(r) for r in replicas] == [["1", "2"], ["1", "2"]]
    view = put_policy(api, stable="2", canary="3", canary_weight=0.5)
    assert [ready(r) for r in replicas] == [["2", "3"], ["2", "3"]]
    assert view["ready_versions"] == ["2", "3"]
    assert view["replicas"] == {r.grpc_url: ["2", "3"] for r in replicas}


class Load:
    """Clients submitting one-series jobs and sync forecasts until stopped; every answer kept."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.stop = threading.Event()
        self.job_ids: list[str] = []
        self.sync_statuses: list[int] = []
        self.refused: list[str] = []

    def submit_jobs(self, worker: int) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            count = 0
            while not self.stop.is_set():
                body = {"model": MODEL, "series": SERIES, "routing_key": f"key-{worker}-{count}"}
                response = client.post("/v1/jobs", json=body)
                count += 1
                if response.status_code == 202:
                    self.job_ids.append(response.json()["job_id"])
                else:
                    self.refused.append(response.text)

    def forecast(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            while not self.stop.is_set():
                response = client.post(
                    f"/v1/models/{MODEL}/forecast", json={"model": MODEL, "series": SERIES}
                )
                self.sync_statuses.append(response.status_code)


def test_no_accepted_job_fails_when_a_replica_is_sigkilled_under_load(
    api: httpx.Client, replicas: list[LocalTritonServer]
) -> None:
    load = Load(str(api.base_url))
    threads = [threading.Thread(target=load.submit_jobs, args=(i,)) for i in range(3)]
    threads.append(threading.Thread(target=load.forecast))
    for thread in threads:
        thread.start()
    try:
        time.sleep(2)
        pid = replicas[1].pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        time.sleep(4)
    finally:
        load.stop.set()
        for thread in threads:
            thread.join()
    assert not load.refused, load.refused[:3]
    assert load.job_ids and all(status == 200 for status in load.sync_statuses), load.sync_statuses
    statuses: dict[str, int] = {}
    for job_id in load.job_ids:
        view = api.get(f"/v1/jobs/{job_id}", params={"wait_s": 60}).json()
        statuses[view["status"]] = statuses.get(view["status"], 0) + 1
    assert statuses == {"succeeded": len(load.job_ids)}, statuses
    rollout = api.get(f"/v1/models/{MODEL}/rollout").json()
    assert rollout["replicas"][replicas[1].grpc_url] is None  # out of the pool while down
    assert rollout["ready_versions"] == ["2", "3"]  # what every healthy replica holds
    metrics = api.get("/metrics").text
    assert f'hybrid_triton_replica_healthy{{replica="{replicas[1].grpc_url}"}} 0.0' in metrics
    model = api.get(f"/v1/models/{MODEL}").json()
    assert model["replicas"][replicas[1].grpc_url] is None
    readiness = api.get("/readyz")
    assert readiness.status_code == 200  # one healthy replica still serves
    assert readiness.json()["replicas"][replicas[1].grpc_url].startswith("out of the pool")
    assert readiness.json()["replicas"][replicas[0].grpc_url] == "ok"


def test_restarted_replica_holds_policy_versions_with_canary_when_upkeep_reconciles_it(
    api: httpx.Client, replicas: list[LocalTritonServer]
) -> None:
    replicas[1].stop()  # reap the killed process group
    replicas[1].start()  # Triton loads the config's versions, 1 and 2
    started = time.monotonic()
    wait_until(lambda: ready(replicas[1]) == ["2", "3"], timeout_s=RECONCILE_BOUND_S, message="reconciled")
    print(f"replica reconciled {time.monotonic() - started:.1f} s after it was ready")
    wait_until(
        lambda: api.get(f"/v1/models/{MODEL}/rollout").json()["replicas"][replicas[1].grpc_url] == ["2", "3"],
        timeout_s=5,
        message="replica back in the API's view",
    )


def test_promote_and_rollback_change_every_replica_when_two_replicas_serve(
    api: httpx.Client, replicas: list[LocalTritonServer]
) -> None:
    promoted = api.post(f"/v1/models/{MODEL}/rollout/promote", headers=AUTH)
    assert promoted.status_code == 200, promoted.text
    assert (promoted.json()["stable"], promoted.json()["canary"]) == ("3", None)
    assert [ready(r) for r in replicas] == [["3"], ["3"]]
    put_policy(api, stable="3", canary="2", canary_weight=0.2)
    assert [ready(r) for r in replicas] == [["2", "3"], ["2", "3"]]
    rolled_back = api.post(f"/v1/models/{MODEL}/rollout/rollback", headers=AUTH)
    assert rolled_back.status_code == 200, rolled_back.text
    assert rolled_back.json()["canary"] is None
    assert [ready(r) for r in replicas] == [["3"], ["3"]]


def test_canary_start_is_undone_everywhere_and_names_replica_when_one_replica_cannot_load_it(
    api: httpx.Client, repository: Path, replicas: list[LocalTritonServer]
) -> None:
    copy_version(repository, "2", "4")  # linked into replica 0's copy only
    response = api.put(
        f"/v1/models/{MODEL}/rollout", json={"stable": "3", "canary": "4", "canary_weight": 0.1}, headers=AUTH
    )
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "version_load_failed"
    assert replicas[1].grpc_url in error["message"]
    assert [ready(r) for r in replicas] == [["3"], ["3"]]
    assert api.get(f"/v1/models/{MODEL}/rollout").json()["canary"] is None
