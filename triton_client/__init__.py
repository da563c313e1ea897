"""Thin typed client over ``tritonclient.grpc``: inference, readiness, config, model control,
and a pool of replicas behind one ``infer()`` (``TritonPool``, ``AsyncTritonPool``).

Nothing here knows about jobs, series or versions policy; it only talks to Triton
and translates its failures into ``triton_client.errors`` types.
"""

from triton_client.aio import AsyncTritonClient
from triton_client.aio_pool import AsyncTritonPool
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
from triton_client.pool import Replica, TritonPool
from triton_client.replicas import ReplicaSet, ReplicaStatus

__all__ = [
    "AsyncTritonClient",
    "AsyncTritonPool",
    "ControlKey",
    "InferenceOutput",
    "Replica",
    "ReplicaSet",
    "ReplicaStatus",
    "RepositoryEntry",
    "TritonClient",
    "TritonDeadlineExceeded",
    "TritonInferenceFailed",
    "TritonModelNotFound",
    "TritonPool",
    "TritonRejected",
    "TritonUnavailable",
    "triton_errors",
]
