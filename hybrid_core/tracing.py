"""OpenTelemetry traces of a job's hops, exported over OTLP/gRPC when ``HYBRID_OTLP_ENDPOINT`` is set.

Off (the default), nothing of OpenTelemetry's SDK is imported and every helper here returns at a
flag check. On, :func:`configure_tracing` installs the SDK with a batching OTLP exporter and the
maintained instrumentations (Celery, gRPC, SQLAlchemy, Redis; FastAPI through
:func:`instrument_app`). The hops: API request -> ``enqueue`` (its context in the Celery message
headers) -> ``run/hybrid.run_job`` -> ``worker.batch`` -> ``preprocess``, the Triton call (the gRPC
instrumentation puts the context in the request metadata) -> ``persist``.

The worker runs many jobs in one batch: a batch span is the child of its first job's span and
links to every job's span, instead of pretending to be the child of all.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hybrid_core.settings import Settings

__all__ = [
    "batch_span",
    "carry_context",
    "configure_tracing",
    "current_context",
    "enqueue_headers",
    "instrument_app",
    "remember_job",
    "span",
    "start_publish",
    "trace_headers",
]

JOB_ID_ATTRIBUTE = "hybrid.job_id"
_TRACER_NAME = "hybrid_inference"
# Job spans a worker process remembers for its batches (and forgets, oldest first, past this).
_REMEMBERED_JOBS = 10_000

_enabled = False
_job_spans: OrderedDict[str, Any] = OrderedDict()
_job_spans_lock = threading.Lock()


def configure_tracing(settings: Settings, service_name: str, *, consumes_tasks: bool = False) -> bool:
    """Install the SDK and instrumentations when ``settings.otlp_endpoint`` is set; True if it did.

    Only a process that ``consumes_tasks`` (the worker) gets the Celery instrumentation: in a
    process that sends a task it has not registered (the API's ``send_task``), that
    instrumentation opens a publish span it never ends and overwrites the message's context,
    so the API's ``enqueue`` span injects the context itself.
    """
    global _enabled
    if not settings.otlp_endpoint or _enabled:
        return _enabled
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorClient, GrpcInstrumentorClient
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    # An http:// endpoint is plain gRPC, https:// is TLS.
    exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    if consumes_tasks:
        CeleryInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    GrpcInstrumentorClient().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    # The API's synchronous forecasts call Triton over grpc.aio: their traceparent too.
    GrpcAioInstrumentorClient().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    RedisInstrumentor().instrument(tracer_provider=provider)
    SQLAlchemyInstrumentor().instrument(tracer_provider=provider, enable_commenter=False)
    _enabled = True
    return True


def instrument_app(app: Any) -> None:
    """Trace every request of the FastAPI ``app`` (no-op when tracing is off)."""
    if _enabled:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")


def span(name: str, **attributes: str | int | float) -> Any:
    """A child span of the current one around a ``with`` block (a null context when off)."""
    if not _enabled:
        return nullcontext()
    from opentelemetry import trace

    return trace.get_tracer(_TRACER_NAME).start_as_current_span(name, attributes=attributes)


@contextmanager
def _producer_span(job_id: str, parent: Any) -> Iterator[dict[str, str]]:
    from opentelemetry import propagate, trace

    tracer = trace.get_tracer(_TRACER_NAME)
    with tracer.start_as_current_span(
        "enqueue", context=parent, kind=trace.SpanKind.PRODUCER, attributes={JOB_ID_ATTRIBUTE: job_id}
    ):
        headers: dict[str, str] = {}
        propagate.inject(headers)
        yield headers


def current_context() -> Any:
    """The caller's trace context, to parent work done later in another thread (None when off)."""
    if not _enabled:
        return None
    from opentelemetry import context

    return context.get_current()


def enqueue_headers(job_id: str, parent: Any = None) -> Any:
    """An ``enqueue`` span (under ``parent``, a :func:`current_context`, when given); the ``with``
    value is the message headers that carry its context."""
    if not _enabled:
        return nullcontext(None)
    return _producer_span(job_id, parent)


def remember_job(job_id: str) -> None:
    """Tag the current (task) span with ``job_id`` and keep it for the batch that runs the job."""
    if not _enabled:
        return
    from opentelemetry import trace

    current = trace.get_current_span()
    current.set_attribute(JOB_ID_ATTRIBUTE, job_id)
    with _job_spans_lock:
        _job_spans[job_id] = current.get_span_context()
        while len(_job_spans) > _REMEMBERED_JOBS:
            _job_spans.popitem(last=False)


@contextmanager
def _batch_span(job_ids: Sequence[str]) -> Iterator[None]:
    from opentelemetry import trace

    with _job_spans_lock:
        contexts = [c for c in (_job_spans.pop(job_id, None) for job_id in job_ids) if c is not None]
    parent = trace.set_span_in_context(trace.NonRecordingSpan(contexts[0])) if contexts else None
    tracer = trace.get_tracer(_TRACER_NAME)
    with tracer.start_as_current_span(
        "worker.batch",
        context=parent,
        links=[trace.Link(c) for c in contexts],
        attributes={"hybrid.batch_jobs": len(job_ids), "hybrid.job_ids": list(job_ids)},
    ):
        yield


def batch_span(job_ids: Sequence[str]) -> Any:
    """The span of one worker batch: child of its first job's span, linked to every job's."""
    if not _enabled:
        return nullcontext()
    return _batch_span(job_ids)


_In = TypeVar("_In")
_Out = TypeVar("_Out")


def carry_context(function: Callable[[_In], _Out]) -> Callable[[_In], _Out]:
    """``function`` run in the caller's trace context wherever it runs (an executor's thread).

    Executor threads do not inherit the submitting thread's context, so the Triton calls of a
    bulk job would start traces of their own. Off, ``function`` itself comes back.
    """
    if not _enabled:
        return function
    from opentelemetry import context

    captured = context.get_current()

    def attached(argument: _In) -> _Out:
        token = context.attach(captured)
        try:
            return function(argument)
        finally:
            context.detach(token)

    return attached


def trace_headers() -> dict[str, str] | None:
    """W3C headers (``traceparent``, ``tracestate``) of the current span; None when tracing is off
    or no span is current. Stored with an outbox row, so the Kafka publish joins the job's trace."""
    if not _enabled:
        return None
    from opentelemetry import propagate

    headers: dict[str, str] = {}
    propagate.inject(headers)
    return headers or None


@dataclass
class PublishTrace:
    """The ``kafka publish`` span of one record (None when off) and the headers the record carries."""

    headers: list[tuple[str, bytes]] = field(default_factory=list)
    span: Any = None

    def end(self, error: str | None) -> None:
        """End the span once the broker confirmed the record (``error`` None) or refused it."""
        if self.span is None:
            return
        if error is not None:
            from opentelemetry.trace import Status, StatusCode

            self.span.set_status(Status(StatusCode.ERROR, error))
        self.span.end()


def start_publish(trace_context: Mapping[str, str] | None, *, topic: str, job_id: str) -> PublishTrace:
    """A ``kafka publish`` producer span, child of the span ``trace_context`` was taken from, and
    the Kafka headers that carry its context. Off, the stored headers pass through unchanged."""
    if not _enabled:
        return PublishTrace([(k, v.encode()) for k, v in (trace_context or {}).items()])
    from opentelemetry import propagate, trace

    parent = propagate.extract(dict(trace_context or {}))
    publish = trace.get_tracer(_TRACER_NAME).start_span(
        "kafka publish",
        context=parent,
        kind=trace.SpanKind.PRODUCER,
        attributes={
            "messaging.system": "kafka",
            "messaging.destination.name": topic,
            "messaging.operation.type": "publish",
            JOB_ID_ATTRIBUTE: job_id,
        },
    )
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(publish))
    return PublishTrace([(k, v.encode()) for k, v in carrier.items()], publish)
