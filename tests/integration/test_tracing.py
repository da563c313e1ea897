"""HYBRID_OTLP_ENDPOINT: one job gives one trace across the API, the worker, the Triton call (the
client's span and Triton's own server span), and the Kafka publish of its event."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kafka import KafkaConsumer
from sqlalchemy import Engine

from local_stack.triton_server import LocalTritonServer, TritonPorts, find_free_port
from local_stack.waiting import wait_until
from tests.conftest import EVENTS_TOPIC
from tests.support.data import request_series
from tests.support.otlp import ReceivedSpan, TraceReceiver, otlp_http_receiver, otlp_receiver
from tests.support.processes import launch_api, launch_worker, started, stop_all
from tests.support.triton import stop_quickly_at_teardown

pytestmark = pytest.mark.integration

TRITON_INFER = "/inference.GRPCInferenceService/ModelInfer"
KAFKA_PUBLISH = "kafka publish"
BULK_SERIES = 150
"""More than one batch of HYBRID_INFER_BATCH_SIZE (64): the bulk path's executor threads run them."""


@pytest.fixture(scope="module")
def traced(
    triton: LocalTritonServer,
    service_env: dict[str, str],
    redis_url: str,
    session_dir: Path,
    db_engine: Engine,  # the session database migrated before its API and worker start together
) -> Iterator[tuple[str, TraceReceiver]]:
    """API and worker exporting to one receiver (OTLP/gRPC), and a Triton of their own over the
    session's repository exporting its spans to the same receiver (OTLP/HTTP); yields the API URL."""
    logs = session_dir / "logs"
    with otlp_receiver() as (endpoint, receiver), otlp_http_receiver(receiver) as (traces_url, _):
        server = LocalTritonServer(
            triton.repository,
            state_dir=session_dir / "traced",
            models=triton.models,
            ports=TritonPorts.free(),
            control_key=triton.control_key,
            otlp_traces_url=traces_url,
        )
        # Export within a fifth of a second instead of the batching processor's 5 s.
        server.trace_args.append("--trace-config=opentelemetry,bsp_schedule_delay=200")
        with server:
            env = service_env | {
                "HYBRID_OTLP_ENDPOINT": endpoint,
                "HYBRID_TRITON_GRPC_URL": server.grpc_url,
                "HYBRID_REDIS_URL": redis_url.rsplit("/", 1)[0] + "/8",
                # Export within a fifth of a second instead of the batching processor's 5 s.
                "OTEL_BSP_SCHEDULE_DELAY": "200",
            }
            port = find_free_port()
            worker, api = started(
                launch_worker(env, logs / "worker-traced.log"), launch_api(env, logs / "api-traced.log", port)
            )
            try:
                yield f"http://127.0.0.1:{port}", receiver
            finally:
                stop_all(api, worker)
                stop_quickly_at_teardown(server)


def run_job(api_url: str, series_count: int, seed: int) -> str:
    with httpx.Client(base_url=api_url, timeout=60) as client:
        accepted = client.post(
            "/v1/jobs",
            json={"model": "lstm_timeseries", "series": request_series(series_count, 200, seed=seed)},
        )
        assert accepted.status_code == 202, accepted.text
        job_id: str = accepted.json()["job_id"]
        view = client.get(f"/v1/jobs/{job_id}", params={"wait_s": 30}).json()
        assert view["status"] == "succeeded", view
    return job_id


def job_trace(
    receiver: TraceReceiver, job_id: str, *, needs: set[str], triton_calls: int = 1
) -> list[ReceivedSpan]:
    """The spans of the one trace holding ``job_id``, once it holds every name of ``needs`` and
    ``triton_calls`` client and server spans of the Triton call."""

    def complete() -> list[ReceivedSpan] | None:
        spans = receiver.snapshot()
        tagged = {s.trace_id for s in spans if s.attributes.get("hybrid.job_id") == job_id}
        if len(tagged) != 1:
            return None
        trace = [s for s in spans if s.trace_id in tagged]
        names = [s.name for s in trace]
        if not needs <= set(names) or names.count(TRITON_INFER) < triton_calls:
            return None
        if len([s for s in trace if s.service == "triton"]) < triton_calls:
            return None
        return trace

    try:
        trace: list[ReceivedSpan] = wait_until(
            complete, timeout_s=60, interval_s=0.2, message="the job's trace"
        )
    except TimeoutError as exc:
        spans = receiver.snapshot()
        tagged = {s.trace_id for s in spans if s.attributes.get("hybrid.job_id") == job_id}
        seen = sorted((s.service, s.name) for s in spans if s.trace_id in tagged)
        raise AssertionError(f"job {job_id}: traces {len(tagged)}, spans so far {seen}") from exc
    return trace


def kafka_traceparent(job_id: str, bootstrap_servers: str) -> str:
    """The ``traceparent`` header of the job's event as a consumer reads it from the topic."""
    consumer = KafkaConsumer(
        EVENTS_TOPIC,
        bootstrap_servers=bootstrap_servers,
        group_id=f"test-trace-{job_id}",
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        consumer_timeout_ms=30_000,
    )
    try:
        record = next(r for r in consumer if r.key == job_id.encode())
    finally:
        consumer.close()
    headers: dict[str, bytes] = dict(record.headers)
    return headers["traceparent"].decode()


def test_job_gives_one_trace_over_api_worker_triton_and_kafka_when_otlp_endpoint_set(
    traced: tuple[str, TraceReceiver], kafka: str
) -> None:
    api_url, receiver = traced
    needs = {TRITON_INFER, "persist", KAFKA_PUBLISH}
    job_id = run_job(api_url, 1, seed=9)
    try:
        trace = job_trace(receiver, job_id, needs=needs)
    except AssertionError:
        # Seen once in about ten runs: tritonserver's own exporter dropped a job's spans while ours
        # all arrived. A second job must then bring the whole trace, Triton's spans included.
        job_id = run_job(api_url, 1, seed=10)
        trace = job_trace(receiver, job_id, needs=needs)

    by_name = {s.name: s for s in trace}
    assert {s.service for s in trace} == {"hybrid-api", "hybrid-worker", "triton"}
    assert by_name["POST /v1/jobs"].service == "hybrid-api"
    assert by_name["enqueue"].attributes["hybrid.job_id"] == job_id
    assert by_name["run/hybrid.run_job"].attributes["hybrid.job_id"] == job_id
    assert by_name["run/hybrid.run_job"].parent_span_id == by_name["enqueue"].span_id
    assert by_name["worker.batch"].parent_span_id == by_name["run/hybrid.run_job"].span_id
    assert {"preprocess", "forecast", "persist"} <= by_name.keys()
    assert by_name[TRITON_INFER].service == "hybrid-worker"
    # Triton's own span hangs under the client's gRPC span (traceparent in the gRPC metadata).
    ids = {s.span_id for s in trace}
    triton_spans = [s for s in trace if s.service == "triton"]
    assert any(s.parent_span_id == by_name[TRITON_INFER].span_id for s in triton_spans)
    assert all(s.parent_span_id in ids for s in triton_spans)
    # The relay's publish is a child of the span that wrote the outbox row, inside the batch.
    publish = by_name[KAFKA_PUBLISH]
    assert publish.attributes["hybrid.job_id"] == job_id
    assert publish.attributes["messaging.destination.name"] == EVENTS_TOPIC
    assert publish.parent_span_id in ids
    # ...and the event carries the publish span's context to its consumers.
    _version, trace_id, parent_id, _flags = kafka_traceparent(job_id, kafka).split("-")
    assert (trace_id, parent_id) == (publish.trace_id, publish.span_id)


def test_bulk_job_triton_calls_join_its_trace_when_sent_from_the_infer_threads(
    traced: tuple[str, TraceReceiver],
) -> None:
    api_url, receiver = traced
    job_id = run_job(api_url, BULK_SERIES, seed=10)
    calls = -(-BULK_SERIES // 64)
    trace = job_trace(receiver, job_id, needs={TRITON_INFER, "persist"}, triton_calls=calls)

    infers = [s for s in trace if s.name == TRITON_INFER]
    assert len(infers) == calls
    assert {s.service for s in infers} == {"hybrid-worker"}
    # Every thread's call is a child of the one span that handed the batches to the pool.
    parents = {s.parent_span_id for s in infers}
    assert len(parents) == 1
    assert parents <= {s.span_id for s in trace}
