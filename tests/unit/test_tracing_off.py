"""Tracing off (no HYBRID_OTLP_ENDPOINT): the job path loads no OpenTelemetry SDK and opens no span."""

from __future__ import annotations

import subprocess
import sys

from hybrid_core import tracing
from hybrid_core.settings import Settings


def test_tracing_helpers_are_null_contexts_when_endpoint_unset() -> None:
    assert tracing.configure_tracing(Settings(otlp_endpoint=None), "test") is False
    with tracing.enqueue_headers("job-1") as headers, tracing.batch_span(["job-1"]), tracing.span("x"):
        tracing.remember_job("job-1")
    assert headers is None


def test_job_path_loads_no_tracer_or_instrumentation_when_tracing_off() -> None:
    # redis 8 imports opentelemetry.sdk's base package for its own (off) observability hooks;
    # what must stay out is a tracer provider, the SDK's tracing, exporters and instrumentations.
    code = (
        "import sys, worker.service, worker.tasks, hybrid_core.queueing, operation_server.cli\n"
        "from opentelemetry import trace\n"
        "prefixes = ('opentelemetry.sdk.trace', 'opentelemetry.exporter', 'opentelemetry.instrumentation')\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(prefixes))\n"
        "assert not loaded, loaded\n"
        "assert type(trace.get_tracer_provider()).__name__ == 'ProxyTracerProvider'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_carry_context_returns_the_function_itself_when_tracing_off() -> None:
    def double(value: int) -> int:
        return value * 2

    assert tracing.carry_context(double) is double


def test_outbox_trace_context_is_none_when_tracing_off() -> None:
    assert tracing.trace_headers() is None


def test_publish_passes_stored_headers_through_without_a_span_when_tracing_off() -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    publish = tracing.start_publish({"traceparent": traceparent}, topic="events", job_id="job-1")
    assert publish.headers == [("traceparent", traceparent.encode())]
    assert publish.span is None
    publish.end(None)
    assert tracing.start_publish(None, topic="events", job_id="job-1").headers == []
