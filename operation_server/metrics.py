"""Prometheus metrics of the API process, exposed at ``/metrics``.

Labels stay bounded: the route *template* (never the raw path or a job id), the method,
the status class, and model/version/arm/reason values that come from the repository or
from our own error codes.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTTP_REQUESTS = Counter(
    "hybrid_http_requests_total", "HTTP requests answered.", ["route", "method", "status_class"]
)
HTTP_DURATION = Histogram(
    "hybrid_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["route", "method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
JOBS_SUBMITTED = Counter(
    "hybrid_jobs_submitted_total", "Jobs accepted and enqueued.", ["model", "version", "arm"]
)
REQUESTS_REJECTED = Counter(
    "hybrid_requests_rejected_total", "Requests refused with a 4xx, by error code.", ["reason"]
)
REQUESTS_SHED = Counter(
    "hybrid_requests_shed_total",
    "Requests refused before any work because a limit was reached (429 or 503), by reason.",
    ["reason"],
)
QUEUE_DEPTH = Gauge("hybrid_queue_depth", "Jobs waiting in the broker queue for a worker.")


class HttpMetrics:
    """ASGI middleware counting and timing requests by route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "GET")
            HTTP_REQUESTS.labels(template, method, f"{status // 100}xx").inc()
            HTTP_DURATION.labels(template, method).observe(time.perf_counter() - started)


async def metrics_endpoint(_: Request) -> Response:
    """Prometheus text exposition of this process's metrics."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


ACTUAL_POINTS = Counter("hybrid_actual_points_total", "Observed values received on /v1/actuals.", ["model"])
SCORED_POINTS = Counter(
    "hybrid_forecast_scored_points_total",
    "Forecast points scored against an observed value.",
    ["model", "version", "arm"],
)
ABS_ERROR = Counter(
    "hybrid_forecast_abs_error_total",
    "Sum of |actual - mean| over scored points (divide by scored points for the MAE).",
    ["model", "version", "arm"],
)
SCALED_POINTS = Counter(
    "hybrid_forecast_scaled_points_total",
    "Scored points whose series has a MASE scale (a seasonal naive error from its history).",
    ["model", "version", "arm"],
)
SCALED_ERROR = Counter(
    "hybrid_forecast_scaled_error_total",
    "Sum of |actual - mean| / scale over scaled points (divide by scaled points for the MASE).",
    ["model", "version", "arm"],
)
COVERED_POINTS = Counter(
    "hybrid_forecast_covered_points_total",
    "Scored points inside the forecast's band at each level (divide by scored points for coverage).",
    ["model", "version", "arm", "level"],
)
