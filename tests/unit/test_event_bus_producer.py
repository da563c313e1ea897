"""Producer timeouts as kafka-python settings."""

from __future__ import annotations

from event_bus.producer import ProducerTimeouts


def test_producer_config_uses_milliseconds_when_built_from_timeouts() -> None:
    timeouts = ProducerTimeouts(
        bootstrap_timeout_s=1.5, max_block_s=2, request_timeout_s=3, delivery_timeout_s=2
    )

    assert timeouts.producer_config() == {
        "bootstrap_timeout_ms": 1500,
        "max_block_ms": 2000,
        "request_timeout_ms": 3000,
        "delivery_timeout_ms": 3000,  # never below the request timeout
    }
    assert timeouts.confirm_timeout_s == 4.0
