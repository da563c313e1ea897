"""A job's forecasts stored as one packed float64 array (``hybrid_core.series_codec``), not JSON.

Rows written before keep their JSON ``forecasts``; new rows fill ``packed`` only.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_results") as batch:
        batch.add_column(sa.Column("packed", sa.LargeBinary, nullable=True))
        batch.alter_column("forecasts", existing_type=sa.JSON, nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("job_results") as batch:
        batch.drop_column("packed")
