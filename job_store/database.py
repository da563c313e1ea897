"""Engine, sessions and schema migrations for the durable store."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from job_store.pass_lock import lock_key

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _json_dumps(value: Any) -> str:
    # orjson turns a 10,000-series job's columns into JSON ~8x faster than json; numpy scalars
    # and arrays are written as numbers.
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


_JSON_CODEC: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys.

    ``pool_size`` should cover the threads that use the engine at once: a smaller pool opens and
    closes a connection (a PostgreSQL backend process) for every checkout past it.
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **_JSON_CODEC
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            # WAL lets the API read while a worker writes; several processes share the file.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(
        url, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size, **_JSON_CODEC
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (views are built after it)."""
    return sessionmaker(engine, expire_on_commit=False)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent; safe in processes started together).

    On PostgreSQL the upgrade runs under a transaction-level advisory lock: an API and workers
    starting at once on an empty database would otherwise all create ``alembic_version`` and
    all but one fail. The others wait for the first to commit, then find the schema current.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key("migrate")})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@contextlib.contextmanager
def scratch_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL database named ``<prefix>_<random>`` on ``admin_url``'s server, dropped after.

    Yields its URL. For tests and benchmarks that need isolation from each other.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
