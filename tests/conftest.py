"""Session fixtures: real PostgreSQL, Redis and Triton, shared by the integration and e2e tests.

Each fixture starts (or reuses) a real server and waits for it to be ready; nothing here
mocks a service. Unit tests use none of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from event_bus import ensure_topic
from hybrid_core.settings import PROJECT_ROOT
from local_stack.tansu import TansuBroker
from local_stack.triton_server import LocalTritonServer
from tests.support.services import postgres_database, redis_server
from tests.support.triton import module_triton

CANONICAL_REPOSITORY = PROJECT_ROOT / "model_repository"


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("session")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for the session."""
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url(session_dir: Path) -> Iterator[str]:
    """A Redis of the session's own."""
    with redis_server(session_dir / "redis") as url:
        yield url


@pytest.fixture(scope="session")
def triton(session_dir: Path) -> Iterator[LocalTritonServer]:
    """The real tritonserver serving the committed repository (Python-backend copy)."""
    with module_triton(CANONICAL_REPOSITORY, session_dir / "triton") as server:
        yield server


EVENTS_TOPIC = "forecast-events-test"


@pytest.fixture(scope="session")
def kafka(session_dir: Path) -> Iterator[str]:
    """Bootstrap servers of a real Kafka-protocol broker (Tansu) with the events topic created."""
    with TansuBroker(log_path=session_dir / "logs" / "tansu.log") as broker:
        ensure_topic(broker.bootstrap_servers, EVENTS_TOPIC)
        yield broker.bootstrap_servers


@pytest.fixture(scope="session")
def service_env(
    session_dir: Path, postgres_url: str, redis_url: str, triton: LocalTritonServer, kafka: str
) -> dict[str, str]:
    """Environment of our own processes (API, workers) pointing at the session's services."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYBRID_")}
    env.update(
        {
            "HYBRID_DATABASE_URL": postgres_url,
            "HYBRID_REDIS_URL": redis_url,
            "HYBRID_TRITON_GRPC_URL": triton.grpc_url,
            "HYBRID_KAFKA_BOOTSTRAP_SERVERS": kafka,
            "HYBRID_KAFKA_TOPIC": EVENTS_TOPIC,
            "HYBRID_MODEL_REPOSITORY": str(CANONICAL_REPOSITORY),
            "HYBRID_STATE_DIR": str(session_dir / "state"),
            "HYBRID_TRITON_TIMEOUT_S": "5",
            "HYBRID_TASK_MAX_RETRIES": "30",
            "HYBRID_TASK_RETRY_BACKOFF_S": "0.2",
            "HYBRID_TASK_RETRY_BACKOFF_MAX_S": "1",
            "HYBRID_TASK_VISIBILITY_TIMEOUT_S": "6",
            "HYBRID_MAX_SERIES_PER_JOB": "2000",
            "HYBRID_MAX_SERIES_LENGTH": "5000",
            "HYBRID_MAX_BODY_BYTES": str(8 * 1024 * 1024),
            "HYBRID_WORKER_METRICS_PORT": "0",
            "PYTHONUNBUFFERED": "1",
            **triton.control_env(),
        }
    )
    return env
