"""Topic administration: make sure the events topic exists before anyone relies on it."""

from __future__ import annotations

from kafka import KafkaAdminClient
from kafka.errors import TopicAlreadyExistsError

from event_bus.errors import kafka_errors


def ensure_topic(
    bootstrap_servers: str,
    topic: str,
    *,
    partitions: int = 1,
    replication_factor: int = 1,
    timeout_s: float = 10.0,
) -> bool:
    """Create ``topic`` unless it exists; True if this call created it.

    Brokers may auto-create topics on first produce, but with their own defaults, and not every
    cluster allows it; creating the topic explicitly works everywhere.
    """
    timeout_ms = round(timeout_s * 1000)
    with kafka_errors(f"cannot create topic {topic} at {bootstrap_servers}"):
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers.split(","),
            bootstrap_timeout_ms=timeout_ms,
            request_timeout_ms=timeout_ms,
        )
        try:
            admin.create_topics(
                {topic: {"num_partitions": partitions, "replication_factor": replication_factor}},
                timeout_ms=timeout_ms,
                wait_for_metadata=True,
            )
        except TopicAlreadyExistsError:
            return False
        finally:
            admin.close()
    return True
