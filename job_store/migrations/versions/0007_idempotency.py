"""Idempotent submissions: a tenant's ``Idempotency-Key`` names at most one job.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(128), nullable=True))
        batch.add_column(sa.Column("request_hash", sa.String(64), nullable=True))
        batch.create_index("ux_jobs_tenant_idempotency_key", ["tenant", "idempotency_key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ux_jobs_tenant_idempotency_key")
        batch.drop_column("request_hash")
        batch.drop_column("idempotency_key")
