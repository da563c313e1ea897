"""The Python-backend twin of the canonical repository, and its model.py, without a server."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tritonclient.grpc import model_config_pb2

from export_scripts.triton_config import Platform, TritonModelSpec, build_model_config, read_model_config
from local_stack.derive import (
    ARTIFACT_FILE_PARAMETER,
    ARTIFACT_FORMAT_PARAMETER,
    NUM_THREADS_PARAMETER,
    PYTHON_BASED_BACKEND,
    derive_python_config,
    derive_repository,
)
from local_stack.errors import RepositoryError
from local_stack.testing import write_canonical_config

KIND_CPU = model_config_pb2.ModelInstanceGroup.KIND_CPU


def canonical_config(
    name: str,
    *,
    platform: Platform = "pytorch_libtorch",
    versions: tuple[int, ...] = (1, 2),
    instance_count: int = 1,
) -> model_config_pb2.ModelConfig:
    """A canonical (GPU) config as the exporter writes it, pinned to GPU 0 like a hand edit might."""
    spec = TritonModelSpec(name, platform, versions, horizon=24, instance_count=instance_count)
    config = build_model_config(spec)
    config.instance_group[0].gpus.append(0)
    return config


def _canonical_repository(
    root: Path, models: dict[str, Platform], versions: tuple[int, ...] = (1, 2)
) -> Path:
    """``{name: platform}`` models, each with artifact and params.json in every version folder."""
    repository = root / "canonical"
    for name, platform in models.items():
        config = canonical_config(name, platform=platform, versions=versions, instance_count=2)
        model_dir = write_canonical_config(repository, config)
        artifact = "model.pt" if platform == "pytorch_libtorch" else "model.onnx"
        for version in versions:
            version_dir = model_dir / str(version)
            version_dir.mkdir()
            (version_dir / artifact).write_bytes(f"{name} v{version}".encode())
            (version_dir / "params.json").write_text("{}\n")
    return repository


def test_derive_python_config_keeps_interface_when_platform_is_libtorch() -> None:
    canonical = canonical_config("lstm", instance_count=3)

    derived = derive_python_config(canonical, num_threads=3)

    assert derived.name == "lstm"
    assert derived.backend == PYTHON_BASED_BACKEND
    assert derived.platform == ""
    assert derived.max_batch_size == canonical.max_batch_size
    assert list(derived.input) == list(canonical.input)
    assert list(derived.output) == list(canonical.output)
    assert derived.dynamic_batching == canonical.dynamic_batching
    assert derived.version_policy == canonical.version_policy
    assert [(g.count, g.kind, list(g.gpus)) for g in derived.instance_group] == [(3, KIND_CPU, [])]
    assert derived.parameters[ARTIFACT_FILE_PARAMETER].string_value == "model.pt"
    assert derived.parameters[ARTIFACT_FORMAT_PARAMETER].string_value == "torchscript"
    assert derived.parameters[NUM_THREADS_PARAMETER].string_value == "3"


def test_derive_python_config_serves_onnx_file_when_platform_is_onnxruntime() -> None:
    derived = derive_python_config(canonical_config("ma", platform="onnxruntime_onnx"))

    assert derived.parameters[ARTIFACT_FILE_PARAMETER].string_value == "model.onnx"
    assert derived.parameters[ARTIFACT_FORMAT_PARAMETER].string_value == "onnx"


def test_derive_python_config_moves_default_model_filename_to_parameters_when_set() -> None:
    canonical = canonical_config("lstm")
    canonical.default_model_filename = "lstm.pt"

    derived = derive_python_config(canonical)

    # The Python backend would look for "lstm.pt" as its .py file.
    assert derived.default_model_filename == ""
    assert derived.parameters[ARTIFACT_FILE_PARAMETER].string_value == "lstm.pt"


def test_derive_python_config_raises_when_platform_has_no_cpu_twin() -> None:
    config = canonical_config("trt")
    config.platform = "tensorrt_plan"

    with pytest.raises(RepositoryError, match="tensorrt_plan"):
        derive_python_config(config)


def test_derive_repository_writes_configs_that_parse_back_when_models_mix_formats(tmp_path: Path) -> None:
    source = _canonical_repository(tmp_path, {"lstm": "pytorch_libtorch", "ma": "onnxruntime_onnx"})
    target = tmp_path / "derived"

    derived = derive_repository(source, target)

    assert [(m.name, m.versions, m.artifact_format) for m in derived] == [
        ("lstm", ("1", "2"), "torchscript"),
        ("ma", ("1", "2"), "onnx"),
    ]
    for name in ("lstm", "ma"):
        canonical = read_model_config(source / name / "config.pbtxt")
        config = read_model_config(target / name / "config.pbtxt")
        assert config.backend == PYTHON_BASED_BACKEND
        assert config.version_policy == canonical.version_policy
        assert config.dynamic_batching == canonical.dynamic_batching
        assert [(g.count, g.kind) for g in config.instance_group] == [(2, KIND_CPU)]


def test_derive_repository_links_version_folders_when_version_has_params(tmp_path: Path) -> None:
    source = _canonical_repository(tmp_path, {"lstm": "pytorch_libtorch"})
    target = tmp_path / "derived"

    derive_repository(source, target)

    for version in ("1", "2"):
        version_dir = target / "lstm" / version
        assert version_dir.is_symlink() and version_dir.resolve() == (source / "lstm" / version).resolve()
        assert not (version_dir / "model.py").exists()  # the hybrid_python backend brings it
        assert (version_dir / "model.pt").read_bytes() == f"lstm v{version}".encode()
        assert (version_dir / "model.pt").resolve() == (source / "lstm" / version / "model.pt").resolve()
        assert (version_dir / "params.json").is_file()


def test_derive_repository_skips_version_when_artifact_is_missing(tmp_path: Path) -> None:
    source = _canonical_repository(tmp_path, {"lstm": "pytorch_libtorch"})
    (source / "lstm" / "3").mkdir()  # an export still being written

    derived = derive_repository(source, tmp_path / "derived")

    assert derived[0].versions == ("1", "2")
    assert not (tmp_path / "derived" / "lstm" / "3").exists()


def test_derive_repository_drops_stale_models_when_run_again(tmp_path: Path) -> None:
    source = _canonical_repository(tmp_path, {"lstm": "pytorch_libtorch", "ma": "onnxruntime_onnx"})
    target = tmp_path / "derived"
    derive_repository(source, target)

    derive_repository(source, target, models=["ma"])

    assert sorted(p.name for p in target.iterdir()) == ["ma"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["canonical", "derived"]


def test_derive_repository_raises_when_repository_is_empty(tmp_path: Path) -> None:
    with pytest.raises(RepositoryError, match="no model"):
        derive_repository(tmp_path, tmp_path / "derived")


# --- the model.py template, run against a stand-in for triton_python_backend_utils ---


@dataclass
class _Tensor:
    name: str
    array: np.ndarray[Any, Any]

    def as_numpy(self) -> np.ndarray[Any, Any]:
        return self.array


@dataclass
class _TritonError:
    message: str
    code: int = 0
    INVALID_ARG = 3
    INTERNAL = 13


@dataclass
class _Response:
    output_tensors: list[_Tensor] = field(default_factory=list)
    error: _TritonError | None = None


@pytest.fixture
def python_model(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """``local_stack.python_model`` imported with a fake pb_utils (the real one lives in the stub)."""
    fake = types.ModuleType("triton_python_backend_utils")
    fake.Tensor = _Tensor  # type: ignore[attr-defined]
    fake.TritonError = _TritonError  # type: ignore[attr-defined]
    fake.InferenceResponse = _Response  # type: ignore[attr-defined]
    fake.get_input_tensor_by_name = lambda request, name: request.get(name)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", fake)
    monkeypatch.delitem(sys.modules, "local_stack.python_model", raising=False)
    return importlib.import_module("local_stack.python_model")


def _model(module: types.ModuleType, forward: Callable[[np.ndarray[Any, Any]], np.ndarray[Any, Any]]) -> Any:
    model = module.TritonPythonModel()
    model.input_name, model.output_name, model.forward = "INPUT__0", "OUTPUT__0", forward
    return model


def test_execute_runs_one_forward_per_length_when_requests_mix_lengths(
    python_model: types.ModuleType,
) -> None:
    calls: list[tuple[int, ...]] = []

    def forward(batch: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        calls.append(batch.shape)
        return np.repeat(batch.sum(axis=1, keepdims=True), 24, axis=1)

    inputs = [
        np.full((rows, length), i, np.float32) for i, (rows, length) in enumerate([(2, 5), (1, 7), (3, 5)])
    ]
    responses = _model(python_model, forward).execute([{"INPUT__0": _Tensor("INPUT__0", x)} for x in inputs])

    assert sorted(calls) == [(1, 7), (5, 5)]
    for x, response in zip(inputs, responses, strict=True):
        assert response.error is None
        np.testing.assert_allclose(response.output_tensors[0].array[:, 0], x.sum(axis=1))


def test_execute_fails_only_the_bad_request_when_input_has_nan(python_model: types.ModuleType) -> None:
    good, bad = np.ones((1, 4), np.float32), np.full((1, 4), np.nan, np.float32)
    model = _model(python_model, lambda batch: np.zeros((batch.shape[0], 24), np.float32))

    responses = model.execute([{"INPUT__0": _Tensor("INPUT__0", x)} for x in (good, bad)])

    assert responses[0].error is None
    assert responses[1].error.code == _TritonError.INVALID_ARG
    assert "NaN" in responses[1].error.message


def test_execute_returns_internal_errors_when_forward_raises(python_model: types.ModuleType) -> None:
    def forward(batch: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        raise RuntimeError("shape mismatch")

    responses = _model(python_model, forward).execute([{"INPUT__0": _Tensor("INPUT__0", np.ones((1, 3)))}])

    assert responses[0].error.code == _TritonError.INTERNAL
    assert "shape mismatch" in responses[0].error.message
