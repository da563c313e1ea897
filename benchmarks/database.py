"""The benchmark's database: a fresh PostgreSQL database when the local server answers, else SQLite."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from job_store.database import scratch_database

DatabaseChoice = Literal["auto", "postgres", "sqlite"]
LOCAL_POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres"


def postgres_reachable(admin_url: str = LOCAL_POSTGRES_ADMIN_URL) -> bool:
    """True when PostgreSQL at ``admin_url`` accepts a connection."""
    engine = create_engine(admin_url, connect_args={"connect_timeout": 2})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except OperationalError:
        return False
    finally:
        engine.dispose()


@contextlib.contextmanager
def bench_database(
    choice: DatabaseChoice, state_dir: Path, admin_url: str = LOCAL_POSTGRES_ADMIN_URL
) -> Iterator[str]:
    """A SQLAlchemy URL of an empty database, dropped (PostgreSQL) when the block ends."""
    use_postgres = choice == "postgres" or (choice == "auto" and postgres_reachable(admin_url))
    if not use_postgres:
        state_dir.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{state_dir / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        return
    with scratch_database(admin_url, "hybrid_bench") as url:
        yield url
