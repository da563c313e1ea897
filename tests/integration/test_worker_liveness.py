"""A worker rides out a broker outage, and its liveness file tells a probe whether it consumes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_stack.processes import ManagedProcess
from local_stack.redis_server import RedisServer
from local_stack.triton_server import find_free_port
from local_stack.waiting import wait_until
from tests.support.processes import start_worker

pytestmark = pytest.mark.integration

OUTAGE_S = float(os.environ.get("HYBRID_TEST_BROKER_OUTAGE_S", "8"))
"""How long Redis stays down; the guarantee is 60 s (set this variable to check it by hand)."""


def probe(env: dict[str, str], max_age_s: float) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "worker.liveness", f"--max-age-s={max_age_s}"]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def broker(session_dir: Path) -> Iterator[RedisServer]:
    with RedisServer(find_free_port(), session_dir / "redis-liveness", appendonly=True) as server:
        yield server


@pytest.fixture
def liveness_env(service_env: dict[str, str], broker: RedisServer, tmp_path: Path) -> dict[str, str]:
    env = dict(service_env)
    env.update(
        {"HYBRID_REDIS_URL": broker.url, "HYBRID_WORKER_LIVENESS_FILE": str(tmp_path / "worker-alive")}
    )
    return env


def test_liveness_probe_fails_when_the_worker_never_started(liveness_env: dict[str, str]) -> None:
    result = probe(liveness_env, max_age_s=60)

    assert result.returncode == 1
    assert "missing" in result.stdout


def test_worker_consumes_again_when_redis_returns_after_an_outage(
    liveness_env: dict[str, str], broker: RedisServer, session_dir: Path
) -> None:
    worker: ManagedProcess = start_worker(liveness_env, session_dir / "logs" / "worker-liveness.log")
    try:
        assert probe(liveness_env, max_age_s=30).returncode == 0

        broker.kill()
        time.sleep(OUTAGE_S)
        assert probe(liveness_env, max_age_s=OUTAGE_S - 6).returncode == 1  # not touched while down
        broker.start()

        wait_until(
            lambda: probe(liveness_env, max_age_s=3).returncode == 0,
            timeout_s=60,
            message="liveness file touched again after the broker came back",
        )
        assert worker.process is not None and worker.process.poll() is None, worker.log()[-3000:]
    finally:
        worker.stop()
