"""Metrics shared by both transports of the forecasting path (Celery worker and the API's sync path).

Each process exposes its own copy; Prometheus tells them apart by the scrape job. Labels stay
bounded: model, version, arm, stage, status and our own error codes.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

STAGES = ("queue_wait", "preprocess", "infer", "postprocess", "persist", "publish")
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

STAGE_DURATION = Histogram(
    "hybrid_job_stage_duration_seconds",
    "Time a forecast spends in each stage.",
    ["stage", "model", "version"],
    buckets=LATENCY_BUCKETS_S,
)
JOB_DURATION = Histogram(
    "hybrid_job_duration_seconds",
    "End-to-end time of a forecast, from submission to its result.",
    ["model", "version", "arm"],
    buckets=LATENCY_BUCKETS_S,
)
JOBS_FINISHED = Counter(
    "hybrid_jobs_finished_total", "Forecasts that ended, by outcome.", ["model", "version", "arm", "status"]
)
JOB_FAILURES = Counter("hybrid_job_failures_total", "Forecasts that ended failed, by reason.", ["reason"])
TRITON_IN_FLIGHT = Gauge(
    "hybrid_triton_requests_in_flight", "Inference requests sent to Triton and unanswered."
)


def observe_stages(model: str, version: str, timings_s: dict[str, float]) -> None:
    """Record every known stage present in ``timings_s`` (keys ``<stage>_s``)."""
    for stage in STAGES:
        value = timings_s.get(f"{stage}_s")
        if value is not None:
            STAGE_DURATION.labels(stage, model, version).observe(value)
