"""Worker-only metrics, and the HTTP server that exposes a worker's metrics.

The worker runs Celery's threads pool, so one process holds every task of a worker and one
plain ``prometheus_client`` HTTP server per process (``HYBRID_WORKER_METRICS_PORT``) exposes
them all: no multiprocess mode needed. The forecasting metrics shared with the API's sync
path live in ``hybrid_core.metrics``.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, start_http_server

from hybrid_core.metrics import JOB_FAILURES

logger = logging.getLogger(__name__)

JOB_RETRIES = Counter("hybrid_job_retries_total", "Job retries scheduled, by reason.", ["reason"])
KAFKA_EVENTS_PENDING = Gauge(
    "hybrid_kafka_events_pending", "Job events in the outbox not yet confirmed by Kafka."
)


# Reasons known in advance are exported at zero from the start, so rate() and dashboards have
# a series to show before the first failure instead of "no data".
KNOWN_RETRY_REASONS = ("triton_unavailable", "triton_deadline_exceeded", "service_unavailable")
KNOWN_FAILURE_REASONS = (
    *KNOWN_RETRY_REASONS,
    "triton_inference_failed",
    "triton_rejected",
    "triton_model_not_found",
    "invalid_input",
    "internal_error",
)


def serve_metrics(port: int, host: str = "127.0.0.1") -> bool:
    """Expose this process's metrics on ``host:port``; False (logged) when the port is taken."""
    for reason in KNOWN_RETRY_REASONS:
        JOB_RETRIES.labels(reason)
    for reason in KNOWN_FAILURE_REASONS:
        JOB_FAILURES.labels(reason)
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        logger.warning("worker metrics not exposed on %s:%d: %s", host, port, exc)
        return False
    logger.info("worker metrics on http://%s:%d/metrics", host, port)
    return True
