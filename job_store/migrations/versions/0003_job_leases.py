"""A running job's lease: the worker that holds it renews it; an expired lease means nobody does.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
    # Jobs started before leases existed have nobody renewing one: let them expire at once, so
    # the reconciler enqueues them again (a duplicate run is harmless; the result is keyed by id).
    op.execute("UPDATE jobs SET lease_expires_at = started_at WHERE status = 'running'")


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("lease_expires_at")
