"""Schema migrations on a real PostgreSQL: processes that start together on an empty database."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import inspect, text

from job_store.database import make_engine, migrate
from tests.support.services import postgres_database

pytestmark = pytest.mark.integration


def _migrate(url: str) -> None:
    engine = make_engine(url, pool_size=1)
    try:
        migrate(engine)
    finally:
        engine.dispose()


def test_migrate_succeeds_in_every_process_when_several_start_together_on_an_empty_database() -> None:
    with postgres_database() as url:
        with ThreadPoolExecutor(4) as pool:
            for done in [pool.submit(_migrate, url) for _ in range(4)]:
                done.result(timeout=120)  # re-raises a failed migration

        engine = make_engine(url, pool_size=1)
        try:
            with engine.connect() as connection:
                versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
            assert len(versions) == 1
            assert {"jobs", "job_inputs", "job_results"} <= set(inspect(engine).get_table_names())
        finally:
            engine.dispose()
