"""Named and dated series, extra bands: a job keeps what its request asked beyond the values
(``job_inputs.spec``), and its result the ids, time axes and recursion it was answered with
(``job_results.meta``).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_inputs") as batch:
        batch.add_column(sa.Column("spec", sa.JSON(), nullable=True))
    with op.batch_alter_table("job_results") as batch:
        batch.add_column(sa.Column("meta", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job_results") as batch:
        batch.drop_column("meta")
    with op.batch_alter_table("job_inputs") as batch:
        batch.drop_column("spec")
