"""Small virtual environments of pinned runtimes, built once and kept under the state dir.

An environment is complete once its stamp file exists (written last); a half-built one (an
interrupted pip) is removed and built again. A lock file lets two checks share one build.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from export_scripts.compat.runtimes import Runtime
from export_scripts.errors import EnvironmentBuildFailed

STAMP_FILE = "hybrid-compat.complete"
PIP_TIMEOUT_S = 1800.0
"""One pip install: several GB of CUDA wheels for torch on a slow network."""


@dataclass(frozen=True)
class Environment:
    """A runtime's environment: its interpreter, and whether this call had to build it."""

    runtime: Runtime
    python: Path
    built_s: float | None
    """Seconds spent building it now; None when it was already there."""


def environment_dir(root: Path, runtime: Runtime) -> Path:
    """Where ``runtime``'s environment lives under ``root``."""
    return root / runtime.key


def is_built(root: Path, runtime: Runtime) -> bool:
    """Whether ``runtime``'s environment is complete under ``root`` (nothing is built)."""
    return (environment_dir(root, runtime) / STAMP_FILE).is_file()


def ensure_environment(root: Path, runtime: Runtime, *, build: bool = True) -> Environment:
    """The environment of ``runtime`` under ``root``, built first if missing and ``build``.

    Raises EnvironmentBuildFailed when venv or pip fails, or when it is missing and not ``build``.
    """
    folder = environment_dir(root, runtime)
    python = folder / "bin" / "python"
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / f"{runtime.key}.lock"):
        if is_built(root, runtime):
            return Environment(runtime, python, None)
        if not build:
            raise EnvironmentBuildFailed(runtime.label, f"{folder} is not built (run without --no-build)")
        started = time.perf_counter()
        if folder.exists():
            shutil.rmtree(folder)
        _run(runtime, [sys.executable, "-m", "venv", "--without-pip", str(folder)])
        _run(runtime, [sys.executable, "-m", "pip", "--python", str(python), *_pip_install(runtime)])
        (folder / STAMP_FILE).write_text("\n".join(runtime.requirements) + "\n")
        return Environment(runtime, python, time.perf_counter() - started)


def _pip_install(runtime: Runtime) -> list[str]:
    # --no-cache-dir: the environment is the cache; a pip cache would hold the same GBs twice.
    return ["install", "--quiet", "--no-deps", "--no-cache-dir", *runtime.requirements]


def _run(runtime: Runtime, argv: list[str]) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        step = " ".join(argv[1:3])
        raise EnvironmentBuildFailed(runtime.label, f"{step} ran over {PIP_TIMEOUT_S:.0f} s") from exc
    if done.returncode != 0:
        raise EnvironmentBuildFailed(runtime.label, (done.stderr or done.stdout)[-2000:])


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
