"""Triton's own OpenTelemetry tracing in the local stack: the flags, and where its spans go."""

from __future__ import annotations

import pytest

from local_stack.triton_server import opentelemetry_trace_args, otlp_http_traces_url


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("http://otel-collector:4317", "http://otel-collector:4318/v1/traces"),
        ("https://collector.example:4317", "https://collector.example:4318/v1/traces"),
        ("127.0.0.1:4317", "http://127.0.0.1:4318/v1/traces"),
        ("http://collector:9999", None),
        (None, None),
    ],
)
def test_triton_traces_go_to_the_collectors_http_receiver_when_otlp_endpoint_on_standard_port(
    endpoint: str | None, expected: str | None
) -> None:
    assert otlp_http_traces_url(endpoint) == expected


def test_trace_args_select_opentelemetry_mode_and_the_url_when_tracing() -> None:
    args = opentelemetry_trace_args("http://c:4318/v1/traces", rate=10)
    assert "--trace-config=mode=opentelemetry" in args
    assert "--trace-config=opentelemetry,url=http://c:4318/v1/traces" in args
    assert "--trace-config=rate=10" in args
    assert "--trace-config=level=TIMESTAMPS" in args
