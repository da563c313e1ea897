"""Helpers for tests that need a canonical-layout repository or a running local Triton.

Kept here rather than in a conftest so that any test package (and the lead's fixtures) can
reuse them: ``with running_triton(repo, tmp_path) as server: ...``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from tritonclient.grpc import model_config_pb2

from export_scripts.triton_config import CONFIG_FILENAME, write_model_config
from local_stack.derive import derive_repository, derived_repository_dir
from local_stack.triton_server import LocalTritonServer, TritonPorts
from triton_client.control import ControlKey


def write_canonical_config(repository: Path, config: model_config_pb2.ModelConfig) -> Path:
    """Write ``config`` as ``<repository>/<name>/config.pbtxt`` and return the model folder."""
    model_dir: Path = repository / config.name
    model_dir.mkdir(parents=True, exist_ok=True)
    write_model_config(model_dir / CONFIG_FILENAME, config)
    return model_dir


@contextlib.contextmanager
def running_triton(
    canonical: Path,
    state_dir: Path,
    *,
    models: Sequence[str] | None = None,
    num_threads: int = 1,
    start_timeout_s: float = 120.0,
    control_key: ControlKey | None = None,
) -> Iterator[LocalTritonServer]:
    """Derive ``canonical`` under ``state_dir``, serve it on free ports until the block ends.

    Replicas of one pool share ``control_key`` (the API sends one header to all of them).
    """
    derived_dir = derived_repository_dir(state_dir)
    derived = derive_repository(canonical, derived_dir, models=models, num_threads=num_threads)
    server = LocalTritonServer(
        derived_dir,
        state_dir=state_dir,
        models=[model.name for model in derived],
        ports=TritonPorts.free(),
        start_timeout_s=start_timeout_s,
        control_key=control_key,
    )
    with server:
        yield server
