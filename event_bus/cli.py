"""``hybrid-inference events``: print job events from Kafka, one line each."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from event_bus.consumer import format_event, read_events
from event_bus.errors import BrokerUnavailable
from hybrid_core.logs import configure_logging
from hybrid_core.settings import get_settings

EXIT_NOT_CONFIGURED = 2
EXIT_BROKER_UNAVAILABLE = 1


def register(subparsers: Any) -> None:
    """Add the ``events`` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "events",
        help="print job events from Kafka",
        description=(
            "Print one line per finished job (job id, status, model, version, arm, timings). "
            "Without --follow: the events already in the topic, then exit. With --follow: new events "
            "as they come (and the earlier ones too with --from-beginning), until Ctrl-C."
        ),
    )
    parser.add_argument("--follow", "-f", action="store_true", help="keep waiting for new events")
    parser.add_argument(
        "--from-beginning", action="store_true", help="with --follow, start with the events already there"
    )
    parser.add_argument("--topic", default=None, help="events topic (default: HYBRID_KAFKA_TOPIC)")
    parser.add_argument(
        "--bootstrap-servers", default=None, help="Kafka brokers (default: HYBRID_KAFKA_BOOTSTRAP_SERVERS)"
    )
    parser.set_defaults(handler=run_events)


def run_events(args: argparse.Namespace) -> int:
    """Print the events; the exit status says whether Kafka was configured and reachable."""
    settings = get_settings()
    # The events themselves go to stdout; only diagnostics (kafka-python's warnings) are logged.
    configure_logging(settings.log_format, "WARNING")
    bootstrap_servers = args.bootstrap_servers or settings.kafka_bootstrap_servers
    topic = args.topic or settings.kafka_topic
    if not bootstrap_servers:
        print(
            "Kafka is not configured: set HYBRID_KAFKA_BOOTSTRAP_SERVERS (e.g. 127.0.0.1:9092) "
            "or pass --bootstrap-servers.",
            file=sys.stderr,
        )
        return EXIT_NOT_CONFIGURED
    try:
        for received in read_events(
            bootstrap_servers, topic, follow=args.follow, from_beginning=args.from_beginning
        ):
            print(format_event(received), flush=True)
    except BrokerUnavailable as exc:
        print(f"Kafka is unavailable: {exc.message}", file=sys.stderr)
        return EXIT_BROKER_UNAVAILABLE
    except KeyboardInterrupt:
        pass
    return 0
