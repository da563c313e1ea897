"""Rollout policies with their audit trail, shadow results, and the shadow version of a job.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("shadow_version", sa.String(32), nullable=True))
    op.create_table(
        "shadow_results",
        sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("model", sa.String(128), nullable=False, index=True),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("forecasts", sa.JSON, nullable=True),
        sa.Column("mean_abs_diff", sa.Float, nullable=True),
        sa.Column("latency_s", sa.Float, nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("created_at", _TS, server_default=sa.func.now(), nullable=False),
    )
    op.create_table(
        "rollout_policies",
        sa.Column("model", sa.String(128), primary_key=True),
        sa.Column("stable", sa.String(32), nullable=False),
        sa.Column("canary", sa.String(32), nullable=True),
        sa.Column("canary_weight", sa.Float, nullable=False),
        sa.Column("pinnable", sa.JSON, nullable=False),
        sa.Column("shadow_share", sa.Float, nullable=False),
        sa.Column("guards", sa.JSON, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("canary_since", _TS, nullable=True),
        sa.Column("updated_at", _TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "rollout_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(128), nullable=False, index=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("before", sa.JSON, nullable=True),
        sa.Column("after", sa.JSON, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("at", _TS, server_default=sa.func.now(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rollout_audit")
    op.drop_table("rollout_policies")
    op.drop_table("shadow_results")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("shadow_version")
