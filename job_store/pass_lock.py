"""One process at a time for upkeep passes that every API process runs (reconciler, sweeper).

On PostgreSQL a session-level advisory lock, taken without waiting, elects the process that
runs a pass; the others skip it. The lock dies with its connection, so a killed process never
holds it. SQLite lives on one host behind one API, where there is nothing to elect.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text


def lock_key(name: str) -> int:
    """The signed 64-bit advisory-lock key of a pass's name."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


@contextmanager
def exclusive_pass(engine: Engine, name: str) -> Iterator[bool]:
    """Yield True when this process runs the pass named ``name`` now, False when another does."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    key = lock_key(name)
    with engine.connect() as connection:
        acquired = bool(connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}))
        try:
            yield acquired
        finally:
            if acquired:
                connection.scalar(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
