"""The parameters file that travels with each model version (``<model>/<version>/params.json``).

The exporter writes it next to ``model.pt`` / ``model.onnx``; the workers read it
so that a request pinned to version N is pre- and post-processed with version N's
own window, normalization and residual spread.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hybrid_core.errors import VersionIncomplete

PARAMS_FILENAME = "params.json"
INPUT_NAME = "INPUT__0"
"""Name of every forecasting model's input: FP32 ``[batch, window]``."""
OUTPUT_NAME = "OUTPUT__0"
"""Name of every forecasting model's output: FP32 ``[batch, horizon]``."""


class Normalization(BaseModel):
    """``x_norm = (x - center) / scale`` where center is the window's last observed value."""

    model_config = ConfigDict(frozen=True)

    center: Literal["last_value"] = "last_value"
    scale: float = Field(gt=0)


class ResidualSpread(BaseModel):
    """Held-out residuals (actual - forecast, normalized units) per horizon step."""

    model_config = ConfigDict(frozen=True)

    interval_level: float = Field(gt=0, lt=1, description="Coverage of [lower, upper], e.g. 0.9.")
    lower_quantile: list[float] = Field(description="Residual quantile (1-level)/2 per step.")
    upper_quantile: list[float] = Field(description="Residual quantile (1+level)/2 per step.")
    std: list[float] = Field(description="Residual standard deviation per step.")


MAX_HORIZON_FACTOR = 4
"""Horizons up to this many times the model's own are served, by feeding forecasts back recursively."""


class ResidualQuantiles(BaseModel):
    """Quantiles of held-out residuals (actual - forecast, normalized units) on a probability grid, per step.

    They come from a recursive backtest at export time over ``MAX_HORIZON_FACTOR`` x the model's
    horizon, so steps past the model's own horizon have bands measured, not extrapolated. Each
    tail carries split conformal's finite-sample correction (see ``export_scripts.backtest``).
    """

    model_config = ConfigDict(frozen=True)

    probabilities: list[float] = Field(description="Increasing probabilities, e.g. 0.005, 0.01 ... 0.995.")
    steps: list[list[float]] = Field(
        description="Per step (1, 2 ...): the residual quantile at each probability."
    )
    windows: int = Field(gt=0, description="Held-out windows the residuals come from.")
    split: str = Field(description="Which split the windows come from.")


class Artifact(BaseModel):
    model_config = ConfigDict(frozen=True)

    file: str
    format: Literal["torchscript", "onnx"]
    sha256: str


class VersionParams(BaseModel):
    """Everything a worker needs to serve one model version, plus its provenance."""

    model_config = ConfigDict(frozen=True, protected_namespaces=())

    model: str
    version: str
    kind: Literal["lstm", "moving_average"]
    window: int = Field(gt=0)
    horizon: int = Field(gt=0)
    normalization: Normalization
    residuals: ResidualSpread
    artifact: Artifact
    training: dict[str, object] = Field(default_factory=dict, description="Data set, split, seed, sizes.")
    backtest: dict[str, float] = Field(default_factory=dict, description="Held-out MAE/MASE figures.")
    residual_quantiles: ResidualQuantiles | None = Field(
        default=None,
        description="Residual distribution for any level and long horizons (absent before 2026-11).",
    )

    @property
    def max_horizon(self) -> int:
        """The longest horizon served: the residual grid's steps, else the model's own horizon."""
        return len(self.residual_quantiles.steps) if self.residual_quantiles is not None else self.horizon


def params_path(repository: Path, model: str, version: str) -> Path:
    """Where the parameters of ``model`` version ``version`` live in ``repository``."""
    return repository / model / version / PARAMS_FILENAME


def write_params(path: Path, params: VersionParams) -> None:
    """Write ``params`` as indented JSON (stable key order, so diffs stay readable)."""
    path.write_text(json.dumps(params.model_dump(mode="json"), indent=2, sort_keys=True) + "\n")


def read_params(path: Path) -> VersionParams:
    """Read one ``params.json``."""
    return VersionParams.model_validate_json(path.read_text())


@lru_cache(maxsize=256)
def load_version_params(repository: Path, model: str, version: str) -> VersionParams:
    """Cached read of a version's parameters; version folders are immutable once written."""
    return read_params(params_path(repository, model, version))


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_version_complete(repository: Path, model: str, version: str) -> VersionParams:
    """The version's parameters once its folder is whole: VersionIncomplete naming what is not.

    Whole means a readable ``params.json`` and the artifact it names, with the recorded SHA-256
    (a folder copied by hand may be missing a file, or hold a truncated one).
    """
    path = params_path(repository, model, version)
    folder = path.parent
    prefix = f"model {model!r} version {version}:"
    if not folder.is_dir():
        raise VersionIncomplete(f"{prefix} folder {folder} is missing", field="version")
    try:
        params = read_params(path)
    except FileNotFoundError as exc:
        raise VersionIncomplete(f"{prefix} {path} is missing", field="version") from exc
    except (ValidationError, ValueError) as exc:
        raise VersionIncomplete(f"{prefix} {path} is not valid parameters: {exc}", field="version") from exc
    artifact = folder / params.artifact.file
    if not artifact.is_file():
        raise VersionIncomplete(f"{prefix} {artifact} is missing", field="version")
    if sha256_of(artifact) != params.artifact.sha256:
        raise VersionIncomplete(
            f"{prefix} {artifact} does not match the sha256 in {path.name}"
            " (half-written or changed after export)",
            field="version",
        )
    return params


def repository_versions(repository: Path, model: str) -> list[str]:
    """Numbered version folders of ``model`` that hold a params file, oldest first."""
    model_dir = repository / model
    if not model_dir.is_dir():
        return []
    found = [
        entry.name
        for entry in model_dir.iterdir()
        if entry.is_dir() and entry.name.isdigit() and (entry / PARAMS_FILENAME).exists()
    ]
    return sorted(found, key=int)


def repository_models(repository: Path) -> list[str]:
    """Model folders of the repository (those with a ``config.pbtxt``), sorted by name."""
    if not repository.is_dir():
        return []
    return sorted(p.name for p in repository.iterdir() if (p / "config.pbtxt").is_file())
