"""Triton failures as our own error types, translated at one boundary.

``triton_errors()`` wraps every call into ``tritonclient``; it reads the gRPC
status of an ``InferenceServerException`` (never its message text) and raises:

    TritonUnavailable        (retryable) server down, model unloading, overloaded
    TritonDeadlineExceeded   (retryable) the call ran past its deadline
    TritonModelNotFound      (permanent) no such model or version in Triton
    TritonRejected           (permanent) Triton refused the request (shape, dtype, ...)
    TritonInferenceFailed    (permanent) the model itself failed while executing
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import grpc
from tritonclient.utils import InferenceServerException

from hybrid_core.errors import DeadlineExceeded, HybridError, NotFound, ServiceUnavailable


class TritonUnavailable(ServiceUnavailable):
    code = "triton_unavailable"


class TritonDeadlineExceeded(DeadlineExceeded):
    code = "triton_deadline_exceeded"


class TritonModelNotFound(NotFound):
    code = "triton_model_not_found"


class TritonRejected(HybridError):
    status_code = 502
    code = "triton_rejected"


class TritonInferenceFailed(HybridError):
    status_code = 502
    code = "triton_inference_failed"


_RETRYABLE: dict[str, type[HybridError]] = {
    "StatusCode.UNAVAILABLE": TritonUnavailable,
    # Triton answers RESOURCE_EXHAUSTED when its queue policy rejects a request.
    "StatusCode.RESOURCE_EXHAUSTED": TritonUnavailable,
    "StatusCode.ABORTED": TritonUnavailable,
    "StatusCode.DEADLINE_EXCEEDED": TritonDeadlineExceeded,
}
_PERMANENT: dict[str, type[HybridError]] = {
    "StatusCode.NOT_FOUND": TritonModelNotFound,
    "StatusCode.INVALID_ARGUMENT": TritonRejected,
    "StatusCode.UNIMPLEMENTED": TritonRejected,
    "StatusCode.FAILED_PRECONDITION": TritonRejected,
    "StatusCode.INTERNAL": TritonInferenceFailed,
    "StatusCode.UNKNOWN": TritonInferenceFailed,
}
STATUS_TO_ERROR: dict[str, type[HybridError]] = {**_RETRYABLE, **_PERMANENT}
"""gRPC status (as ``tritonclient`` renders it) -> our error type."""


def translate(exc: InferenceServerException | grpc.RpcError) -> HybridError:
    """Our error for a ``tritonclient`` or gRPC exception."""
    if isinstance(exc, InferenceServerException):
        status = exc.status()
        message = exc.message() or str(exc)
    else:
        status = str(exc.code())
        message = exc.details() or str(exc)
    # tritonclient raises status-less exceptions for client-side checks (bad dtype, shape).
    error_type = STATUS_TO_ERROR.get(status or "", TritonRejected)
    return error_type(f"Triton: {message} ({status or 'client-side check'})")


@contextmanager
def triton_errors() -> Iterator[None]:
    """Translate any ``tritonclient`` / gRPC failure raised inside the block."""
    try:
        yield
    except (InferenceServerException, grpc.RpcError) as exc:
        raise translate(exc) from exc
