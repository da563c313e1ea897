"""Triton Python-backend model serving one TorchScript or ONNX forecasting artifact on CPU.

``local_stack.installation`` copies this file verbatim as ``<backends>/hybrid_python/model.py``,
the Python-based backend every derived model names; the backend stub imports it by path, so it
stays self-contained (numpy, torch or onnxruntime and ``triton_python_backend_utils`` only).
Which file to load comes from the config parameters ``artifact_file``, ``artifact_format`` and
``num_threads``; an optional ``device: cuda`` runs a TorchScript model on the GPU when torch
sees one (CPU otherwise, and always for ONNX).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import triton_python_backend_utils as pb_utils

Array = npt.NDArray[np.float32]
Forward = Callable[[Array], Array]


def group_by_length(arrays: Mapping[int, Array]) -> dict[int, list[int]]:
    """Keys of ``[batch, length]`` arrays grouped by length, so each group stacks into one batch."""
    groups: dict[int, list[int]] = {}
    for key, array in arrays.items():
        groups.setdefault(array.shape[1], []).append(key)
    return groups


def split_rows(stacked: Array, sizes: Sequence[int]) -> list[Array]:
    """Split a stacked ``[sum(sizes), ...]`` output back into one block per request."""
    if stacked.shape[0] != sum(sizes):
        raise ValueError(f"model returned {stacked.shape[0]} rows for {sum(sizes)} inputs")
    return np.split(stacked, np.cumsum(sizes)[:-1])


def input_problem(array: Array) -> str | None:
    """Why ``array`` cannot be forecast, or None when it can."""
    if array.ndim != 2 or array.shape[1] == 0:
        return f"expected a [batch, length>0] FP32 tensor, got shape {list(array.shape)}"
    if not np.isfinite(array).all():
        return "input holds NaN or infinite values"
    return None


def load_torchscript(path: Path, num_threads: int, device: str = "cpu") -> Forward:
    import torch

    torch.set_num_threads(num_threads)
    target = torch.device("cuda" if device == "cuda" and torch.cuda.is_available() else "cpu")
    module = torch.jit.load(str(path), map_location=target).eval()  # type: ignore[no-untyped-call]

    def forward(batch: Array) -> Array:
        with torch.inference_mode():
            # .to()/.cpu() return the tensor itself when it is already on that device.
            result: Array = module(torch.from_numpy(batch).to(target)).cpu().numpy()
        return result

    return forward


def load_onnx(path: Path, num_threads: int, device: str = "cpu") -> Forward:
    del device  # the CPU onnxruntime package has no GPU provider
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def forward(batch: Array) -> Array:
        result: Array = session.run(None, {input_name: batch})[0]
        return result

    return forward


Loader = Callable[[Path, int, str], Forward]
"""``(artifact path, intra-op threads, device) -> forward``."""
_LOADERS: dict[str, Loader] = {"torchscript": load_torchscript, "onnx": load_onnx}


def _error(message: str, code: Any) -> Any:
    return pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(message, code))


class TritonPythonModel:
    """One instance per ``instance_group`` entry; ``execute`` runs one dynamic batch."""

    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        self.input_name: str = config["input"][0]["name"]
        self.output_name: str = config["output"][0]["name"]
        version_dir = Path(args["model_repository"]) / args["model_version"]
        loader = _LOADERS[parameters["artifact_format"]]
        self.forward = loader(
            version_dir / parameters["artifact_file"],
            int(parameters["num_threads"]),
            parameters.get("device", "cpu"),
        )

    def execute(self, requests: list[Any]) -> list[Any]:
        """One forward pass per input length over all requests of the call, split back per request."""
        responses: list[Any] = [None] * len(requests)
        arrays: dict[int, Array] = {}
        for index, request in enumerate(requests):
            tensor = pb_utils.get_input_tensor_by_name(request, self.input_name)
            if tensor is None:
                responses[index] = _error(
                    f"missing input {self.input_name}", pb_utils.TritonError.INVALID_ARG
                )
                continue
            array = np.asarray(tensor.as_numpy(), dtype=np.float32)
            problem = input_problem(array)
            if problem is not None:
                # An error response fails only this request; raising would fail the whole batch.
                responses[index] = _error(problem, pb_utils.TritonError.INVALID_ARG)
                continue
            arrays[index] = array
        for members in group_by_length(arrays).values():
            try:
                stacked = self.forward(np.concatenate([arrays[i] for i in members]))
                blocks = split_rows(
                    np.asarray(stacked, dtype=np.float32), [arrays[i].shape[0] for i in members]
                )
            except Exception as exc:  # the model itself failed: report it per request, keep serving
                for i in members:
                    responses[i] = _error(f"forward pass failed: {exc}", pb_utils.TritonError.INTERNAL)
                continue
            for i, block in zip(members, blocks, strict=True):
                responses[i] = pb_utils.InferenceResponse(
                    output_tensors=[pb_utils.Tensor(self.output_name, np.ascontiguousarray(block))]
                )
        return responses
