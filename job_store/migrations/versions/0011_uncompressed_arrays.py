"""Array columns stored out of line without compression (PostgreSQL ``STORAGE EXTERNAL``).

PostgreSQL tries to compress any value over ~2 kB before storing it out of line. Float arrays
barely compress, but pglz tries for long before it gives up: a 10,000-series job's 6.3 MB of
packed series took 150-300 ms to insert, against 39 ms uncompressed, and took the same space on
disk either way (lz4 saved 1% for 50 ms). Only rows written after this migration are affected.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_ARRAY_COLUMNS = (("job_inputs", "packed"), ("job_results", "packed"))


def _set_storage(storage: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite stores blobs as given
    for table, column in _ARRAY_COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET STORAGE {storage}")


def upgrade() -> None:
    _set_storage("EXTERNAL")


def downgrade() -> None:
    _set_storage("EXTENDED")
