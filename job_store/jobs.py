"""Jobs in the durable store: record, start and finish in batches, read back.

Every write that finishes a job is idempotent (keyed by job id) and writes the
job's event to the outbox in the same transaction, so a redelivered task can
neither duplicate a result nor lose an event. ``job_store.lifecycle`` is the one
caller that starts and finishes jobs, with their Redis views and metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


@dataclass(frozen=True)
class SuccessRecord:
    """The result row of a job that succeeded."""

    job_id: str
    version: str
    forecasts: list[dict[str, Any]]
    timings: dict[str, float]
    worker: str


@dataclass(frozen=True)
class FailureRecord:
    """The final reason of a job that failed."""

    job_id: str
    code: str
    message: str


def _dialect_insert(session: Session) -> Any:
    """The INSERT construct with ON CONFLICT support of the session's dialect."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _insert_ignoring_duplicates(session: Session, table: Any, values: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING on PostgreSQL and SQLite; True if a row was written."""
    insert = _dialect_insert(session)
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

    def start_many(self, job_ids: Sequence[str]) -> list[StartedJob]:
        """``start`` for a batch in one transaction: the jobs still active, each with its series."""
        if not job_ids:
            return []
        with self._sessions.begin() as session:
            jobs = session.scalars(
                update(Job)
                .where(Job.id.in_(job_ids), Job.status.in_(ACTIVE_STATUSES))
                .values(status="running", attempts=Job.attempts + 1, started_at=utcnow())
                .returning(Job),
                execution_options={"synchronize_session": False},
            ).all()
            if not jobs:
                return []
            rows = session.execute(
                select(JobInput.job_id, JobInput.series).where(JobInput.job_id.in_([j.id for j in jobs]))
            )
            inputs = {job_id: series for job_id, series in rows}
            return [StartedJob(job=job, series=inputs.get(job.id) or []) for job in jobs]

    def finish_many(
        self,
        successes: Sequence[SuccessRecord],
        failures: Sequence[FailureRecord],
        *,
        event_of: Callable[[Job], JobEvent],
        topic: str | None,
    ) -> list[Job]:
        """Finish a batch in one transaction: result rows, status updates and outbox events.

        A job gets its result only once (a redelivered job's duplicate is dropped) and fails only
        while active; returns the jobs this call finished, each with its ``event_of`` queued on
        ``topic`` (no events when None).
        """
        finished: list[Job] = []
        with self._sessions.begin() as session:
            if successes:
                insert = _dialect_insert(session)
                now = utcnow()
                written = set(
                    session.scalars(
                        insert(JobResult)
                        .values(
                            [
                                {
                                    "job_id": r.job_id,
                                    "version": r.version,
                                    "forecasts": r.forecasts,
                                    "timings": r.timings,
                                    "worker": r.worker,
                                    "created_at": now,
                                }
                                for r in successes
                            ]
                        )
                        .on_conflict_do_nothing()
                        .returning(JobResult.job_id)
                    ).all()
                )
                if written:
                    finished += session.scalars(
                        update(Job)
                        .where(Job.id.in_(written))
                        .values(status="succeeded", finished_at=now, error_code=None, error_message=None)
                        .returning(Job),
                        execution_options={"synchronize_session": False},
                    ).all()
            for failure in failures:  # rare: one statement each, in the same transaction
                finished += session.scalars(
                    update(Job)
                    .where(Job.id == failure.job_id, Job.status.in_(ACTIVE_STATUSES))
                    .values(
                        status="failed",
                        finished_at=utcnow(),
                        error_code=failure.code,
                        error_message=failure.message,
                    )
                    .returning(Job),
                    execution_options={"synchronize_session": False},
                ).all()
            if topic is not None:
                self._queue_events(session, [event_of(job) for job in finished], topic)
        return finished

    @staticmethod
    def _queue_events(session: Session, events: Sequence[JobEvent], topic: str) -> None:
        if not events:
            return
        now = utcnow()
        session.execute(
            _dialect_insert(session)(EventOutbox)
            .values(
                [
                    {
                        "job_id": event.job_id,
                        "topic": topic,
                        "payload": event.model_dump_json(),
                        "attempts": 0,
                        "created_at": now,
                    }
                    for event in events
                ]
            )
            .on_conflict_do_nothing()
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
