"""``config.pbtxt`` from a typed spec, through Triton's own protobuf, and back.

Never string-formatted: ``model_config_pb2`` + ``text_format`` guarantee that what is
written is what Triton parses. The local launcher reads canonical configs with
``read_model_config`` and writes derived ones with ``write_model_config``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from hybrid_core.version_params import INPUT_NAME, OUTPUT_NAME

CONFIG_FILENAME = "config.pbtxt"
Platform = Literal["pytorch_libtorch", "onnxruntime_onnx"]
PLATFORM_BY_FORMAT: dict[str, Platform] = {"torchscript": "pytorch_libtorch", "onnx": "onnxruntime_onnx"}
"""Triton platform of each ``Artifact.format``."""


@dataclass(frozen=True)
class TritonModelSpec:
    """What varies between our forecasting models' configs; the rest is fixed by the data path."""

    name: str
    platform: Platform
    versions: tuple[int, ...]
    horizon: int
    max_batch_size: int = 128
    preferred_batch_sizes: tuple[int, ...] = (16, 32, 64, 128)
    max_queue_delay_us: int = 0
    """No wait for a fuller batch: while an instance runs, the queue fills the next batch anyway
    (``hybrid-inference bench --sweep`` on 2 CPU cores: a 1 ms or 5 ms delay added its length to
    the single-user latency and bought no throughput at 64 users; deploy/README.md for the GPU)."""
    max_queue_size: int = 1024
    """Requests Triton queues per model before it refuses more (UNAVAILABLE, which clients retry)."""
    queue_timeout_us: int = 5_000_000
    """A request still queued after this is rejected rather than served late (clients retry)."""
    instance_count: int = 2
    """Two: one batch runs while the next is gathered (the sweep: 1,700 against 1,150 req/s at 64
    users on 2 CPU cores, p99 73 against 79 ms; on a GPU, two streams, deploy/README.md)."""
    instance_kind: Literal["KIND_GPU", "KIND_CPU"] = "KIND_GPU"
    """The canonical repository targets the production GPU Triton; local stacks derive CPU copies."""


def build_model_config(spec: TritonModelSpec) -> model_config_pb2.ModelConfig:
    """The ``ModelConfig`` message of ``spec``.

    Input ``INPUT__0`` is FP32 ``[-1]`` (batch implicit, window length free so versions
    may differ); output ``OUTPUT__0`` is FP32 ``[horizon]``.
    """
    if not spec.versions:
        raise ValueError(f"{spec.name}: a config needs at least one version")
    if spec.max_batch_size < 1:
        raise ValueError("max_batch_size must be positive: the batch dimension is implicit")
    pb = model_config_pb2
    return pb.ModelConfig(
        name=spec.name,
        platform=spec.platform,
        max_batch_size=spec.max_batch_size,
        input=[pb.ModelInput(name=INPUT_NAME, data_type=pb.TYPE_FP32, dims=[-1])],
        output=[pb.ModelOutput(name=OUTPUT_NAME, data_type=pb.TYPE_FP32, dims=[spec.horizon])],
        dynamic_batching=pb.ModelDynamicBatching(
            preferred_batch_size=list(spec.preferred_batch_sizes),
            max_queue_delay_microseconds=spec.max_queue_delay_us,
            # Bounded: an overloaded Triton refuses quickly instead of queueing without limit.
            default_queue_policy=pb.ModelQueuePolicy(
                timeout_action=pb.ModelQueuePolicy.TimeoutAction.REJECT,
                default_timeout_microseconds=spec.queue_timeout_us,
                allow_timeout_override=True,
                max_queue_size=spec.max_queue_size,
            ),
        ),
        instance_group=[
            pb.ModelInstanceGroup(
                count=spec.instance_count, kind=pb.ModelInstanceGroup.Kind.Value(spec.instance_kind)
            )
        ],
        version_policy=pb.ModelVersionPolicy(
            specific=pb.ModelVersionPolicy.Specific(versions=sorted(spec.versions))
        ),
    )


def render_model_config(config: model_config_pb2.ModelConfig) -> str:
    """Protobuf text format, as Triton reads it."""
    text: str = text_format.MessageToString(config)
    return text


def parse_model_config(text: str) -> model_config_pb2.ModelConfig:
    """Parse protobuf text format; unknown fields raise ``text_format.ParseError``."""
    return text_format.Parse(text, model_config_pb2.ModelConfig())


def read_model_config(path: Path) -> model_config_pb2.ModelConfig:
    """Read one ``config.pbtxt``."""
    return parse_model_config(path.read_text())


def write_model_config(path: Path, config: model_config_pb2.ModelConfig) -> None:
    """Write ``config`` to ``path`` by rename, so a polling Triton never reads half a file."""
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(render_model_config(config))
    os.replace(staging, path)
