"""Reading and settling ``event_outbox`` rows; the relay's only SQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from job_store.models import EventOutbox

MAX_ERROR_CHARS = 2000
"""``last_error`` keeps the start of long messages only."""


def claim_pending(session: Session, limit: int) -> list[EventOutbox]:
    """Up to ``limit`` unpublished rows, least-tried first, locked until ``session``'s transaction ends.

    On PostgreSQL the rows are taken with ``FOR UPDATE SKIP LOCKED``, so relays in other processes
    pass over them instead of publishing them a second time. SQLite has no row locks: there, relays
    of one process take turns, and relays of several processes may publish a row twice.
    Least-tried first keeps rows that keep failing from starving fresh ones.
    """
    statement = (
        select(EventOutbox)
        .where(EventOutbox.published_at.is_(None))
        .order_by(EventOutbox.attempts, EventOutbox.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    return list(session.scalars(statement))


def mark_published(row: EventOutbox, *, at: datetime | None = None) -> None:
    """Record that the broker confirmed ``row`` (``last_error`` stays, as the story of a late event)."""
    row.published_at = at or datetime.now(UTC)
    row.attempts += 1


def mark_failed(row: EventOutbox, error: str) -> None:
    """Count a failed attempt and keep its reason; the row stays pending."""
    row.attempts += 1
    row.last_error = error[:MAX_ERROR_CHARS]


def count_pending(session: Session) -> int:
    """How many rows wait for the broker's confirmation."""
    statement = select(func.count()).select_from(EventOutbox).where(EventOutbox.published_at.is_(None))
    return int(session.scalar(statement) or 0)
