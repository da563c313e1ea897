"""Job lifecycle in the durable store: record, start, succeed or fail, read back.

Every write that finishes a job is idempotent (keyed by job id) and writes the
job's event to the outbox in the same transaction, so a redelivered task can
neither duplicate a result nor lose an event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from hybrid_core.schemas import JobEvent
from job_store.models import EventOutbox, Job, JobInput, JobResult, ShadowResult

ACTIVE_STATUSES = ("queued", "running")


@dataclass(frozen=True)
class StartedJob:
    """A job a worker just took, with its series."""

    job: Job
    series: list[list[float | None]]


@dataclass(frozen=True)
class NewJob:
    """What the API records when it accepts a job."""

    job_id: str
    model: str
    version: str
    arm: str
    routing_key: str | None
    horizon: int
    series: Sequence[Sequence[float | None]]
    shadow_version: str | None = None


def utcnow() -> datetime:
    return datetime.now(UTC)


def _insert_ignoring_duplicates(session: Session, table: Any, values: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING on PostgreSQL and SQLite; True if a row was written."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # RETURNING tells reliably whether the row was written (rowcount is driver-dependent here).
    statement = insert(table).values(**values).on_conflict_do_nothing().returning(*table.primary_key.columns)
    return session.execute(statement).first() is not None


class JobStore:
    """Typed access to jobs, their inputs, results and outbox events."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def create(self, job: NewJob) -> Job:
        """Record an accepted job (status ``queued``) with its series."""
        with self._sessions.begin() as session:
            row = Job(
                id=job.job_id,
                model=job.model,
                version=job.version,
                arm=job.arm,
                routing_key=job.routing_key,
                shadow_version=job.shadow_version,
                horizon=job.horizon,
                series_count=len(job.series),
                status="queued",
                attempts=0,
                created_at=utcnow(),
            )
            session.add(row)
            session.add(JobInput(job_id=job.job_id, series=[list(s) for s in job.series]))
        return row

    def get(self, job_id: str) -> Job | None:
        """The job record, or None."""
        with self._sessions() as session:
            return session.get(Job, job_id)

    def get_result(self, job_id: str) -> JobResult | None:
        """The job's result row, or None."""
        with self._sessions() as session:
            return session.get(JobResult, job_id)

    def mark_running(self, job_id: str) -> Job | None:
        """Move an active job to ``running`` and count the attempt; None if it already finished."""
        started = self.start(job_id)
        return None if started is None else started.job

    def start(self, job_id: str) -> StartedJob | None:
        """``mark_running`` and the job's series, in one transaction; None if it already finished."""
        with self._sessions.begin() as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status.in_(ACTIVE_STATUSES))
                .values(status="running", attempts=Job.attempts + 1, started_at=utcnow())
            )
            job = session.get(Job, job_id)
            if job is None or job.status != "running":
                return None
            inputs = session.get(JobInput, job_id)
            return StartedJob(job=job, series=[] if inputs is None else inputs.series)

    def record_success(
        self,
        job_id: str,
        *,
        version: str,
        forecasts: list[dict[str, Any]],
        timings: dict[str, float],
        worker: str,
        event: JobEvent | None,
        topic: str | None,
    ) -> Job | None:
        """Store the result, finish the job and queue its event atomically; return the finished job.

        Returns None (and changes nothing) when the job already has a result.
        """
        with self._sessions.begin() as session:
            written = _insert_ignoring_duplicates(
                session,
                JobResult.__table__,
                {
                    "job_id": job_id,
                    "version": version,
                    "forecasts": forecasts,
                    "timings": timings,
                    "worker": worker,
                    "created_at": utcnow(),
                },
            )
            if not written:
                return None
            session.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(status="succeeded", finished_at=utcnow(), error_code=None, error_message=None)
            )
            self._queue_event(session, event, topic)
            return session.get(Job, job_id)

    def record_failure(
        self, job_id: str, *, code: str, message: str, event: JobEvent | None, topic: str | None
    ) -> Job | None:
        """Fail an active job with its reason and queue its event; return the failed job.

        Returns None (and changes nothing) when the job had already finished.
        """
        with self._sessions.begin() as session:
            result = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status.in_(ACTIVE_STATUSES))
                .values(status="failed", finished_at=utcnow(), error_code=code, error_message=message)
            )
            if not getattr(result, "rowcount", 0):
                return None
            self._queue_event(session, event, topic)
            return session.get(Job, job_id)

    @staticmethod
    def _queue_event(session: Session, event: JobEvent | None, topic: str | None) -> None:
        if event is None or topic is None:
            return
        _insert_ignoring_duplicates(
            session,
            EventOutbox.__table__,
            {
                "job_id": event.job_id,
                "topic": topic,
                "payload": event.model_dump_json(),
                "attempts": 0,
                "created_at": utcnow(),
            },
        )

    def record_shadow(
        self,
        job_id: str,
        *,
        model: str,
        version: str,
        forecasts: list[dict[str, Any]] | None,
        mean_abs_diff: float | None,
        latency_s: float,
        error_code: str | None,
    ) -> None:
        """Store a canary's shadow answer to a job (idempotent per job)."""
        with self._sessions.begin() as session:
            _insert_ignoring_duplicates(
                session,
                ShadowResult.__table__,
                {
                    "job_id": job_id,
                    "model": model,
                    "version": version,
                    "forecasts": forecasts,
                    "mean_abs_diff": mean_abs_diff,
                    "latency_s": latency_s,
                    "error_code": error_code,
                    "created_at": utcnow(),
                },
            )

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

    def stale_active_jobs(self, older_than: datetime) -> list[Job]:
        """Jobs still queued or running that were created before ``older_than``."""
        with self._sessions() as session:
            rows = session.scalars(
                select(Job).where(Job.status.in_(ACTIVE_STATUSES), Job.created_at < older_than)
            )
            return list(rows)
