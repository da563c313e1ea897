"""Prometheus metrics of a worker process, served on ``HYBRID_WORKER_METRICS_PORT``.

The worker runs Celery's threads pool, so one process holds every task of a worker and one
plain ``prometheus_client`` HTTP server per process exposes all of them (no multiprocess mode
needed). Labels stay bounded: model, version, arm, stage, status and error codes.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, Histogram, start_http_server

logger = logging.getLogger(__name__)

STAGES = ("queue_wait", "preprocess", "infer", "postprocess", "persist", "publish")
_LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

STAGE_DURATION = Histogram(
    "hybrid_job_stage_duration_seconds",
    "Time a job spends in each worker stage.",
    ["stage", "model", "version"],
    buckets=_LATENCY_BUCKETS_S,
)
JOB_DURATION = Histogram(
    "hybrid_job_duration_seconds",
    "End-to-end time of a job, from submission to its recorded result.",
    ["model", "version", "arm"],
    buckets=_LATENCY_BUCKETS_S,
)
JOBS_FINISHED = Counter(
    "hybrid_jobs_finished_total", "Jobs that ended, by outcome.", ["model", "version", "arm", "status"]
)
JOB_FAILURES = Counter("hybrid_job_failures_total", "Jobs that ended failed, by reason.", ["reason"])
JOB_RETRIES = Counter("hybrid_job_retries_total", "Job retries scheduled, by reason.", ["reason"])
TRITON_IN_FLIGHT = Gauge(
    "hybrid_triton_requests_in_flight", "Inference requests sent to Triton and unanswered."
)
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
