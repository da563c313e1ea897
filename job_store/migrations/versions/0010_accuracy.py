"""Online accuracy: forecasts kept for scoring, observed values, and one score per value and forecast.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

_TS = sa.DateTime(timezone=True)

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tracked_forecasts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("job_id", sa.String(32), nullable=True, index=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("arm", sa.String(16), nullable=False),
        sa.Column("series_id", sa.String(256), nullable=False),
        sa.Column("freq", sa.String(32), nullable=False),
        sa.Column("last_observed", sa.String(64), nullable=False),
        sa.Column("first_at", _TS, nullable=False),
        sa.Column("last_at", _TS, nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("levels", sa.JSON(), nullable=False),
        sa.Column("packed", sa.LargeBinary(), nullable=False),
        sa.Column("scale", sa.Float(), nullable=True),
        sa.Column("created_at", _TS, server_default=sa.func.now(), nullable=False),
    )
    op.create_index(
        "ix_tracked_forecasts_series", "tracked_forecasts", ["model", "tenant", "series_id", "first_at"]
    )
    op.create_table(
        "actuals",
        sa.Column("model", sa.String(128), primary_key=True),
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("series_id", sa.String(256), primary_key=True),
        sa.Column("at", _TS, primary_key=True),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("received_at", _TS, server_default=sa.func.now(), nullable=False),
        sa.Column("scored_at", _TS, nullable=True, index=True),
        sa.Column("matched", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_table(
        "forecast_scores",
        sa.Column(
            "tracked_id",
            sa.Integer(),
            sa.ForeignKey("tracked_forecasts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("at", _TS, primary_key=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("arm", sa.String(16), nullable=False),
        sa.Column("series_id", sa.String(256), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("abs_error", sa.Float(), nullable=False),
        sa.Column("scaled_error", sa.Float(), nullable=True),
        sa.Column("covered", sa.JSON(), nullable=False),
        sa.Column("levels", sa.JSON(), nullable=False),
        sa.Column("created_at", _TS, server_default=sa.func.now(), nullable=False),
    )
    op.create_index("ix_forecast_scores_model_version", "forecast_scores", ["model", "version", "created_at"])


def downgrade() -> None:
    op.drop_table("forecast_scores")
    op.drop_table("actuals")
    op.drop_index("ix_tracked_forecasts_series", "tracked_forecasts")
    op.drop_table("tracked_forecasts")
