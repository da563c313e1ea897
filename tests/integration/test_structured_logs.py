"""HYBRID_LOG_FORMAT=json: the real API and worker write JSON lines only, with the job id where known."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from local_stack.triton_server import find_free_port
from tests.support.data import request_series
from tests.support.processes import launch_api, launch_worker, started, stop_all

pytestmark = pytest.mark.integration


# Celery's signal handler prints its shutdown notice straight to stdout, past any logging.
CELERY_SHUTDOWN_NOTICE = "worker: Warm shutdown (MainProcess)"


def _json_lines(path: Path, *, allowed: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    lines = [line for line in path.read_text().splitlines() if line.strip() and line not in allowed]
    assert lines, f"{path} is empty"
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON line in {path.name}: {line!r}")
    return parsed


def test_api_and_worker_log_json_lines_only_when_log_format_is_json(
    service_env: dict[str, str],
    redis_url: str,
    session_dir: Path,
    db_engine: Engine,  # the session database migrated before its API and worker start together
) -> None:
    env = service_env | {
        "HYBRID_LOG_FORMAT": "json",
        # A queue of the test's own, so no other test's worker takes its job.
        "HYBRID_REDIS_URL": redis_url.rsplit("/", 1)[0] + "/7",
    }
    logs = session_dir / "logs"
    port = find_free_port()
    worker, api = started(
        launch_worker(env, logs / "worker-json.log"), launch_api(env, logs / "api-json.log", port)
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            accepted = client.post(
                "/v1/jobs", json={"model": "lstm_timeseries", "series": request_series(1, 200, seed=7)}
            )
            assert accepted.status_code == 202, accepted.text
            view = client.get(f"/v1/jobs/{accepted.json()['job_id']}", params={"wait_s": 30}).json()
            assert view["status"] == "succeeded", view
    finally:
        stop_all(api, worker)

    api_lines = _json_lines(logs / "api-json.log")
    worker_lines = _json_lines(logs / "worker-json.log", allowed=(CELERY_SHUTDOWN_NOTICE,))
    for line in api_lines + worker_lines:
        assert {"ts", "level", "logger", "msg"} <= line.keys(), line
    assert any(line["logger"].startswith("uvicorn") for line in api_lines)
    assert any(line["msg"].endswith("ready.") for line in worker_lines)
