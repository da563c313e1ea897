"""Job events end to end: JobStore outbox -> OutboxRelay -> a real Tansu broker -> real Kafka consumers.

PostgreSQL: one throwaway database for this module, emptied before each test.
Kafka: a Tansu broker per test on a free port (memory storage, so tests cannot see each other's topics).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from kafka import KafkaConsumer
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session, sessionmaker

from event_bus import OutboxRelay, ProducerTimeouts, ReceivedEvent, ensure_topic, read_events
from hybrid_cli.main import main as cli_main
from hybrid_core.schemas import JobEvent
from job_store.database import make_engine, make_session_factory, migrate
from job_store.jobs import JobStore, NewJob, Succeeded
from job_store.models import EventOutbox, Job
from local_stack.tansu import TansuBroker, TansuStartError, find_tansu_binary
from local_stack.waiting import wait_until
from tests.support.services import postgres_database

pytestmark = pytest.mark.integration

# Short, so that a broker outage costs a test seconds, not minutes.
FAST_TIMEOUTS = ProducerTimeouts(
    bootstrap_timeout_s=2.0, max_block_s=2.0, request_timeout_s=2.0, delivery_timeout_s=3.0
)
WAIT_S = 20.0


@pytest.fixture(scope="module")
def events_engine() -> Iterator[Engine]:
    """A database of this module's own: flushes see only the rows of the test at hand."""
    with postgres_database() as url:
        engine = make_engine(url)
        migrate(engine)
        yield engine
        engine.dispose()


@pytest.fixture
def sessions(events_engine: Engine) -> sessionmaker[Session]:
    factory = make_session_factory(events_engine)
    with factory.begin() as session:
        session.execute(delete(EventOutbox))
        session.execute(delete(Job))  # cascades to inputs and results
    return factory


@pytest.fixture
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    try:
        find_tansu_binary()
    except TansuStartError as exc:
        pytest.skip(str(exc))
    with TansuBroker(log_path=tmp_path_factory.mktemp("tansu") / "tansu.log") as running:
        yield running


@pytest.fixture
def topic(broker: TansuBroker) -> str:
    name = f"job-events-{uuid.uuid4().hex[:8]}"
    ensure_topic(broker.bootstrap_servers, name)
    return name


@pytest.fixture
def relay(sessions: sessionmaker[Session], broker: TansuBroker) -> Iterator[OutboxRelay]:
    relay = OutboxRelay(sessions, broker.bootstrap_servers, timeouts=FAST_TIMEOUTS, interval_s=60.0)
    yield relay
    relay.stop()


def finish_job(sessions: sessionmaker[Session], topic: str) -> JobEvent:
    """Record, start and succeed one job through JobStore; its event lands in the outbox."""
    store = JobStore(sessions)
    job_id = uuid.uuid4().hex
    store.create(NewJob(job_id, "ets", "1", "stable", None, horizon=2, series=[[1.0, 2.0, 3.0]]))
    store.start_many([job_id], lease_s=30)
    forecasts = [{"mean": [4.0, 5.0], "lower": [3.0, 4.0], "upper": [5.0, 6.0]}]
    timings = {"preprocess_s": 0.001, "infer_s": 0.02, "postprocess_s": 0.001, "total_s": 0.022}
    event = JobEvent.model_validate(
        {
            "job_id": job_id,
            "status": "succeeded",
            "model": "ets",
            "version": "1",
            "arm": "stable",
            "series_count": 1,
            "timings_s": timings,
            "result_path": f"/v1/jobs/{job_id}",
            "forecasts": forecasts,
            "finished_at": datetime.now(UTC),
        }
    )
    written = store.finish_many(
        [Succeeded(job_id, "1", forecasts, timings)], [], worker="test", event_of=lambda _: event, topic=topic
    )
    assert [job.id for job in written] == [job_id]
    return event


def outbox_row(sessions: sessionmaker[Session], job_id: str) -> EventOutbox:
    with sessions() as session:
        row = session.scalar(select(EventOutbox).where(EventOutbox.job_id == job_id))
    assert row is not None
    return row


def all_events(broker: TansuBroker, topic: str) -> list[ReceivedEvent]:
    return list(read_events(broker.bootstrap_servers, topic))


def test_relay_publishes_event_to_group_consumer_when_job_succeeds(
    sessions: sessionmaker[Session], broker: TansuBroker, topic: str, relay: OutboxRelay
) -> None:
    event = finish_job(sessions, topic)

    assert relay.pending_count() == 1
    assert relay.flush() == 1

    assert relay.pending_count() == 0
    row = outbox_row(sessions, event.job_id)
    assert row.published_at is not None
    assert row.attempts == 1
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap_servers,
        group_id=f"test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        # Group joins on Tansu take about half the session timeout.
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    try:
        records: list[Any] = []
        deadline = time.monotonic() + WAIT_S
        while not records and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
    finally:
        consumer.close()
    assert len(records) == 1
    assert records[0].key == event.job_id.encode()
    assert JobEvent.model_validate_json(records[0].value) == event


def test_relay_keeps_event_pending_when_broker_down_then_publishes_when_back(
    sessions: sessionmaker[Session], broker: TansuBroker, topic: str, relay: OutboxRelay
) -> None:
    finish_job(sessions, topic)
    assert relay.flush() == 1  # the relay now holds a connected producer
    broker.stop()
    event = finish_job(sessions, topic)

    assert relay.flush() == 0

    row = outbox_row(sessions, event.job_id)
    assert row.published_at is None
    assert row.attempts >= 1
    assert row.last_error
    assert relay.pending_count() == 1
    job = JobStore(sessions).get(event.job_id)
    assert job is not None and job.status == "succeeded"

    broker.start()  # memory storage: the topic and the first event are gone
    ensure_topic(broker.bootstrap_servers, topic)
    assert relay.flush() == 1

    assert relay.pending_count() == 0
    received = all_events(broker, topic)
    assert [r.key for r in received] == [event.job_id]
    assert received[0].event == event


def test_relay_publishes_later_when_broker_down_at_start(
    sessions: sessionmaker[Session], broker: TansuBroker, topic: str, relay: OutboxRelay
) -> None:
    broker.stop()
    event = finish_job(sessions, topic)

    assert relay.flush() == 0
    assert "cannot connect" in (outbox_row(sessions, event.job_id).last_error or "")

    broker.start()
    ensure_topic(broker.bootstrap_servers, topic)
    assert relay.flush() == 1
    assert [r.key for r in all_events(broker, topic)] == [event.job_id]


def test_relay_publishes_each_event_once_when_flushed_twice(
    sessions: sessionmaker[Session], broker: TansuBroker, topic: str, relay: OutboxRelay
) -> None:
    events = [finish_job(sessions, topic) for _ in range(3)]

    assert relay.flush() == 3
    assert relay.flush() == 0

    received = all_events(broker, topic)
    assert sorted(r.key or "" for r in received) == sorted(e.job_id for e in events)
    assert all(outbox_row(sessions, e.job_id).attempts == 1 for e in events)


def test_relays_publish_each_event_once_when_flushing_concurrently(
    sessions: sessionmaker[Session], broker: TansuBroker, topic: str
) -> None:
    events = [finish_job(sessions, topic) for _ in range(40)]
    relays = [
        OutboxRelay(sessions, broker.bootstrap_servers, timeouts=FAST_TIMEOUTS, batch_size=5)
        for _ in range(4)
    ]
    counts: list[int] = []

    def drain(relay: OutboxRelay) -> None:
        total = 0
        while (published := relay.flush()) > 0:
            total += published
        counts.append(total)

    threads = [threading.Thread(target=drain, args=(relay,)) for relay in relays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    for relay in relays:
        relay.stop()

    assert sum(counts) == len(events)
    received = all_events(broker, topic)
    assert sorted(r.key or "" for r in received) == sorted(e.job_id for e in events)


def test_relay_thread_publishes_event_when_woken(
    sessions: sessionmaker[Session], broker: TansuBroker, topic: str, relay: OutboxRelay
) -> None:
    relay.start()  # interval_s=60: only wake() can make it publish within the test
    event = finish_job(sessions, topic)

    relay.wake()

    wait_until(lambda: relay.pending_count() == 0, timeout_s=WAIT_S, message="outbox drained")
    relay.stop()
    assert [r.key for r in all_events(broker, topic)] == [event.job_id]


def test_events_cli_prints_one_line_per_event_when_events_exist(
    sessions: sessionmaker[Session],
    broker: TansuBroker,
    topic: str,
    relay: OutboxRelay,
    capsys: pytest.CaptureFixture[str],
) -> None:
    events = [finish_job(sessions, topic) for _ in range(2)]
    relay.flush()

    status = cli_main(["events", "--bootstrap-servers", broker.bootstrap_servers, "--topic", topic])

    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    assert len(lines) == 2
    for line, event in zip(lines, events, strict=True):
        assert event.job_id in line
        assert "succeeded model=ets version=1 arm=stable" in line
        assert "total_s=0.022" in line


def test_read_events_yields_new_event_when_following(
    sessions: sessionmaker[Session], broker: TansuBroker, topic: str, relay: OutboxRelay
) -> None:
    stop = threading.Event()
    received: list[ReceivedEvent] = []

    def follow() -> None:
        for item in read_events(
            broker.bootstrap_servers,
            topic,
            follow=True,
            from_beginning=True,
            poll_timeout_s=0.2,
            should_stop=stop.is_set,
        ):
            received.append(item)

    reader = threading.Thread(target=follow)
    reader.start()
    try:
        event = finish_job(sessions, topic)
        relay.flush()
        wait_until(lambda: received, timeout_s=WAIT_S, message="followed event")
    finally:
        stop.set()
        reader.join(WAIT_S)
    assert not reader.is_alive()
    assert [r.event for r in received] == [event]
