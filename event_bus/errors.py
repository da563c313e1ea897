"""Errors of the event bus under the platform's one error base; Kafka errors are translated here only.

HybridError
├── EventsNotConfigured          500  permanent: no Kafka bootstrap servers are set
└── RetryableError
    └── ServiceUnavailable
        └── BrokerUnavailable    503  retryable: the Kafka broker did not answer or refused
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from kafka.errors import KafkaError

from hybrid_core.errors import HybridError, ServiceUnavailable


class EventsNotConfigured(HybridError):
    code = "events_not_configured"


class BrokerUnavailable(ServiceUnavailable):
    code = "broker_unavailable"


@contextmanager
def kafka_errors(action: str) -> Iterator[None]:
    """Translate kafka-python errors raised while doing ``action`` into :class:`BrokerUnavailable`."""
    try:
        yield
    except KafkaError as exc:
        raise BrokerUnavailable(f"{action}: {describe_kafka_error(exc)}") from exc


def describe_kafka_error(exc: KafkaError) -> str:
    """The error's text, led by its class name (kafka-python includes it in most, not all, messages)."""
    text = str(exc)
    name = type(exc).__name__
    return text if name in text else f"{name}: {text}"
