"""Numbered version folders of the model repository: next free number, refusal, staging."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from export_scripts.errors import VersionExists
from export_scripts.triton_config import (
    CONFIG_FILENAME,
    Platform,
    TritonModelSpec,
    build_model_config,
    read_model_config,
    write_model_config,
)
from hybrid_core.version_params import repository_versions


def version_folders(repository: Path, model: str) -> list[int]:
    """Every numbered folder of ``model``, complete or not, in order."""
    model_dir = repository / model
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def next_free_version(repository: Path, model: str) -> int:
    """One above the highest numbered folder (1 for a new model); gaps are never reused."""
    return max(version_folders(repository, model), default=0) + 1


def resolve_version(repository: Path, model: str, version: int | None, force: bool) -> int:
    """The version to write: ``version`` or the next free one; refuses an existing folder without force."""
    chosen = next_free_version(repository, model) if version is None else version
    if chosen < 1:
        raise ValueError(f"versions are positive integers, got {chosen}")
    folder = repository / model / str(chosen)
    if folder.exists() and not force:
        raise VersionExists(folder)
    return chosen


@contextmanager
def staged_version(repository: Path, model: str, version: int, force: bool) -> Iterator[Path]:
    """Yield an empty staging folder that replaces ``<model>/<version>`` when the block succeeds.

    Triton ignores non-numeric folders, so a polling server never loads a half-written version.
    """
    final = repository / model / str(version)
    if final.exists() and not force:
        raise VersionExists(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{version}-", dir=final.parent))
    staging.chmod(0o755)  # mkdtemp makes it owner-only; Triton may run as another user
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if final.exists():
        shutil.rmtree(final)
    staging.rename(final)


def write_repository_config(
    repository: Path, model: str, platform: Platform, horizon: int, *, serve: int | None = None
) -> Path:
    """(Re)write ``<model>/config.pbtxt``; its version policy names the versions Triton loads at start.

    A model's first version is served. Later versions are added to the repository without being
    served (a canary rollout loads them) unless ``serve`` names them; versions already served stay.
    """
    present = [int(v) for v in repository_versions(repository, model)]
    path = repository / model / CONFIG_FILENAME
    served: set[int] = set()
    if path.exists():
        served = {int(v) for v in read_model_config(path).version_policy.specific.versions} & set(present)
    if serve is not None:
        served.add(serve)
    versions = tuple(sorted(served or set(present[:1])))
    spec = TritonModelSpec(name=model, platform=platform, versions=versions, horizon=horizon)
    write_model_config(path, build_model_config(spec))
    return path
