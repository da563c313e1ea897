"""Worker-only metrics, and the HTTP server that exposes a worker's metrics.

The worker runs Celery's threads pool, so one process holds every task of a worker and one
plain ``prometheus_client`` HTTP server per process (``HYBRID_WORKER_METRICS_PORT``) exposes
them all: no multiprocess mode needed. The forecasting metrics shared with the API's sync
path live in ``hybrid_core.metrics``.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, start_http_server

logger = logging.getLogger(__name__)

JOB_RETRIES = Counter("hybrid_job_retries_total", "Job retries scheduled, by reason.", ["reason"])
KAFKA_EVENTS_PENDING = Gauge(
    "hybrid_kafka_events_pending", "Job events in the outbox not yet confirmed by Kafka."
)


def serve_metrics(port: int, host: str = "127.0.0.1") -> bool:
    """Expose this process's metrics on ``host:port``; False (logged) when the port is taken."""
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        logger.warning("worker metrics not exposed on %s:%d: %s", host, port, exc)
        return False
    logger.info("worker metrics on http://%s:%d/metrics", host, port)
    return True
