"""The embedded default: with no HYBRID_DATABASE_URL the platform runs on SQLite, end to end."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from local_stack.triton_server import find_free_port
from local_stack.waiting import wait_until
from tests.support.data import request_series
from tests.support.processes import start_api, start_worker, stop_all

pytestmark = pytest.mark.integration


def test_jobs_shadows_and_report_work_when_database_is_embedded_sqlite(
    service_env: dict[str, str], redis_url: str, session_dir: Path
) -> None:
    env = {k: v for k, v in service_env.items() if k != "HYBRID_DATABASE_URL"}
    env["HYBRID_STATE_DIR"] = str(session_dir / "sqlite-state")
    env["HYBRID_REDIS_URL"] = redis_url.rsplit("/", 1)[0] + "/6"
    env["HYBRID_ADMIN_TOKEN"] = "sqlite-token"
    port = find_free_port()
    # One after the other: each migrates the new SQLite file at startup, and the test checks that
    # the platform itself creates it.
    worker = start_worker(env, session_dir / "logs" / "worker-sqlite.log")
    api = start_api(env, session_dir / "logs" / "api-sqlite.log", port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            policy = {"stable": "2", "canary": "1", "canary_weight": 0.0, "shadow_share": 1.0}
            put = client.put(
                "/v1/models/lstm_timeseries/rollout",
                json=policy,
                headers={"Authorization": "Bearer sqlite-token"},
            )
            assert put.status_code == 200, put.text
            assert put.json()["canary_since"].endswith("Z") or "+00:00" in put.json()["canary_since"]
            jobs = []
            for series in request_series(3, 200, seed=51):
                accepted = client.post("/v1/jobs", json={"model": "lstm_timeseries", "series": [series]})
                assert accepted.status_code == 202, accepted.text
                jobs.append(accepted.json()["job_id"])
            views = [client.get(f"/v1/jobs/{j}", params={"wait_s": 30}).json() for j in jobs]
            assert [(v["status"], v["version"], v["arm"]) for v in views] == [
                ("succeeded", "2", "stable")
            ] * 3
            report = wait_until(
                lambda: (
                    (r := client.get("/v1/models/lstm_timeseries/rollout/report").json())["shadow"][
                        "requests"
                    ]
                    == 3
                    and r
                ),
                timeout_s=20,
                message="three shadow results",
            )
        assert report["stable"]["requests"] == 3
        assert report["shadow"]["errors"] == 0
        assert report["shadow"]["mean_abs_diff"] > 0
        assert (session_dir / "sqlite-state" / "hybrid.db").exists()
        assert "failed unexpectedly" not in worker.log()
    finally:
        stop_all(api, worker)
