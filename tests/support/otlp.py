"""Real OTLP trace receivers in the test process, from opentelemetry-proto's definitions.

``otlp_receiver``: OTLP/gRPC (``TraceService.Export``), what our processes export with.
``otlp_http_receiver``: OTLP/HTTP with a protobuf body on ``POST /v1/traces``, what Triton's
OpenTelemetry trace mode exports with (it sends OTLP/JSON, which is read too).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


@dataclass(frozen=True)
class ReceivedSpan:
    """One exported span, flattened: its service, name, ids and string/int attributes."""

    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    links: list[str]


@dataclass
class TraceReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    """Implements TraceService.Export: keeps every span it is sent."""

    spans: list[ReceivedSpan] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext | None
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        received = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        ReceivedSpan(
                            service=str(resource.get("service.name", "")),
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            attributes={a.key: _value(a.value) for a in span.attributes},
                            links=[link.trace_id.hex() for link in span.links],
                        )
                    )
        with self._lock:
            self.spans.extend(received)
        return trace_service_pb2.ExportTraceServiceResponse()

    def snapshot(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self.spans)


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


@contextmanager
def otlp_receiver() -> Iterator[tuple[str, TraceReceiver]]:
    """A running receiver on a free local port: yields its endpoint (http://127.0.0.1:PORT) and it."""
    receiver = TraceReceiver()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"http://127.0.0.1:{port}", receiver
    finally:
        server.stop(grace=None)


OTLP_HTTP_TRACES_PATH = "/v1/traces"
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def _parse_json(body: bytes) -> trace_service_pb2.ExportTraceServiceRequest:
    """OTLP/JSON (what Triton's C++ exporter sends): ids are hex there, base64 in protobuf's JSON."""
    document = json.loads(body)

    def fix_ids(item: dict[str, Any]) -> None:
        for key in _ID_FIELDS:
            if item.get(key):
                item[key] = base64.b64encode(bytes.fromhex(item[key])).decode()

    for resource_spans in document.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                fix_ids(span)
                for link in span.get("links", []):
                    fix_ids(link)
    request = trace_service_pb2.ExportTraceServiceRequest()
    json_format.ParseDict(document, request, ignore_unknown_fields=True)
    return request


def _http_handler(receiver: TraceReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path != OTLP_HTTP_TRACES_PATH:
                self.send_error(404)
                return
            as_json = self.headers.get("Content-Type", "").startswith("application/json")
            request = _parse_json(body) if as_json else trace_service_pb2.ExportTraceServiceRequest()
            if not as_json:
                request.ParseFromString(body)
            response = receiver.Export(request, None)
            answer = json_format.MessageToJson(response).encode() if as_json else response.SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/json" if as_json else "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextmanager
def otlp_http_receiver(
    receiver: TraceReceiver | None = None, host: str = "127.0.0.1"
) -> Iterator[tuple[str, TraceReceiver]]:
    """An OTLP/HTTP receiver on a free port: yields its traces URL (``http://HOST:PORT/v1/traces``)
    and the receiver (pass one to share it with an ``otlp_receiver``)."""
    receiver = receiver or TraceReceiver()
    server = ThreadingHTTPServer((host, 0), _http_handler(receiver))
    thread = threading.Thread(target=server.serve_forever, name="otlp-http", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}{OTLP_HTTP_TRACES_PATH}", receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
