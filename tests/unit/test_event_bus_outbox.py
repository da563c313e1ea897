"""Outbox bookkeeping and the relay's failure path on SQLite, with no broker listening."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from event_bus.outbox import MAX_ERROR_CHARS, claim_pending, count_pending, mark_failed, mark_published
from event_bus.producer import ProducerTimeouts
from event_bus.relay import OutboxRelay
from job_store.database import make_engine, make_session_factory, migrate
from job_store.models import EventOutbox


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'outbox.db'}")
    migrate(engine)
    yield make_session_factory(engine)
    engine.dispose()


def _add(sessions: sessionmaker[Session], job_id: str, *, attempts: int = 0) -> None:
    with sessions.begin() as session:
        session.add(EventOutbox(job_id=job_id, topic="t", payload="{}", attempts=attempts))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_claim_pending_returns_least_tried_first_when_rows_failed_before(
    sessions: sessionmaker[Session],
) -> None:
    _add(sessions, "old-failing", attempts=5)
    _add(sessions, "fresh-1")
    _add(sessions, "fresh-2")

    with sessions() as session:
        claimed = [row.job_id for row in claim_pending(session, limit=2)]

    assert claimed == ["fresh-1", "fresh-2"]


def test_claim_pending_skips_rows_when_already_published(sessions: sessionmaker[Session]) -> None:
    _add(sessions, "done")
    _add(sessions, "waiting")
    with sessions.begin() as session:
        mark_published(claim_pending(session, limit=1)[0])

    with sessions() as session:
        assert [row.job_id for row in claim_pending(session, limit=10)] == ["waiting"]
        assert count_pending(session) == 1


def test_mark_failed_counts_attempt_and_truncates_error_when_error_is_long(
    sessions: sessionmaker[Session],
) -> None:
    _add(sessions, "job")
    with sessions.begin() as session:
        mark_failed(claim_pending(session, limit=1)[0], "x" * (MAX_ERROR_CHARS + 10))

    with sessions() as session:
        row = claim_pending(session, limit=1)[0]
    assert row.attempts == 1
    assert row.last_error == "x" * MAX_ERROR_CHARS


def test_relay_flush_keeps_row_pending_when_no_broker_listens(sessions: sessionmaker[Session]) -> None:
    _add(sessions, "job")
    timeouts = ProducerTimeouts(bootstrap_timeout_s=0.5, max_block_s=0.5, request_timeout_s=0.5)
    relay = OutboxRelay(sessions, f"127.0.0.1:{_closed_port()}", timeouts=timeouts)

    assert relay.flush() == 0

    assert relay.pending_count() == 1
    with sessions() as session:
        row = claim_pending(session, limit=1)[0]
    assert row.attempts == 1
    assert row.last_error is not None and "cannot connect to Kafka" in row.last_error
    relay.stop()


def test_relay_flush_returns_zero_when_outbox_is_empty(sessions: sessionmaker[Session]) -> None:
    relay = OutboxRelay(sessions, "127.0.0.1:1")

    assert relay.flush() == 0
