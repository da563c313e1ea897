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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

from hybrid_core.settings import Settings

__all__ = ["batch_span", "configure_tracing", "enqueue_headers", "instrument_app", "remember_job", "span"]

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
    from opentelemetry.instrumentation.grpc import GrpcInstrumentorClient
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
def _producer_span(job_id: str) -> Iterator[dict[str, str]]:
    from opentelemetry import propagate, trace

    tracer = trace.get_tracer(_TRACER_NAME)
    with tracer.start_as_current_span(
        "enqueue", kind=trace.SpanKind.PRODUCER, attributes={JOB_ID_ATTRIBUTE: job_id}
    ):
        headers: dict[str, str] = {}
        propagate.inject(headers)
        yield headers


def enqueue_headers(job_id: str) -> Any:
    """An ``enqueue`` span; the ``with`` value is the message headers that carry its context."""
    if not _enabled:
        return nullcontext(None)
    return _producer_span(job_id)


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
