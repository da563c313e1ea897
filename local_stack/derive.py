"""Derive a CPU, Python-backend copy of the canonical (GPU) model repository.

The canonical repository targets the production GPU Triton (``pytorch_libtorch`` /
``onnxruntime_onnx``). The tritonserver in the pytriton wheel has only the Python backend,
so each derived model gets a config for ``hybrid_python``, a Python-based backend whose one
``model.py`` (``python_model.py``) lives in the backend directory and serves every model.
Each derived version is then a plain link to the canonical version folder, so a version
exported later is served by adding one link (``hybrid_core.served_repository``). Names,
tensors, batching, version policy and instance counts are kept, so clients see the same
interface.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tritonclient.grpc import model_config_pb2

from export_scripts.triton_config import read_model_config, write_model_config
from hybrid_core.served_repository import link_version
from hybrid_core.version_params import repository_models
from local_stack.errors import RepositoryError

LOGGER = logging.getLogger(__name__)

PYTHON_MODEL_TEMPLATE = Path(__file__).with_name("python_model.py")
"""The model.py of the Python-based backend that serves every derived model."""
PYTHON_BASED_BACKEND = "hybrid_python"
"""Backend name of the derived configs; Triton finds ``<backend dir>/hybrid_python/model.py``."""
ARTIFACT_FILE_PARAMETER = "artifact_file"
ARTIFACT_FORMAT_PARAMETER = "artifact_format"
NUM_THREADS_PARAMETER = "num_threads"
DEFAULT_NUM_THREADS = 1
"""Intra-op threads per model instance. One: several model instances share few cores, and more
threads per instance oversubscribe them (measured on 2 cores: 8.9 vs 1.4 ms of Triton CPU per
request with 2 threads vs 1)."""

# platform (or backend) of the canonical config -> (artifact format, default file name)
_ARTIFACTS: dict[str, tuple[str, str]] = {
    "pytorch_libtorch": ("torchscript", "model.pt"),
    "pytorch": ("torchscript", "model.pt"),
    "onnxruntime_onnx": ("onnx", "model.onnx"),
    "onnxruntime": ("onnx", "model.onnx"),
}


@dataclass(frozen=True)
class DerivedModel:
    """One model of the derived repository."""

    name: str
    versions: tuple[str, ...]
    artifact_format: str


def derived_repository_dir(state_dir: Path) -> Path:
    """Where the local stack keeps the derived repository under ``state_dir``."""
    return state_dir / "triton" / "repository"


def artifact_of(config: model_config_pb2.ModelConfig) -> tuple[str, str]:
    """``(format, file name)`` of the artifact a canonical config serves."""
    kind = config.platform or config.backend
    if kind not in _ARTIFACTS:
        raise RepositoryError(f"model {config.name!r}: unsupported platform/backend {kind!r}")
    artifact_format, default_file = _ARTIFACTS[kind]
    return artifact_format, config.default_model_filename or default_file


def derive_python_config(
    config: model_config_pb2.ModelConfig, *, num_threads: int = DEFAULT_NUM_THREADS
) -> model_config_pb2.ModelConfig:
    """The Python-backend, CPU twin of one canonical model config."""
    artifact_format, artifact_file = artifact_of(config)
    derived = model_config_pb2.ModelConfig()
    derived.CopyFrom(config)
    # Fields that select or tune the GPU backends mean nothing (or fail) under the Python
    # backend; default_model_filename would even be taken as the name of the .py file.
    for field in (
        "platform",
        "runtime",
        "default_model_filename",
        "cc_model_filenames",
        "optimization",
        "model_repository_agents",
    ):
        derived.ClearField(field)
    derived.backend = PYTHON_BASED_BACKEND
    for group in derived.instance_group:
        group.kind = model_config_pb2.ModelInstanceGroup.KIND_CPU
        for field in ("gpus", "secondary_devices", "profile"):
            group.ClearField(field)
    derived.parameters[ARTIFACT_FILE_PARAMETER].string_value = artifact_file
    derived.parameters[ARTIFACT_FORMAT_PARAMETER].string_value = artifact_format
    derived.parameters[NUM_THREADS_PARAMETER].string_value = str(num_threads)
    return derived


def derive_repository(
    source: Path,
    target: Path,
    *,
    models: Sequence[str] | None = None,
    num_threads: int = DEFAULT_NUM_THREADS,
) -> list[DerivedModel]:
    """Rebuild ``target`` as the Python-backend twin of ``source`` (all or the named models).

    The new tree is built beside ``target`` and swapped in, so a reader never sees half of it.
    """
    names = list(models) if models is not None else repository_models(source)
    if not names:
        raise RepositoryError(f"no model with a config.pbtxt in {source}")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        derived = [_derive_model(source / name, staging / name, num_threads=num_threads) for name in names]
        _swap_in(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return derived


def _derive_model(source: Path, target: Path, *, num_threads: int) -> DerivedModel:
    config_path = source / "config.pbtxt"
    if not config_path.is_file():
        raise RepositoryError(f"missing {config_path}")
    config = read_model_config(config_path)
    if config.name and config.name != source.name:
        raise RepositoryError(f"{config_path}: name {config.name!r} differs from its folder")
    config.name = source.name
    derived = derive_python_config(config, num_threads=num_threads)
    artifact_format, artifact_file = artifact_of(config)
    target.mkdir(parents=True)
    write_model_config(target / "config.pbtxt", derived)
    versions: list[str] = []
    for version_dir in sorted((p for p in source.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)):
        if not (version_dir / artifact_file).is_file():
            LOGGER.warning("skipping %s: no %s in it", version_dir, artifact_file)
            continue
        link_version(version_dir.parent, target, version_dir.name)
        versions.append(version_dir.name)
    if not versions:
        raise RepositoryError(f"model {source.name!r}: no version folder holds {artifact_file}")
    return DerivedModel(name=source.name, versions=tuple(versions), artifact_format=artifact_format)


def _swap_in(staging: Path, target: Path) -> None:
    retired = target.with_name(f".{target.name}.retired-{os.getpid()}")
    if target.exists():
        target.rename(retired)
    staging.rename(target)
    shutil.rmtree(retired, ignore_errors=True)
