"""Fixtures of the integration tests: our own API and worker as real processes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from job_store.database import make_engine, migrate
from local_stack.processes import ManagedProcess
from local_stack.triton_server import find_free_port
from tests.support.processes import launch_api, launch_worker, started, stop_all


@pytest.fixture(scope="session")
def db_engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    migrate(engine)
    yield engine
    engine.dispose()


@dataclass
class SessionPlatform:
    url: str
    worker: ManagedProcess


@pytest.fixture(scope="session")
def session_platform(
    service_env: dict[str, str], session_dir: Path, db_engine: Engine
) -> Iterator[SessionPlatform]:
    """The session's API and worker, started together (their imports overlap)."""
    logs = session_dir / "logs"
    port = find_free_port()
    worker, api = started(
        launch_worker(service_env, logs / "worker.log"), launch_api(service_env, logs / "api.log", port)
    )
    yield SessionPlatform(f"http://127.0.0.1:{port}", worker)
    stop_all(api, worker)


@pytest.fixture(scope="session")
def worker(session_platform: SessionPlatform) -> ManagedProcess:
    return session_platform.worker


@pytest.fixture(scope="session")
def api(session_platform: SessionPlatform) -> str:
    return session_platform.url


@pytest.fixture
def client(api: str, worker: ManagedProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api, timeout=120) as http:
        yield http
