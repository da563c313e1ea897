"""Reading job events back from Kafka, and one-line renderings of them.

Delivery is at least once: the same job id (the record key) may appear twice; readers that act on
events should dedupe by it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from pydantic import ValidationError

from event_bus.errors import kafka_errors
from hybrid_core.schemas import JobEvent

DEFAULT_POLL_TIMEOUT_S = 1.0
DEFAULT_CONNECT_TIMEOUT_S = 5.0
_TIMING_ORDER = ("preprocess_s", "infer_s", "postprocess_s", "total_s")


@dataclass(frozen=True)
class ReceivedEvent:
    """One record of the events topic: the decoded event, or why it could not be decoded."""

    partition: int
    offset: int
    key: str | None
    event: JobEvent | None
    error: str | None = None


def decode_record(partition: int, offset: int, key: bytes | None, value: bytes | None) -> ReceivedEvent:
    """Parse one record's value as a :class:`JobEvent`; a bad value becomes ``error``, never an exception."""
    decoded_key = None if key is None else key.decode(errors="replace")
    try:
        event = JobEvent.model_validate_json(value or b"")
    except ValidationError as exc:
        reason = f"not a JobEvent: {exc.error_count()} errors"
        return ReceivedEvent(partition, offset, decoded_key, None, reason)
    return ReceivedEvent(partition, offset, decoded_key, event)


def format_event(received: ReceivedEvent) -> str:
    """One line: finish time, job id, status, model, version, arm, series and timings (and the error)."""
    event = received.event
    if event is None:
        return f"{received.partition}:{received.offset} key={received.key} undecodable ({received.error})"
    known = [name for name in _TIMING_ORDER if name in event.timings_s]
    others = sorted(set(event.timings_s) - set(known))
    timings = " ".join(f"{name}={event.timings_s[name]:.3f}" for name in known + others)
    line = (
        f"{event.finished_at.isoformat()} {event.job_id} {event.status} model={event.model} "
        f"version={event.version} arm={event.arm} series={event.series_count}"
    )
    if timings:
        line += f" {timings}"
    if event.error is not None:
        line += f" error={event.error.code}: {event.error.message}"
    return line


def read_events(
    bootstrap_servers: str,
    topic: str,
    *,
    follow: bool = False,
    from_beginning: bool = False,
    poll_timeout_s: float = DEFAULT_POLL_TIMEOUT_S,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[ReceivedEvent]:
    """The events of ``topic``, in offset order per partition, without joining a consumer group.

    Without ``follow``: every event in the topic when the call starts, then stop. With ``follow``:
    only new events (all of them with ``from_beginning``), until ``should_stop()`` is true.
    Raises :class:`~event_bus.errors.BrokerUnavailable` when the broker cannot be reached.
    """
    with kafka_errors(f"cannot read events from Kafka at {bootstrap_servers}"):
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap_servers.split(","),
            group_id=None,
            enable_auto_commit=False,
            allow_auto_create_topics=False,
            bootstrap_timeout_ms=round(connect_timeout_s * 1000),
            request_timeout_ms=round(connect_timeout_s * 1000) + 1000,
        )
    try:
        yield from _read(consumer, topic, follow, from_beginning, poll_timeout_s, should_stop)
    finally:
        consumer.close()


def _read(
    consumer: Any,
    topic: str,
    follow: bool,
    from_beginning: bool,
    poll_timeout_s: float,
    should_stop: Callable[[], bool],
) -> Iterator[ReceivedEvent]:
    with kafka_errors(f"cannot read topic {topic}"):
        partitions = _wait_for_partitions(consumer, topic, follow, poll_timeout_s, should_stop)
        if not partitions:
            return
        consumer.assign(partitions)
        if follow and not from_beginning:
            consumer.seek_to_end(*partitions)
        else:
            consumer.seek_to_beginning(*partitions)
        ends: dict[Any, int] = {} if follow else consumer.end_offsets(partitions)
        while not should_stop():
            if not follow and all(consumer.position(tp) >= end for tp, end in ends.items()):
                return
            batches = consumer.poll(timeout_ms=round(poll_timeout_s * 1000))
            for records in batches.values():
                for record in records:
                    yield decode_record(record.partition, record.offset, record.key, record.value)


def _wait_for_partitions(
    consumer: Any, topic: str, follow: bool, poll_timeout_s: float, should_stop: Callable[[], bool]
) -> list[Any]:
    """The topic's partitions; an absent topic has none, unless following, which waits for it."""
    while True:
        numbers = consumer.partitions_for_topic(topic)
        if numbers or not follow or should_stop():
            return [TopicPartition(topic, number) for number in sorted(numbers)]
        time.sleep(poll_timeout_s)
