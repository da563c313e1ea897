"""The guarded API against a real API with ``HYBRID_AUTH=required``: keys, tenants, admission.

Keys are made with the CLI as an operator would; the API runs on a database and a Redis
database of its own, with no worker, so every accepted job stays queued.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis

from hybrid_core.queueing import JOBS_QUEUE
from local_stack.processes import cli_argv
from local_stack.triton_server import find_free_port
from tests.support.data import request_series
from tests.support.processes import start_api
from tests.support.services import postgres_database

pytestmark = pytest.mark.integration

ADMIN_TOKEN = "bootstrap-admin-token-for-tests"
SERIES = request_series(1, 200, seed=11)
JOB = {"model": "lstm_timeseries", "series": SERIES}
MAX_QUEUE_DEPTH = 30


@pytest.fixture(scope="module")
def auth_env(service_env: dict[str, str], redis_url: str) -> Iterator[dict[str, str]]:
    with postgres_database() as database_url:
        env = dict(service_env)
        env.update(
            {
                "HYBRID_DATABASE_URL": database_url,
                "HYBRID_REDIS_URL": redis_url.rsplit("/", 1)[0] + "/8",
                "HYBRID_AUTH": "required",
                "HYBRID_ADMIN_TOKEN": ADMIN_TOKEN,
                "HYBRID_KEY_CACHE_S": "0",
                "HYBRID_MAX_QUEUE_DEPTH": str(MAX_QUEUE_DEPTH),
            }
        )
        yield env


@pytest.fixture(scope="module")
def api_url(auth_env: dict[str, str], session_dir: Path) -> Iterator[str]:
    port = find_free_port()
    api = start_api(auth_env, session_dir / "logs" / "api-keys.log", port)
    yield f"http://127.0.0.1:{port}"
    api.stop()


def keys_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    argv = cli_argv("keys", *args)
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)


def create_key(env: dict[str, str], name: str, scopes: str = "jobs", *limits: str) -> str:
    created = keys_cli(env, "create", "--name", name, "--scopes", scopes, *limits)
    assert created.returncode == 0, created.stderr
    return created.stdout.strip().splitlines()[-1]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_job_routes_answer_401_when_no_key_is_sent(api_url: str) -> None:
    with httpx.Client(base_url=api_url, timeout=30) as client:
        for method, path in (("POST", "/v1/jobs"), ("GET", "/v1/models"), ("GET", "/v1/jobs/abc")):
            response = client.request(method, path, json=JOB if method == "POST" else None)
            assert response.status_code == 401, (path, response.text)
            assert response.json()["error"]["field"] == "authorization"
        assert client.get("/healthz").status_code == 200


def test_keys_list_shows_no_secret_when_keys_exist(auth_env: dict[str, str]) -> None:
    key = create_key(auth_env, "lister")

    listed = keys_cli(auth_env, "list")

    assert "lister\ttenant=lister\tscopes=jobs\t" in listed.stdout
    assert key not in listed.stdout


def test_other_tenant_gets_404_when_reading_a_job_it_does_not_own(
    api_url: str, auth_env: dict[str, str]
) -> None:
    alice, bob = create_key(auth_env, "alice"), create_key(auth_env, "bob")
    with httpx.Client(base_url=api_url, timeout=30) as client:
        accepted = client.post("/v1/jobs", json=JOB, headers=bearer(alice))
        assert accepted.status_code == 202, accepted.text
        path = accepted.json()["links"]["self"]

        assert client.get(path, headers=bearer(alice)).status_code == 200
        hidden = client.get(path, headers=bearer(bob))
        assert hidden.status_code == 404
        assert hidden.json()["error"]["code"] == "job_not_found"


def test_revoked_key_gets_403_when_used(api_url: str, auth_env: dict[str, str]) -> None:
    key = create_key(auth_env, "leaver")
    with httpx.Client(base_url=api_url, timeout=30) as client:
        assert client.get("/v1/models", headers=bearer(key)).status_code == 200
        assert keys_cli(auth_env, "revoke", "leaver").returncode == 0

        refused = client.get("/v1/models", headers=bearer(key))

    assert refused.status_code == 403
    assert "revoked" in refused.json()["error"]["message"]


def test_rollout_write_needs_admin_scope_when_key_has_jobs_only(
    api_url: str, auth_env: dict[str, str]
) -> None:
    jobs_only, admin = create_key(auth_env, "jobs-only"), create_key(auth_env, "operator", "jobs,admin")
    with httpx.Client(base_url=api_url, timeout=30) as client:
        refused = client.post("/v1/models/lstm_timeseries/rollout/rollback", headers=bearer(jobs_only))
        assert refused.status_code == 403
        assert "admin" in refused.json()["error"]["message"]
        for key in (admin, ADMIN_TOKEN):
            assert client.get("/v1/models/lstm_timeseries/rollout", headers=bearer(key)).status_code == 200


def test_unknown_key_gets_401_when_auth_is_required(api_url: str) -> None:
    response = httpx.get(f"{api_url}/v1/models", headers=bearer("hk_not-a-key"), timeout=30)

    assert response.status_code == 401


def shed_count(client: httpx.Client, reason: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'hybrid_requests_shed_total{{reason="{reason}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_submit_gets_429_with_retry_after_when_key_exceeds_its_rate(
    api_url: str, auth_env: dict[str, str]
) -> None:
    key = create_key(auth_env, "slow", "jobs", "--rate-per-s", "0.2")
    with httpx.Client(base_url=api_url, timeout=30, headers=bearer(key)) as client:
        before = shed_count(client, "rate_limited")
        assert client.post("/v1/jobs", json=JOB).status_code == 202

        refused = client.post("/v1/jobs", json=JOB)

        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "too_many_requests"
        assert int(refused.headers["Retry-After"]) >= 4  # one token every 5 s
        assert shed_count(client, "rate_limited") == before + 1


def test_submit_gets_429_when_tenant_has_its_limit_of_jobs_in_flight(
    api_url: str, auth_env: dict[str, str]
) -> None:
    key = create_key(auth_env, "busy", "jobs", "--max-in-flight", "2")
    with httpx.Client(base_url=api_url, timeout=30, headers=bearer(key)) as client:
        assert [client.post("/v1/jobs", json=JOB).status_code for _ in range(2)] == [202, 202]

        refused = client.post("/v1/jobs", json=JOB)

    assert refused.status_code == 429
    assert "queued or running" in refused.json()["error"]["message"]
    assert refused.headers["Retry-After"] == "1"


def test_same_idempotency_key_gives_the_same_job_when_body_repeats(
    api_url: str, auth_env: dict[str, str]
) -> None:
    key = create_key(auth_env, "retrier")
    headers = bearer(key) | {"Idempotency-Key": "order-42"}
    with httpx.Client(base_url=api_url, timeout=30, headers=headers) as client, ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: client.post("/v1/jobs", json=JOB), range(6)))
        other_body = client.post("/v1/jobs", json=JOB | {"horizon": 12})

    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["job_id"] for a in answers}) == 1
    assert other_body.status_code == 409
    assert other_body.json()["error"]["field"] == "Idempotency-Key"


def test_cancel_ends_a_queued_job_once_and_only_for_its_owner(api_url: str, auth_env: dict[str, str]) -> None:
    owner, stranger = create_key(auth_env, "canceller"), create_key(auth_env, "stranger")
    with httpx.Client(base_url=api_url, timeout=30) as client:
        path = client.post("/v1/jobs", json=JOB, headers=bearer(owner)).json()["links"]["self"]

        assert client.delete(path, headers=bearer(stranger)).status_code == 404
        cancelled = client.delete(path, headers=bearer(owner))
        again = client.delete(path, headers=bearer(owner))
        view = client.get(path, headers=bearer(owner)).json()

    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert again.status_code == 409 and again.json()["error"]["code"] == "job_finished"
    assert view["status"] == "cancelled" and view["error"]["code"] == "cancelled"


def test_forecast_arrays_say_202_while_queued_then_409_once_cancelled(
    api_url: str, auth_env: dict[str, str]
) -> None:
    owner, stranger = create_key(auth_env, "array-reader"), create_key(auth_env, "array-stranger")
    with httpx.Client(base_url=api_url, timeout=30) as client:
        path = client.post("/v1/jobs", json=JOB, headers=bearer(owner)).json()["links"]["self"]
        queued = client.get(f"{path}/forecasts", params={"wait_s": 0.2}, headers=bearer(owner))
        foreign = client.get(f"{path}/forecasts", headers=bearer(stranger))
        client.delete(path, headers=bearer(owner))
        cancelled = client.get(f"{path}/forecasts", headers=bearer(owner))

    assert queued.status_code == 202 and queued.headers["Retry-After"] == "1"
    assert queued.json()["status"] == "queued" and queued.json()["forecasts"] is None
    assert foreign.status_code == 404 and foreign.json()["error"]["code"] == "job_not_found"
    assert cancelled.status_code == 409
    error = cancelled.json()["error"]
    assert (error["code"], error["field"]) == ("job_has_no_forecasts", "job_id")
    assert "cancelled" in error["message"]


def test_list_pages_the_callers_jobs_newest_first_when_a_cursor_is_followed(
    api_url: str, auth_env: dict[str, str]
) -> None:
    key, other = create_key(auth_env, "pager"), create_key(auth_env, "pager-neighbour")
    with httpx.Client(base_url=api_url, timeout=30) as client:
        submitted = [
            client.post("/v1/jobs", json=JOB, headers=bearer(key)).json()["job_id"] for _ in range(3)
        ]
        client.post("/v1/jobs", json=JOB, headers=bearer(other))

        first = client.get("/v1/jobs", params={"limit": 2}, headers=bearer(key)).json()
        rest = client.get(
            "/v1/jobs", params={"limit": 2, "cursor": first["next_cursor"]}, headers=bearer(key)
        ).json()
        bad_cursor = client.get("/v1/jobs", params={"cursor": "nonsense"}, headers=bearer(key))

    listed = [job["job_id"] for job in first["jobs"] + rest["jobs"]]
    assert listed == submitted[::-1]
    assert rest["next_cursor"] is None
    assert bad_cursor.status_code == 422 and bad_cursor.json()["error"]["field"] == "cursor"


def test_submit_sheds_with_429_when_the_queue_is_full(api_url: str, auth_env: dict[str, str]) -> None:
    key = create_key(auth_env, "flood")
    statuses = []
    with httpx.Client(base_url=api_url, timeout=30, headers=bearer(key)) as client:
        for _ in range(MAX_QUEUE_DEPTH + 1):
            response = client.post("/v1/jobs", json=JOB)
            statuses.append(response.status_code)
            if response.status_code == 429:
                break
            time.sleep(0.3)  # the API reads the queue's depth at most every 0.25 s
        assert statuses[-1] == 429, statuses
        assert set(statuses[:-1]) == {202}
        assert "waiting already" in response.json()["error"]["message"]
        assert shed_count(client, "queue_full") >= 1
    # The queue stays full (no worker here): empty it for the module's other tests.
    redis.Redis.from_url(auth_env["HYBRID_REDIS_URL"]).delete(JOBS_QUEUE)
