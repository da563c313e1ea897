"""Job events on Kafka: the outbox relay that publishes them, and the reader that prints them.

A finished job writes its :class:`~hybrid_core.schemas.JobEvent` to the ``event_outbox`` table in the
same transaction as its result (``job_store``); :class:`OutboxRelay` publishes those rows (key: job id)
and marks them once the broker confirmed them. Delivery is at least once: consumers dedupe by key.
"""

from event_bus.admin import ensure_topic
from event_bus.consumer import ReceivedEvent, decode_record, format_event, read_events
from event_bus.errors import BrokerUnavailable, EventsNotConfigured
from event_bus.producer import DEFAULT_TIMEOUTS, ProducerTimeouts, create_producer
from event_bus.relay import OutboxRelay

__all__ = [
    "DEFAULT_TIMEOUTS",
    "BrokerUnavailable",
    "EventsNotConfigured",
    "OutboxRelay",
    "ProducerTimeouts",
    "ReceivedEvent",
    "create_producer",
    "decode_record",
    "ensure_topic",
    "format_event",
    "read_events",
]
