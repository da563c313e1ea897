"""Thin typed client over ``tritonclient.grpc``: inference, readiness, config, model control.

Nothing here knows about jobs, series or versions policy; it only talks to Triton
and translates its failures into ``triton_client.errors`` types.
"""

from triton_client.aio import AsyncTritonClient
from triton_client.client import RepositoryEntry, TritonClient
from triton_client.codec import InferenceOutput
from triton_client.control import ControlKey
from triton_client.errors import (
    TritonDeadlineExceeded,
    TritonInferenceFailed,
    TritonModelNotFound,
    TritonRejected,
    TritonUnavailable,
    triton_errors,
)

__all__ = [
    "AsyncTritonClient",
    "ControlKey",
    "InferenceOutput",
    "RepositoryEntry",
    "TritonClient",
    "TritonDeadlineExceeded",
    "TritonInferenceFailed",
    "TritonModelNotFound",
    "TritonRejected",
    "TritonUnavailable",
    "triton_errors",
]
