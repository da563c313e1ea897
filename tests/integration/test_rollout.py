"""Version pinning and guarded canary rollout, against real Triton, Redis, PostgreSQL, worker and API.

The module serves its own copy of the repository with an extra version 3 of lstm_timeseries whose
model raises on every call (a broken canary), on its own Triton, database and Redis database.
The tests run in file order: each leaves the rollout in the state the next one starts from.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import torch

from hybrid_core.version_params import Artifact, load_version_params, params_path, sha256_of, write_params
from local_stack.processes import ManagedProcess
from local_stack.triton_server import LocalTritonServer, find_free_port
from local_stack.waiting import wait_until
from tests.conftest import CANONICAL_REPOSITORY
from tests.support.data import request_series
from tests.support.processes import launch_api, launch_worker, started, stop_all
from tests.support.reference import eager_forecast
from tests.support.services import migrate_database, postgres_database
from tests.support.triton import module_triton

pytestmark = pytest.mark.integration

MODEL = "lstm_timeseries"
TOKEN = "test-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SERIES = request_series(1, 200, seed=31)


class BrokenForecaster(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] >= 0:
            raise RuntimeError("this canary is broken")
        return x


def add_broken_version(repository: Path) -> None:
    """Version 3 of MODEL: loads fine, fails every inference."""
    folder = repository / MODEL / "3"
    folder.mkdir()
    torch.jit.script(BrokenForecaster()).save(str(folder / "model.pt"))  # type: ignore[no-untyped-call]
    params = load_version_params(repository, MODEL, "2")
    artifact = Artifact(file="model.pt", format="torchscript", sha256=sha256_of(folder / "model.pt"))
    write_params(
        params_path(repository, MODEL, "3"), params.model_copy(update={"version": "3", "artifact": artifact})
    )


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("rollout") / "repository"
    shutil.copytree(CANONICAL_REPOSITORY / MODEL, copy / MODEL)
    add_broken_version(copy)
    return copy


@pytest.fixture(scope="module")
def rollout_triton(repository: Path, session_dir: Path) -> Iterator[LocalTritonServer]:
    with module_triton(repository, session_dir / "triton-rollout") as server:
        yield server


@pytest.fixture(scope="module")
def rollout_env(
    service_env: dict[str, str], redis_url: str, repository: Path, rollout_triton: LocalTritonServer
) -> Iterator[dict[str, str]]:
    with postgres_database() as database_url:
        migrate_database(database_url)
        env = dict(service_env)
        env.update(
            {
                "HYBRID_DATABASE_URL": database_url,
                "HYBRID_REDIS_URL": redis_url.rsplit("/", 1)[0] + "/3",
                "HYBRID_TRITON_GRPC_URL": rollout_triton.grpc_url,
                **rollout_triton.control_env(),
                "HYBRID_TRITON_PYTHON_REPOSITORY": str(rollout_triton.repository),
                "HYBRID_MODEL_REPOSITORY": str(repository),
                "HYBRID_ADMIN_TOKEN": TOKEN,
                "HYBRID_MAX_SERIES_PER_JOB": "100",
            }
        )
        yield env


class Platform:
    """The module's API and worker, restartable."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.port = find_free_port()
        self.api: ManagedProcess | None = None
        self.worker: ManagedProcess | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        self.worker, self.api = started(
            launch_worker(self.env, self.logs / f"worker-rollout-{self.starts}.log", concurrency=16),
            launch_api(self.env, self.logs / f"api-rollout-{self.starts}.log", self.port),
        )
        with httpx.Client(base_url=self.url) as client:
            wait_until(lambda: client.get("/readyz").status_code == 200, timeout_s=60, message="API ready")

    def stop(self) -> None:
        stop_all(*(process for process in (self.api, self.worker) if process is not None))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def platform(rollout_env: dict[str, str], session_dir: Path) -> Iterator[Platform]:
    running = Platform(rollout_env, session_dir / "logs")
    running.start()
    yield running
    running.stop()


@pytest.fixture
def api(platform: Platform) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform.url, timeout=120) as client:
        yield client


def submit(api: httpx.Client, **fields: Any) -> dict[str, Any]:
    response = api.post("/v1/jobs", json={"model": MODEL, "series": SERIES, **fields})
    assert response.status_code == 202, response.text
    accepted: dict[str, Any] = response.json()
    return accepted


def finish(api: httpx.Client, job_id: str) -> dict[str, Any]:
    view: dict[str, Any] = api.get(f"/v1/jobs/{job_id}", params={"wait_s": 60}).json()
    return view


def put_policy(api: httpx.Client, **spec: Any) -> dict[str, Any]:
    response = api.put(f"/v1/models/{MODEL}/rollout", json=spec, headers=AUTH)
    assert response.status_code == 200, response.text
    policy: dict[str, Any] = response.json()
    return policy


def ready_versions(triton: LocalTritonServer) -> list[str]:
    return triton.ready_models().get(MODEL, [])


def test_rollout_writes_need_token_when_no_bearer_given(api: httpx.Client) -> None:
    spec = {"stable": "2"}
    assert api.put(f"/v1/models/{MODEL}/rollout", json=spec).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert api.put(f"/v1/models/{MODEL}/rollout", json=spec, headers=wrong).status_code == 403
    assert api.post(f"/v1/models/{MODEL}/rollout/promote").status_code == 401
    assert api.get(f"/v1/models/{MODEL}/rollout").json()["revision"] == 0


def test_pinned_v1_gets_v1_forecast_when_policy_stable_v2_keeps_v1_pinnable(
    api: httpx.Client, repository: Path, rollout_triton: LocalTritonServer
) -> None:
    policy = put_policy(api, stable="2", pinnable=["1"])
    assert (policy["stable"], policy["pinnable"], policy["revision"]) == ("2", ["1"], 1)
    pinned = finish(api, submit(api, version="1")["job_id"])
    assert (pinned["status"], pinned["version"], pinned["arm"]) == ("succeeded", "1", "pinned")
    expected = eager_forecast(repository, MODEL, "1", SERIES)
    np.testing.assert_allclose(pinned["forecasts"][0]["mean"], expected[0].mean, atol=1e-3)
    unpinned = finish(api, submit(api)["job_id"])
    assert (unpinned["version"], unpinned["arm"]) == ("2", "stable")


def test_pinned_version_gets_409_with_remedy_when_present_but_not_loaded(
    api: httpx.Client, rollout_triton: LocalTritonServer
) -> None:
    assert "3" not in ready_versions(rollout_triton)
    response = api.post("/v1/jobs", json={"model": MODEL, "series": SERIES, "version": "3"})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["field"] == "version"
    assert "pinnable" in error["message"] and f"/v1/models/{MODEL}/rollout" in error["message"]


def test_canary_share_within_bounds_when_weight_tenth_over_2000_keys(
    api: httpx.Client, rollout_triton: LocalTritonServer
) -> None:
    put_policy(api, stable="2", canary="1", canary_weight=0.1, guards={"enabled": False})
    assert set(ready_versions(rollout_triton)) == {"1", "2"}
    with ThreadPoolExecutor(8) as pool:
        accepted = list(pool.map(lambda i: submit(api, routing_key=f"sensor-{i}"), range(2000)))
    arms = [a["arm"] for a in accepted]
    assert set(arms) == {"stable", "canary"}
    share = arms.count("canary") / len(arms)
    assert 0.07 <= share <= 0.13, share
    assert all(a["version"] == ("1" if a["arm"] == "canary" else "2") for a in accepted)
    same_key = {submit(api, routing_key="customer-42")["arm"] for _ in range(100)}
    assert len(same_key) == 1
    last = finish(api, accepted[-1]["job_id"])
    assert last["status"] == "succeeded"


def test_promote_moves_new_jobs_and_unloads_old_version_when_nothing_fails(
    api: httpx.Client, rollout_triton: LocalTritonServer
) -> None:
    put_policy(api, stable="2", canary="1", canary_weight=0.5, guards={"enabled": False})
    in_flight = [submit(api, routing_key=f"flight-{i}")["job_id"] for i in range(40)]
    promoted = api.post(f"/v1/models/{MODEL}/rollout/promote", headers=AUTH)
    assert promoted.status_code == 200, promoted.text
    assert (promoted.json()["stable"], promoted.json()["canary"]) == ("1", None)
    after = [submit(api, routing_key=f"after-{i}") for i in range(20)]
    assert {(a["version"], a["arm"]) for a in after} == {("1", "stable")}
    views = [finish(api, job_id) for job_id in in_flight + [a["job_id"] for a in after]]
    unfinished = [v for v in views if v["status"] != "succeeded"]
    assert not unfinished, unfinished
    wait_until(lambda: ready_versions(rollout_triton) == ["1"], timeout_s=30, message="v2 unloaded")
    index = {(e["name"], e["version"]): e for e in repository_index(rollout_triton)}
    assert index[(MODEL, "1")]["state"] == "READY"
    assert index.get((MODEL, "2"), {}).get("state") != "READY"


def repository_index(triton: LocalTritonServer) -> list[dict[str, Any]]:
    response = httpx.post(
        f"{triton.http_url}/v2/repository/index",
        json={"ready": False},
        headers=triton.control_key.http_headers(),
    )
    entries: list[dict[str, Any]] = response.json()
    return entries


def test_rollback_sends_new_jobs_to_stable_within_one_second(api: httpx.Client) -> None:
    put_policy(api, stable="1", canary="2", canary_weight=1.0, guards={"enabled": False})
    assert submit(api)["arm"] == "canary"
    response = api.post(f"/v1/models/{MODEL}/rollout/rollback", headers=AUTH)
    assert response.status_code == 200, response.text
    rolled_back_at = time.monotonic()
    arms = []
    while time.monotonic() - rolled_back_at < 1.0:
        arms.append(submit(api)["arm"])
    assert arms and set(arms) == {"stable"}


def test_guard_rolls_back_by_itself_when_canary_fails(
    api: httpx.Client, rollout_triton: LocalTritonServer
) -> None:
    put_policy(
        api,
        stable="1",
        canary="3",
        canary_weight=0.5,
        guards={"min_requests": 10, "max_error_rate_delta": 0.2},
    )
    assert "3" in ready_versions(rollout_triton)
    jobs = [submit(api, routing_key=f"guard-{i}")["job_id"] for i in range(60)]
    wait_until(
        lambda: api.get(f"/v1/models/{MODEL}/rollout").json()["canary"] is None,
        timeout_s=60,
        message="automatic rollback",
    )
    audit = api.get(f"/v1/models/{MODEL}/rollout/audit").json()
    automatic = [entry for entry in audit if entry["action"] == "auto_rollback"]
    assert automatic and automatic[0]["actor"] == "guard"
    assert "error rate" in automatic[0]["reason"]
    assert automatic[0]["before"]["canary"] == "3"
    views = [finish(api, job_id) for job_id in jobs]
    failed = [v for v in views if v["status"] == "failed"]
    assert failed and all(v["version"] == "3" and v["error"]["code"] for v in failed)
    assert all(v["status"] == "succeeded" for v in views if v["version"] == "1")
    assert submit(api)["arm"] == "stable"
    wait_until(lambda: "3" not in ready_versions(rollout_triton), timeout_s=30, message="v3 unloaded")


def test_policy_survives_restart_when_api_and_worker_restarted(platform: Platform) -> None:
    # A policy write may load its canary into Triton first: the api fixture's timeout, not httpx's 5 s.
    with httpx.Client(base_url=platform.url, timeout=120) as client:
        put_policy(client, stable="1", canary="2", canary_weight=0.3, pinnable=[], guards={"enabled": False})
        before = client.get(f"/v1/models/{MODEL}/rollout").json()
    platform.stop()
    platform.start()
    with httpx.Client(base_url=platform.url, timeout=60) as client:
        after = client.get(f"/v1/models/{MODEL}/rollout").json()
        assert {k: after[k] for k in ("stable", "canary", "canary_weight", "revision")} == {
            k: before[k] for k in ("stable", "canary", "canary_weight", "revision")
        }
        arms = {submit(client, routing_key=f"restart-{i}")["arm"] for i in range(50)}
        assert arms == {"stable", "canary"}
