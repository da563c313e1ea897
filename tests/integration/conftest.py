"""Fixtures of the integration tests: our own API and worker as real processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from job_store.database import make_engine, migrate
from local_stack.processes import ManagedProcess
from local_stack.triton_server import find_free_port
from tests.support.processes import start_api, start_worker


@pytest.fixture(scope="session")
def db_engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def worker(service_env: dict[str, str], session_dir: Path) -> Iterator[ManagedProcess]:
    process = start_worker(service_env, session_dir / "logs" / "worker.log")
    yield process
    process.stop()


@pytest.fixture(scope="session")
def api(service_env: dict[str, str], session_dir: Path, db_engine: Engine) -> Iterator[str]:
    port = find_free_port()
    process = start_api(service_env, session_dir / "logs" / "api.log", port)
    yield f"http://127.0.0.1:{port}"
    process.stop()


@pytest.fixture
def client(api: str, worker: ManagedProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api, timeout=120) as http:
        yield http
