"""Jobs in the durable store: record, start and finish in batches, read back.

Every write that finishes a job is idempotent (keyed by job id) and writes the
job's event to the outbox in the same transaction, so a redelivered task can
neither duplicate a result nor lose an event. ``job_store.lifecycle`` is the one
caller that starts and finishes jobs, with their Redis views and metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session, sessionmaker

from hybrid_core.errors import HybridError, JobCancelled
from hybrid_core.forecast_spec import ForecastSpec
from hybrid_core.schemas import JobEvent
from hybrid_core.series_codec import SeriesValues, pack_forecasts, pack_series, unpack_series
from job_store.batch_sql import (
    ACTIVE_STATUSES,
    FAIL,
    INPUTS,
    INPUTS_OF,
    JOBS,
    OUTBOX,
    RESULTS,
    SHADOWS,
    START,
    SUCCEED,
    TERMINAL_STATUSES,
    TRACKED,
    dialect_insert,
    insert_new,
)
from job_store.models import Job, JobResult


@dataclass(frozen=True)
class StartedJob:
    """A job a worker just took, with its series."""

    job: Job
    series: Sequence[SeriesValues]
    spec: ForecastSpec


@dataclass(frozen=True)
class NewJob:
    """What the API records when it accepts a job."""

    job_id: str
    model: str
    version: str
    arm: str
    routing_key: str | None
    horizon: int
    series: Sequence[SeriesValues]
    shadow_version: str | None = None
    created_at: datetime = field(default_factory=lambda: utcnow())
    tenant: str = "public"
    idempotency_key: str | None = None
    request_hash: str | None = None
    spec: dict[str, Any] | None = None
    """``ForecastSpec.to_json()`` of the request: ids, time axes, levels, quantiles (None: none asked)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def _input_row(job: NewJob) -> dict[str, Any]:
    return {"job_id": job.job_id, "packed": pack_series(job.series), "spec": job.spec}


def _job_row(job: NewJob) -> dict[str, Any]:
    return {
        "id": job.job_id,
        "tenant": job.tenant,
        "idempotency_key": job.idempotency_key,
        "request_hash": job.request_hash,
        "model": job.model,
        "version": job.version,
        "arm": job.arm,
        "routing_key": job.routing_key,
        "shadow_version": job.shadow_version,
        "horizon": job.horizon,
        "series_count": len(job.series),
        "status": "queued",
        "attempts": 0,
        "created_at": job.created_at,
    }


@dataclass(frozen=True)
class Succeeded:
    """A job's forecasts, ready to be recorded."""

    job_id: str
    version: str
    forecasts: Sequence[Mapping[str, Any]]
    """Their JSON shapes: read for events and cached views of small jobs only (may be built lazily)."""
    timings_s: dict[str, float]
    interval_level: float | None = None
    meta: dict[str, Any] | None = None
    """Ids, time axes and ``direct_steps`` of the answer, kept with the result (None: none)."""
    tracked: list[dict[str, Any]] = field(default_factory=list)
    """``tracked_forecasts`` rows of its named, dated series (``job_store.accuracy.tracked_rows``)."""
    packed: bytes | None = None
    """The forecasts already packed from their arrays (``pack_parts``); else ``forecasts`` are packed."""


@dataclass(frozen=True)
class ShadowRecord:
    """A canary's shadow answer to a job: its forecasts and distance, or the code of its failure."""

    job_id: str
    model: str
    version: str
    latency_s: float
    forecasts: list[dict[str, Any]] | None = None
    mean_abs_diff: float | None = None
    error_code: str | None = None
    tracked: Sequence[dict[str, Any]] = ()
    """``tracked_forecasts`` rows of its named, dated series (arm ``shadow``)."""


@dataclass(frozen=True)
class Failed:
    """A job's final error."""

    job_id: str
    error: HybridError


def _dialect_insert(session: Session) -> Any:
    """The INSERT construct with ON CONFLICT support of the session's dialect."""
    return dialect_insert(session.get_bind().dialect.name)


def insert_ignoring_duplicates(session: Session, table: Any, values: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING on PostgreSQL and SQLite; True if a row was written."""
    insert = _dialect_insert(session)
    # RETURNING tells reliably whether the row was written (rowcount is driver-dependent here).
    statement = insert(table).values(**values).on_conflict_do_nothing().returning(*table.primary_key.columns)
    return session.execute(statement).first() is not None


class JobStore:
    """Typed access to jobs, their inputs, results and outbox events."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        # The batch path runs prebuilt Core statements on connections of the sessions' engine.
        self._engine: Engine = sessions.kw["bind"]
        self._dialect = self._engine.dialect.name

    def create(self, job: NewJob) -> Job:
        """Record an accepted job (status ``queued``) with its series."""
        row = _job_row(job)
        self.create_many([job])
        return Job(**row)

    def create_many(self, jobs: Sequence[NewJob]) -> None:
        """Record accepted jobs in one transaction (two multi-row statements)."""
        # Core statements on the tables: cached compilations, no unit-of-work flush per job.
        with self._engine.begin() as connection:
            connection.execute(JOBS.insert(), [_job_row(job) for job in jobs])
            connection.execute(INPUTS.insert(), [_input_row(job) for job in jobs])

    def create_once(self, job: NewJob) -> Job | None:
        """Record ``job`` unless its tenant used its idempotency key already; None when recorded,
        else the job that holds the key (the caller compares ``request_hash``)."""
        with self._sessions.begin() as session:
            written = session.scalars(
                _dialect_insert(session)(JOBS).on_conflict_do_nothing().returning(JOBS.c.id),
                [_job_row(job)],
            ).first()
            if written is not None:
                session.execute(INPUTS.insert(), [_input_row(job)])
                return None
            return session.scalars(
                select(Job).where(Job.tenant == job.tenant, Job.idempotency_key == job.idempotency_key)
            ).one()

    def by_idempotency_key(self, tenant: str, key: str) -> Job | None:
        """``tenant``'s job submitted with ``key``, if any."""
        with self._sessions() as session:
            query = select(Job).where(Job.tenant == tenant, Job.idempotency_key == key)
            return session.scalars(query).first()

    def list_jobs(
        self,
        tenant: str,
        *,
        limit: int,
        status: str | None = None,
        model: str | None = None,
        before: tuple[datetime, str] | None = None,
    ) -> list[Job]:
        """``tenant``'s jobs, newest first, strictly older than ``before`` (created_at, id)."""
        query = select(Job).where(Job.tenant == tenant)
        if status is not None:
            query = query.where(Job.status == status)
        if model is not None:
            query = query.where(Job.model == model)
        if before is not None:
            created_at, job_id = before
            query = query.where(
                (Job.created_at < created_at) | ((Job.created_at == created_at) & (Job.id < job_id))
            )
        with self._sessions() as session:
            return list(session.scalars(query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)))

    def prune_finished(self, finished_before: datetime, *, limit: int) -> int:
        """Delete up to ``limit`` jobs finished before ``finished_before``, with their inputs,
        results and shadow results (cascade); return how many."""
        with self._sessions.begin() as session:
            ids = session.scalars(
                select(JOBS.c.id)
                .where(JOBS.c.status.in_(TERMINAL_STATUSES), JOBS.c.finished_at < finished_before)
                .limit(limit)
            ).all()
            if ids:
                for table in (INPUTS, RESULTS, SHADOWS):  # explicit: SQLite may run without cascades
                    session.execute(table.delete().where(table.c.job_id.in_(ids)))
                session.execute(JOBS.delete().where(JOBS.c.id.in_(ids)))
            return len(ids)

    def prune_published_events(self, published_before: datetime, *, limit: int) -> int:
        """Delete up to ``limit`` outbox rows Kafka confirmed before ``published_before``."""
        with self._sessions.begin() as session:
            ids = session.scalars(
                select(OUTBOX.c.id).where(OUTBOX.c.published_at < published_before).limit(limit)
            ).all()
            if ids:
                session.execute(OUTBOX.delete().where(OUTBOX.c.id.in_(ids)))
            return len(ids)

    def get(self, job_id: str) -> Job | None:
        """The job record, or None."""
        with self._sessions() as session:
            return session.get(Job, job_id)

    def get_result(self, job_id: str) -> JobResult | None:
        """The job's result row, or None."""
        with self._sessions() as session:
            return session.get(JobResult, job_id)

    def start_many(self, job_ids: Sequence[str], *, lease_s: float) -> list[StartedJob]:
        """Start a batch in one transaction: the jobs still active, now ``running``, with their series.

        Each started job holds a lease of ``lease_s`` that its worker renews. A job already
        running (a redelivered message) counts one more attempt; a finished one is left out.
        """
        if not job_ids:
            return []
        now = utcnow()
        lease_until = now + timedelta(seconds=lease_s)
        with self._engine.begin() as connection:
            rows = connection.execute(
                START, {"ids": list(job_ids), "now": now, "lease_until": lease_until}
            ).all()
            if not rows:
                return []
            inputs = connection.execute(INPUTS_OF, {"ids": [r.id for r in rows]})
            series = {
                job_id: (unpack_series(packed) if packed is not None else (values or []), spec)
                for job_id, packed, values, spec in inputs
            }
            started = []
            for row in rows:
                values, spec = series.get(row.id, ([], None))
                started.append(
                    StartedJob(
                        job=Job(**row._mapping), series=values, spec=ForecastSpec.from_json(row.horizon, spec)
                    )
                )
            return started

    def finish_many(
        self,
        successes: Sequence[Succeeded],
        failures: Sequence[Failed],
        *,
        worker: str,
        event_of: Callable[[Job], JobEvent],
        topic: str | None,
    ) -> list[Job]:
        """Finish a batch in one transaction: result rows, status updates and outbox events.

        A job gets its result only once (a redelivered job's duplicate is dropped) and fails only
        while active; returns the jobs this call finished, each with its ``event_of`` queued on
        ``topic`` (no events when None).
        """
        finished: list[Job] = []
        now = utcnow()
        with self._engine.begin() as connection:
            if successes:
                # Status first, only while active: a job cancelled, expired or finished by another
                # delivery gets no result row (and its forecasts are discarded).
                rows = connection.execute(SUCCEED, {"ids": [r.job_id for r in successes], "now": now})
                succeeded = [Job(**row._mapping) for row in rows]
                if succeeded:
                    ids = {job.id for job in succeeded}
                    connection.execute(
                        insert_new(self._dialect, RESULTS),
                        [
                            {
                                "job_id": r.job_id,
                                "version": r.version,
                                "packed": r.packed if r.packed is not None else pack_forecasts(r.forecasts),
                                "timings": r.timings_s,
                                "meta": r.meta,
                                "worker": worker,
                                "created_at": now,
                            }
                            for r in successes
                            if r.job_id in ids
                        ],
                    )
                    tracked = [row for r in successes if r.job_id in ids for row in r.tracked]
                    if tracked:
                        connection.execute(TRACKED.insert(), tracked)
                finished += succeeded
            for failure in failures:  # rare: one statement each, in the same transaction
                final_status = "cancelled" if isinstance(failure.error, JobCancelled) else "failed"
                rows = connection.execute(
                    FAIL,
                    {
                        "job_id": failure.job_id,
                        "final_status": final_status,
                        "now": now,
                        "code": failure.error.code,
                        "message": failure.error.message,
                    },
                )
                finished += [Job(**row._mapping) for row in rows]
            if topic is not None and finished:
                self._queue_events(connection, [event_of(job) for job in finished], topic)
        return finished

    def _queue_events(self, connection: Connection, events: Sequence[JobEvent], topic: str) -> None:
        from hybrid_core.tracing import trace_headers

        now = utcnow()
        # The span finishing the batch: the relay's Kafka publish becomes its child (None when off).
        trace_context = trace_headers()
        connection.execute(
            insert_new(self._dialect, OUTBOX),
            [
                {
                    "job_id": event.job_id,
                    "topic": topic,
                    "payload": event.model_dump_json(),
                    "attempts": 0,
                    "created_at": now,
                    "trace_context": trace_context,
                }
                for event in events
            ],
        )

    def record_shadows(self, shadows: Sequence[ShadowRecord]) -> None:
        """Store canaries' shadow answers to jobs in one transaction (idempotent per job), each with
        the forecasts it keeps for scoring."""
        if not shadows:
            return
        now = utcnow()
        with self._sessions.begin() as session:
            for shadow in shadows:
                written = insert_ignoring_duplicates(
                    session,
                    SHADOWS,
                    {
                        "job_id": shadow.job_id,
                        "model": shadow.model,
                        "version": shadow.version,
                        "forecasts": shadow.forecasts,
                        "mean_abs_diff": shadow.mean_abs_diff,
                        "latency_s": shadow.latency_s,
                        "error_code": shadow.error_code,
                        "created_at": now,
                    },
                )
                if written and shadow.tracked:
                    session.execute(TRACKED.insert(), list(shadow.tracked))

    def active_versions(self, model: str) -> set[str]:
        """Versions that queued or running jobs of ``model`` (or their shadows) were assigned."""
        with self._sessions() as session:
            rows = session.execute(
                select(Job.version, Job.shadow_version)
                .where(Job.model == model, Job.status.in_(ACTIVE_STATUSES))
                .distinct()
            )
            versions: set[str] = set()
            for version, shadow in rows:
                versions.add(version)
                if shadow:
                    versions.add(shadow)
            return versions

    def renew_leases(self, job_ids: Sequence[str], *, lease_s: float) -> int:
        """Extend the leases of active jobs for ``lease_s``; return how many were renewed.

        A worker renews the jobs it holds; the reconciler leases a job it enqueued again, so
        that the job is not enqueued again while its new message travels.
        """
        if not job_ids:
            return 0
        with self._sessions.begin() as session:
            renewed = session.execute(
                JOBS.update()
                .where(JOBS.c.id.in_(job_ids), JOBS.c.status.in_(ACTIVE_STATUSES))
                .values(lease_expires_at=utcnow() + timedelta(seconds=lease_s))
                .returning(JOBS.c.id)
            )
            return len(renewed.all())

    def queued_jobs_before(self, created_before: datetime, now: datetime, *, limit: int) -> list[Job]:
        """Jobs still queued, accepted before ``created_before``, with no live lease, oldest first."""
        unleased = JOBS.c.lease_expires_at.is_(None) | (JOBS.c.lease_expires_at < now)
        return self._jobs_where(
            (JOBS.c.status == "queued") & (JOBS.c.created_at < created_before) & unleased, limit=limit
        )

    def expired_leases(self, now: datetime, *, limit: int) -> list[Job]:
        """Running jobs whose lease expired before ``now``: no live worker holds them."""
        return self._jobs_where((JOBS.c.status == "running") & (JOBS.c.lease_expires_at < now), limit=limit)

    def _jobs_where(self, condition: Any, *, limit: int) -> list[Job]:
        with self._sessions() as session:
            rows = session.execute(select(*JOBS.c).where(condition).order_by(JOBS.c.created_at).limit(limit))
            return [Job(**row._mapping) for row in rows]

    def stale_active_jobs(self, older_than: datetime) -> list[Job]:
        """Jobs still queued or running that were created before ``older_than``."""
        with self._sessions() as session:
            rows = session.scalars(
                select(Job).where(Job.status.in_(ACTIVE_STATUSES), Job.created_at < older_than)
            )
            return list(rows)
