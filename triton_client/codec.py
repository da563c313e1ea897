"""numpy <-> Triton gRPC request/response conversion, shared by the sync and async clients."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from tritonclient.grpc import InferInput, InferRequestedOutput, InferResult
from tritonclient.utils import np_to_triton_dtype

from triton_client.errors import TritonRejected


@dataclass(frozen=True)
class InferenceOutput:
    """What Triton answered: the output tensor and the version that produced it."""

    outputs: npt.NDArray[np.float32]
    model_version: str


def encode_inputs(
    input_name: str, output_name: str, batch: npt.NDArray[np.float32]
) -> tuple[list[InferInput], list[InferRequestedOutput]]:
    """One FP32 input tensor and the one requested output."""
    array = np.ascontiguousarray(batch)
    infer_input = InferInput(input_name, list(array.shape), np_to_triton_dtype(array.dtype))
    infer_input.set_data_from_numpy(array)
    return [infer_input], [InferRequestedOutput(output_name)]


def decode_result(result: InferResult, output_name: str) -> InferenceOutput:
    """Read the named output and the answering version from a result."""
    outputs = result.as_numpy(output_name)
    if outputs is None:
        raise TritonRejected(f"Triton answered without output {output_name!r}")
    response = result.get_response()
    return InferenceOutput(outputs=outputs, model_version=str(response.model_version))
