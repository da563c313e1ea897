"""The benchmark's own Triton repository: the benchmarked model, and a copy without dynamic batching.

Derived (Python backend, like the local stack) under the benchmark's state dir; the canonical
``model_repository/`` is only read. Both models serve only the benchmarked version, so Triton
runs one backend stub per model rather than one per repository version.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from tritonclient.grpc import model_config_pb2

from export_scripts.triton_config import CONFIG_FILENAME, read_model_config, write_model_config
from local_stack.derive import derive_repository

NOBATCH_SUFFIX = "_nobatch"
DEVICE_PARAMETER = "device"
"""Config parameter read by ``local_stack/python_model.py``: ``cuda`` moves the model to the GPU."""


@dataclass(frozen=True)
class BenchRepository:
    """Where the derived repository is and the names of its two models."""

    path: Path
    batched: str
    unbatched: str


def _serve_only(config: model_config_pb2.ModelConfig, version: str, device: str) -> None:
    config.version_policy.Clear()
    config.version_policy.specific.versions.append(int(version))
    if device != "cpu":
        config.parameters[DEVICE_PARAMETER].string_value = device


def build_repository(
    canonical: Path, target: Path, *, model: str, version: str, num_threads: int, device: str = "cpu"
) -> BenchRepository:
    """Derive ``model`` into ``target`` and add ``<model>_nobatch`` (no ``dynamic_batching``)."""
    derive_repository(canonical, target, models=[model], num_threads=num_threads)
    batched_config = target / model / CONFIG_FILENAME
    config = read_model_config(batched_config)
    _serve_only(config, version, device)
    write_model_config(batched_config, config)

    unbatched = f"{model}{NOBATCH_SUFFIX}"
    shutil.copytree(target / model, target / unbatched, symlinks=True)
    config.name = unbatched
    # Without dynamic_batching Triton runs every request on its own, whatever max_batch_size says.
    config.ClearField("dynamic_batching")
    write_model_config(target / unbatched / CONFIG_FILENAME, config)
    return BenchRepository(path=target, batched=model, unbatched=unbatched)
