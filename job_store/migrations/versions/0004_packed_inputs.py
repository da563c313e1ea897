"""A job's series stored as packed float32 arrays (``hybrid_core.series_codec``), not JSON.

Rows written before keep their JSON ``series``; new rows fill ``packed`` only.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_inputs") as batch:
        batch.add_column(sa.Column("packed", sa.LargeBinary, nullable=True))
        batch.alter_column("series", existing_type=sa.JSON, nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("job_inputs") as batch:
        batch.drop_column("packed")
