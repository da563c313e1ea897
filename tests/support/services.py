"""PostgreSQL and Redis for tests: testcontainers where a Docker engine runs, local servers otherwise.

Without Docker (our CI machines), PostgreSQL is the local server on 127.0.0.1:5432 (a fresh
database per test session) and Redis is a private ``redis-server`` on a free port.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from job_store.database import make_engine, migrate, scratch_database
from local_stack.redis_server import RedisServer
from local_stack.triton_server import find_free_port

LOCAL_POSTGRES_ADMIN_URL = os.environ.get(
    "HYBRID_TEST_POSTGRES_ADMIN_URL", "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres"
)


def docker_available() -> bool:
    """True when a Docker engine answers (``docker info`` succeeds)."""
    if shutil.which("docker") is None:
        return False
    result = subprocess.run(["docker", "info"], capture_output=True, timeout=10, check=False)
    return result.returncode == 0


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A SQLAlchemy URL of an empty PostgreSQL database, dropped afterwards."""
    if docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver="psycopg") as container:
            yield container.get_connection_url()
        return
    with scratch_database(LOCAL_POSTGRES_ADMIN_URL, "hybrid_test") as url:
        yield url


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """The URL of a Redis of our own (private process or container), emptied at start."""
    if docker_available():
        from testcontainers.redis import RedisContainer

        with RedisContainer("redis:7-alpine") as container:
            host = container.get_container_host_ip()
            port = container.get_exposed_port(6379)
            yield f"redis://{host}:{port}/0"
        return
    with RedisServer(find_free_port(), workdir) as server:
        yield server.url


def migrate_database(url: str) -> None:
    """Create the schema at ``url`` before an API and a worker start together on it: each migrates
    at startup, and two first migrations racing on an empty database collide on alembic_version."""
    engine = make_engine(url)
    try:
        migrate(engine)
    finally:
        engine.dispose()
