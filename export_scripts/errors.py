"""Errors the exporter raises on purpose, on the platform's error tree.

HybridError
└── ExportError              500
    ├── ExportMismatch           an exported artifact disagrees with the eager model
    ├── VersionExists        409 the version folder exists and --force was not given
    └── EnvironmentBuildFailed   a runtime's environment for check-compat could not be built
"""

from __future__ import annotations

from pathlib import Path

from hybrid_core.errors import HybridError


class ExportError(HybridError):
    """Base of the exporter's errors."""

    code = "export_error"


class ExportMismatch(ExportError):
    """The saved artifact's outputs differ from the eager model's by more than the tolerance."""

    code = "export_mismatch"

    def __init__(self, artifact: Path, max_abs_diff: float, tolerance: float, windows: int) -> None:
        super().__init__(
            f"{artifact} disagrees with the eager model: max |diff| = {max_abs_diff:.3e} "
            f"> tolerance {tolerance:.1e} over {windows} held-out windows"
        )
        self.artifact = artifact
        self.max_abs_diff = max_abs_diff
        self.tolerance = tolerance
        self.windows = windows


class VersionExists(ExportError):
    """Refusal to overwrite a version folder without ``force``."""

    status_code = 409
    code = "version_exists"

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} already exists; pass --force to overwrite it")
        self.path = path


class EnvironmentBuildFailed(ExportError):
    """``check-compat`` could not build (or find) the virtual environment of a runtime."""

    code = "environment_build_failed"

    def __init__(self, runtime: str, detail: str) -> None:
        super().__init__(f"the environment of {runtime} could not be built: {detail}")
        self.runtime = runtime
