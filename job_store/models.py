"""SQLAlchemy 2 tables of the platform. Schema changes go through ``job_store/migrations``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every database.

    PostgreSQL keeps the zone; SQLite stores text and hands back naive values, which would
    break arithmetic against aware ``datetime.now(UTC)``. Values are normalized to UTC on the
    way in and made aware on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            return value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    """Declarative base; ``Base.metadata`` is the migrations' target."""


class Job(Base):
    """One accepted forecasting job and its lifecycle."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_tenant_created_at", "tenant", "created_at"),
        Index("ux_jobs_tenant_idempotency_key", "tenant", "idempotency_key", unique=True),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), server_default="public")
    """Who owns the job: the tenant of the API key that submitted it (``public`` without auth)."""
    model: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[str] = mapped_column(String(32))
    arm: Mapped[str] = mapped_column(String(16), default="pinned")
    routing_key: Mapped[str | None] = mapped_column(String(256), nullable=True)
    shadow_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    horizon: Mapped[int] = mapped_column(Integer)
    series_count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    """The client's ``Idempotency-Key``: one job per key and tenant."""
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """SHA-256 of the request an idempotency key was first used with."""
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    """While running: when the job is lost unless the worker holding it renews its lease."""


class JobInput(Base):
    """The series of a job, kept apart so that job listings stay light."""

    __tablename__ = "job_inputs"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    packed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    """The series as ``hybrid_core.series_codec.pack_series`` bytes (every row since migration 0004)."""
    series: Mapped[list[list[float | None]] | None] = mapped_column(JSON, nullable=True)
    """The series as JSON: rows written before migration 0004 only."""
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """What the request asked beyond values (``hybrid_core.forecast_spec.ForecastSpec.to_json``)."""


class JobResult(Base):
    """Exactly one result row per succeeded job (the primary key makes writes idempotent)."""

    __tablename__ = "job_results"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[str] = mapped_column(String(32))
    packed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    """The forecasts as ``hybrid_core.series_codec.pack_forecasts`` bytes (rows since migration 0005)."""
    forecasts: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    """The forecasts as JSON: rows written before migration 0005 only."""
    timings: Mapped[dict[str, float]] = mapped_column(JSON)
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """Series ids, time axes and ``direct_steps`` of the answer (``job_store.views.result_meta``)."""
    worker: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())


class EventOutbox(Base):
    """Job events waiting for (or confirmed by) the Kafka broker: the transactional outbox."""

    __tablename__ = "event_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(32), unique=True)
    topic: Mapped[str] = mapped_column(String(256))
    payload: Mapped[str] = mapped_column(Text)
    trace_context: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)
    """W3C trace headers (``traceparent``, ``tracestate``) of the span that wrote the event, if any."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True, index=True)


class ShadowResult(Base):
    """A canary's answer to a stable job's inputs: stored for comparison, never returned."""

    __tablename__ = "shadow_results"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[str] = mapped_column(String(32))
    forecasts: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    mean_abs_diff: Mapped[float | None] = mapped_column(nullable=True)
    latency_s: Mapped[float] = mapped_column()
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())


class RolloutPolicy(Base):
    """The rollout policy of one model: which versions serve, at what weight, under which guards."""

    __tablename__ = "rollout_policies"

    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    stable: Mapped[str] = mapped_column(String(32))
    canary: Mapped[str | None] = mapped_column(String(32), nullable=True)
    canary_weight: Mapped[float] = mapped_column(default=0.0)
    pinnable: Mapped[list[str]] = mapped_column(JSON, default=list)
    shadow_share: Mapped[float] = mapped_column(default=0.0)
    guards: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    canary_since: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
    updated_by: Mapped[str] = mapped_column(String(128))


class RolloutAudit(Base):
    """Every change of a rollout policy: who, when, from what, to what, and why."""

    __tablename__ = "rollout_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(128), index=True)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(128))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())


class ApiKey(Base):
    """An API key: only the SHA-256 of the secret is stored; the key is shown once, at creation."""

    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    rate_per_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    """Submissions per second this key may make; None: the API's default (HYBRID_KEY_RATE_PER_S)."""
    max_in_flight: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """Jobs of this key's tenant queued or running at once; None: HYBRID_KEY_MAX_IN_FLIGHT."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class TrackedForecast(Base):
    """A forecast of a named, dated series, kept so that actuals can score it (``job_store.accuracy``)."""

    __tablename__ = "tracked_forecasts"
    __table_args__ = (Index("ix_tracked_forecasts_series", "model", "tenant", "series_id", "first_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64))
    """Whose forecast: only the same tenant's actuals score it."""
    job_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    """The job it answered (None for an unrecorded synchronous forecast)."""
    model: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(32))
    arm: Mapped[str] = mapped_column(String(16))
    series_id: Mapped[str] = mapped_column(String(256))
    freq: Mapped[str] = mapped_column(String(32))
    last_observed: Mapped[str] = mapped_column(String(64))
    """ISO timestamp of the series' last point: the forecast covers the next ``steps`` points."""
    first_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_at: Mapped[datetime] = mapped_column(UtcDateTime())
    steps: Mapped[int] = mapped_column(Integer)
    levels: Mapped[list[str]] = mapped_column(JSON)
    packed: Mapped[bytes] = mapped_column(LargeBinary)
    """``[1 + 2 x levels, steps]`` float64 ``.npy``: the mean, then lower and upper per level."""
    scale: Mapped[float | None] = mapped_column(Float, nullable=True)
    """MASE scale: the in-sample seasonal naive MAE of the history sent (None when undefined)."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())


class Actual(Base):
    """An observed value of a named series, waiting to be scored or scored already."""

    __tablename__ = "actuals"

    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    series_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
    scored_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True, index=True)
    matched: Mapped[int] = mapped_column(Integer, default=0)
    """How many forecasts it scored."""


class ForecastScore(Base):
    """One observed value scored against one forecast of it."""

    __tablename__ = "forecast_scores"
    __table_args__ = (Index("ix_forecast_scores_model_version", "model", "version", "created_at"),)

    tracked_id: Mapped[int] = mapped_column(
        ForeignKey("tracked_forecasts.id", ondelete="CASCADE"), primary_key=True
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    model: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(32))
    arm: Mapped[str] = mapped_column(String(16))
    series_id: Mapped[str] = mapped_column(String(256))
    step: Mapped[int] = mapped_column(Integer)
    abs_error: Mapped[float] = mapped_column(Float)
    scaled_error: Mapped[float | None] = mapped_column(Float, nullable=True)
    covered: Mapped[list[str]] = mapped_column(JSON)
    levels: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
