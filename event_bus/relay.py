"""The outbox relay: publishes ``event_outbox`` rows to Kafka, marking each only once the broker confirmed it.

Delivery is at least once. A row is marked published after the broker acknowledged it (``acks="all"``);
if the process dies, or the database commit fails, between the two, the event is published again
later. Consumers dedupe by the record key, the job id. A broker outage costs a bounded wait per flush
and leaves rows pending (``attempts`` and ``last_error`` say why); it never loses an event, and since
jobs commit their event to the outbox before the relay runs, it never fails a job.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from kafka.errors import KafkaError
from sqlalchemy.orm import Session, sessionmaker

from event_bus._ticker import Ticker
from event_bus.errors import BrokerUnavailable, EventsNotConfigured, describe_kafka_error
from event_bus.outbox import claim_pending, count_pending, mark_failed, mark_published
from event_bus.producer import DEFAULT_TIMEOUTS, ProducerTimeouts, create_producer
from hybrid_core.settings import Settings
from hybrid_core.tracing import start_publish
from job_store.models import EventOutbox

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 5.0
DEFAULT_BATCH_SIZE = 100


class OutboxRelay:
    """Publishes pending outbox rows; call :meth:`flush` directly or run it in a thread (:meth:`start`).

    The producer is created on first use and dropped after any failure, so a broker that is down
    when the relay starts, or that restarts, is simply tried again on the next flush.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        bootstrap_servers: str,
        *,
        timeouts: ProducerTimeouts = DEFAULT_TIMEOUTS,
        interval_s: float = DEFAULT_INTERVAL_S,
        batch_size: int = DEFAULT_BATCH_SIZE,
        client_id: str | None = None,
    ) -> None:
        if batch_size <= 0:
            raise ValueError("batch_size must be positive")
        self._sessions = sessions
        self._bootstrap_servers = bootstrap_servers
        self._timeouts = timeouts
        self._batch_size = batch_size
        self._client_id = client_id
        self._producer: Any = None
        # One flush at a time per relay: the thread and direct callers share the producer.
        self._lock = threading.Lock()
        self._ticker = Ticker(self._drain, interval_s=interval_s, name="outbox-relay")

    @classmethod
    def from_settings(
        cls, settings: Settings, sessions: sessionmaker[Session], **options: Any
    ) -> OutboxRelay:
        """A relay for ``settings.kafka_bootstrap_servers``; raises ``EventsNotConfigured`` when unset."""
        if not settings.kafka_bootstrap_servers:
            raise EventsNotConfigured("HYBRID_KAFKA_BOOTSTRAP_SERVERS is not set")
        return cls(sessions, settings.kafka_bootstrap_servers, **options)

    def flush(self, limit: int | None = None) -> int:
        """Publish up to ``limit`` pending rows (default: batch size); returns how many the broker confirmed.

        Rows that fail get ``attempts + 1`` and ``last_error`` and stay pending. Database errors propagate.
        """
        with self._lock, self._sessions.begin() as session:
            rows = claim_pending(session, limit or self._batch_size)
            if not rows:
                return 0
            errors = self._publish(rows)
            for row, error in zip(rows, errors, strict=True):
                if error is None:
                    mark_published(row)
                else:
                    mark_failed(row, error)
            published = errors.count(None)
        if published < len(rows):
            log.warning(
                "outbox relay: %d of %d events not published: %s",
                len(rows) - published,
                len(rows),
                next(e for e in errors if e is not None),
            )
        return published

    def pending_count(self) -> int:
        """How many events wait for the broker."""
        with self._sessions() as session:
            return count_pending(session)

    def start(self) -> None:
        """Flush in a daemon thread now, every ``interval_s`` and whenever :meth:`wake` is called."""
        self._ticker.start()

    def wake(self) -> None:
        """Flush soon (the worker calls this right after finishing a job); never blocks."""
        self._ticker.wake()

    def stop(self, timeout_s: float | None = None) -> None:
        """End the thread after its current flush, then close the producer. Pending rows stay for later."""
        if timeout_s is None:
            timeout_s = self._timeouts.bootstrap_timeout_s + self._timeouts.confirm_timeout_s + 5.0
        if not self._ticker.stop(timeout_s):
            log.warning("outbox relay: thread still flushing after %.1f s; leaving it", timeout_s)
            return
        with self._lock:
            self._drop_producer(timeout_s=self._timeouts.request_timeout_s)

    def __enter__(self) -> OutboxRelay:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _drain(self) -> None:
        """Flush batch after batch while they come back full, unless asked to stop."""
        while self.flush() == self._batch_size and not self._ticker.stopping:
            pass

    def _publish(self, rows: Sequence[EventOutbox]) -> list[str | None]:
        """Send every row, then wait for each confirmation; one error message (or None) per row."""
        try:
            producer = self._producer_or_create()
        except BrokerUnavailable as exc:
            return [str(exc)] * len(rows)
        errors: list[str | None] = [None] * len(rows)
        futures: list[Any] = []
        traces = [start_publish(row.trace_context, topic=row.topic, job_id=row.job_id) for row in rows]
        try:
            for row, publish in zip(rows, traces, strict=True):
                futures.append(
                    producer.send(
                        row.topic,
                        key=row.job_id.encode(),
                        value=row.payload.encode(),
                        headers=publish.headers or None,
                    )
                )
        except KafkaError as exc:
            # send() blocks on metadata or buffer space; once it fails, the rest would fail alike.
            errors[len(futures) :] = [describe_kafka_error(exc)] * (len(rows) - len(futures))
        deadline = time.monotonic() + self._timeouts.confirm_timeout_s
        for index, future in enumerate(futures):
            try:
                future.get(timeout=max(0.0, deadline - time.monotonic()))
            except KafkaError as exc:
                errors[index] = describe_kafka_error(exc)
        for publish, error in zip(traces, errors, strict=True):
            publish.end(error)
        if any(error is not None for error in errors):
            self._drop_producer(timeout_s=0.0)
        return errors

    def _producer_or_create(self) -> Any:
        if self._producer is None:
            self._producer = create_producer(
                self._bootstrap_servers, self._timeouts, client_id=self._client_id
            )
        return self._producer

    def _drop_producer(self, *, timeout_s: float) -> None:
        producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            producer.close(timeout=timeout_s)
        except KafkaError as exc:
            log.debug("outbox relay: closing the producer failed: %s", exc)
