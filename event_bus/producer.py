"""The Kafka producer of job events: bounded timeouts, acknowledged by every in-sync replica."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer

from event_bus.errors import kafka_errors


@dataclass(frozen=True)
class ProducerTimeouts:
    """How long one publish may take, end to end; a broker outage costs at most these."""

    bootstrap_timeout_s: float = 5.0
    """Connecting to the cluster when the producer is created."""
    max_block_s: float = 5.0
    """``send()`` blocking on topic metadata or a full buffer."""
    request_timeout_s: float = 5.0
    """One produce request waiting for the broker's answer."""
    delivery_timeout_s: float = 10.0
    """A record waiting for confirmation, retries included (at least ``request_timeout_s``)."""

    @property
    def effective_delivery_timeout_s(self) -> float:
        """The delivery timeout, never below the request timeout (records would expire mid-request)."""
        return max(self.delivery_timeout_s, self.request_timeout_s)

    @property
    def confirm_timeout_s(self) -> float:
        """How long the relay waits on a send's future: the delivery timeout, plus a margin."""
        return self.effective_delivery_timeout_s + 1.0

    def producer_config(self) -> dict[str, Any]:
        """The kafka-python settings these timeouts stand for."""
        return {
            "bootstrap_timeout_ms": _ms(self.bootstrap_timeout_s),
            "max_block_ms": _ms(self.max_block_s),
            "request_timeout_ms": _ms(self.request_timeout_s),
            "delivery_timeout_ms": _ms(self.effective_delivery_timeout_s),
        }


DEFAULT_TIMEOUTS = ProducerTimeouts()


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def create_producer(
    bootstrap_servers: str, timeouts: ProducerTimeouts = DEFAULT_TIMEOUTS, *, client_id: str | None = None
) -> KafkaProducer:
    """A connected producer; raises :class:`~event_bus.errors.BrokerUnavailable` when no broker answers."""
    with kafka_errors(f"cannot connect to Kafka at {bootstrap_servers}"):
        return KafkaProducer(
            bootstrap_servers=bootstrap_servers.split(","),
            client_id=client_id,
            acks="all",
            # Delivery is at least once by design (the outbox retries, consumers dedupe by key), so the
            # idempotent producer buys little; and it wedges for good with UnknownProducerIdError once a
            # broker that forgot its producer ids (Tansu on memory storage, restarted) comes back.
            enable_idempotence=False,
            linger_ms=0,
            **timeouts.producer_config(),
        )
