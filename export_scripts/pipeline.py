"""One export end to end: data -> train -> save -> check vs eager -> params.json -> config.pbtxt."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from export_scripts import artifacts
from export_scripts.backtest import (
    INTERVAL_LEVEL,
    MASE_KEY,
    SEASON_WEEKS,
    Score,
    moving_average_score,
    predict,
    residual_spread,
    score,
    seasonal_naive_mae,
    tune_moving_average,
)
from export_scripts.data import (
    DATASET_CITATION,
    DATASET_NAME,
    HORIZON,
    ChronologicalSplit,
    Co2Series,
    Float64Array,
    Part,
    Windows,
    change_scale,
    chronological_split,
    load_co2,
    make_windows,
)
from export_scripts.hyperparameters import TrainingConfig
from export_scripts.model import MovingAverageForecaster
from export_scripts.repository import resolve_version, staged_version, write_repository_config
from export_scripts.residual_grid import residual_grid
from export_scripts.training import train_lstm
from export_scripts.triton_config import PLATFORM_BY_FORMAT
from hybrid_core.processing import FloatArray
from hybrid_core.version_params import (
    PARAMS_FILENAME,
    Artifact,
    Normalization,
    ResidualSpread,
    VersionParams,
    sha256_of,
    write_params,
)

ArtifactFormat = Literal["torchscript", "onnx"]


@dataclass(frozen=True)
class Dataset:
    """The series and the statistics every version of one run shares (scale, MASE scale, baseline)."""

    series: Co2Series
    split: ChronologicalSplit
    scale: float
    mase_denominator: float
    baseline_k: int
    baseline_validation_mae: dict[int, float]
    baseline: Score

    def windows(self, part: Part, window: int) -> Windows:
        """Normalized windows of ``part`` for a model reading ``window`` weeks."""
        origins = self.split.origins(part, window)
        return make_windows(self.series.values, origins, window, self.scale)

    def provenance(self) -> dict[str, object]:
        """Data set, citation and split dates for ``params.json``."""
        return {
            "dataset": DATASET_NAME,
            "citation": DATASET_CITATION,
            "points": len(self.series.values),
            "missing_filled_by_interpolation": self.series.filled,
            "split": self.split.describe(self.series.dates),
            "normalization": f"x_norm = (x - last) / scale; scale = std of 1..{HORIZON}-step changes (train)",
        }


def prepare_dataset() -> Dataset:
    """Load the series and compute what depends only on the training and validation splits."""
    series = load_co2()
    split = chronological_split(len(series.values))
    train_values = series.values[: split.train_end]
    scale = change_scale(train_values)
    mase_denominator = seasonal_naive_mae(train_values)
    k, validation_mae = tune_moving_average(series.values, split, scale)
    baseline = moving_average_score(series.values, split, scale, k, mase_denominator)
    return Dataset(series, split, scale, mase_denominator, k, validation_mae, baseline)


@dataclass(frozen=True)
class ExportSummary:
    """One written version, as the CLI's summary table shows it."""

    model: str
    version: int
    window: int
    mae_ppm: float
    mase: float
    baseline_mae_ppm: float
    training_s: float
    folder: Path


def export_lstm(
    dataset: Dataset,
    repository: Path,
    model: str,
    config: TrainingConfig,
    *,
    version: int | None = None,
    force: bool = False,
    serve: bool = False,
    onnx_model: str | None = None,
    onnx_version: int | None = None,
    progress: bool = True,
) -> list[ExportSummary]:
    """Train one LSTM, write it as TorchScript (and the same weights as ONNX when ``onnx_model``).

    ``version`` / ``onnx_version`` default to the next free number; ``onnx_version`` to ``version``.
    Every target folder is checked before training, so a refusal costs nothing.
    """
    chosen = resolve_version(repository, model, version, force)
    if onnx_model:
        wanted = version if onnx_version is None else onnx_version
        onnx_version = resolve_version(repository, onnx_model, wanted, force)
    trained = train_lstm(dataset.windows("train", config.window), config, progress=progress)
    residuals, held_out, test_inputs = _evaluate(dataset, trained.model, config.window)
    training: dict[str, object] = {
        **dataset.provenance(),
        "seed": config.seed,
        "epochs": config.epochs,
        "hidden": config.hidden,
        "layers": config.layers,
        "lr": config.lr,
        "lr_schedule": "cosine to 0 over all steps",
        "batch_size": config.batch_size,
        "max_grad_norm": config.max_grad_norm,
        "loss": "mse",
        "num_threads": config.num_threads,
        "training_windows": len(dataset.split.origins("train", config.window)),
        "training_s": round(trained.training_s, 2),
        "final_train_mse": trained.final_loss,
        "torch": torch.__version__,
    }
    backtest = _backtest(dataset, held_out, len(test_inputs))
    written: list[tuple[str, int, ArtifactFormat]] = [(model, chosen, "torchscript")]
    if onnx_model and onnx_version is not None:
        written.append((onnx_model, onnx_version, "onnx"))
    summaries = []
    for name, number, fmt in written:
        extra = {"exported_from": f"{model}/{chosen}", "onnx_opset": artifacts.ONNX_OPSET}
        folder = _publish(
            repository,
            name,
            number,
            force,
            serve=serve,
            module=trained.model,
            fmt=fmt,
            kind="lstm",
            window=config.window,
            scale=dataset.scale,
            residuals=residuals,
            values=dataset.series.values,
            split=dataset.split,
            training={**training, **(extra if fmt == "onnx" else {})},
            backtest=backtest,
            check_inputs=test_inputs,
        )
        summaries.append(_summary(name, number, config.window, held_out, dataset, trained.training_s, folder))
    return summaries


def export_moving_average(
    dataset: Dataset,
    repository: Path,
    model: str,
    *,
    k: int | None = None,
    version: int | None = None,
    force: bool = False,
    serve: bool = False,
) -> ExportSummary:
    """Write the moving-average forecaster (``k`` tuned on validation unless given) as TorchScript."""
    window = dataset.baseline_k if k is None else k
    chosen = resolve_version(repository, model, version, force)
    module = MovingAverageForecaster(window).eval()
    residuals, held_out, test_inputs = _evaluate(dataset, module, window)
    training: dict[str, object] = {
        **dataset.provenance(),
        "k": window,
        "k_tuned_on_validation": k is None,
        "validation_mae_ppm_by_k": {str(c): mae for c, mae in dataset.baseline_validation_mae.items()},
        "training_s": 0.0,
    }
    folder = _publish(
        repository,
        model,
        chosen,
        force,
        serve=serve,
        module=module,
        fmt="torchscript",
        kind="moving_average",
        window=window,
        scale=dataset.scale,
        residuals=residuals,
        values=dataset.series.values,
        split=dataset.split,
        training=training,
        backtest=_backtest(dataset, held_out, len(test_inputs)),
        check_inputs=test_inputs,
    )
    return _summary(model, chosen, window, held_out, dataset, 0.0, folder)


def _evaluate(dataset: Dataset, module: nn.Module, window: int) -> tuple[ResidualSpread, Score, FloatArray]:
    # Residual spread from validation, score from the held-out test split.
    validation = dataset.windows("validation", window)
    residuals = residual_spread(validation, predict(module, validation.inputs), INTERVAL_LEVEL)
    test = dataset.windows("test", window)
    held_out = score(test, predict(module, test.inputs), dataset.scale, dataset.mase_denominator)
    return residuals, held_out, test.inputs


def _backtest(dataset: Dataset, held_out: Score, windows: int) -> dict[str, float]:
    return {
        "mae_ppm": held_out.mae_ppm,
        MASE_KEY: held_out.mase,
        "baseline_moving_average_k": float(dataset.baseline_k),
        "baseline_moving_average_mae_ppm": dataset.baseline.mae_ppm,
        f"baseline_moving_average_{MASE_KEY}": dataset.baseline.mase,
        f"seasonal_naive_{SEASON_WEEKS}_in_sample_mae_ppm": dataset.mase_denominator,
        "test_windows": float(windows),
    }


def _publish(
    repository: Path,
    model: str,
    version: int,
    force: bool,
    *,
    serve: bool,
    module: nn.Module,
    fmt: ArtifactFormat,
    kind: Literal["lstm", "moving_average"],
    window: int,
    scale: float,
    residuals: ResidualSpread,
    values: Float64Array,
    split: ChronologicalSplit,
    training: dict[str, object],
    backtest: dict[str, float],
    check_inputs: FloatArray,
) -> Path:
    with staged_version(repository, model, version, force) as folder:
        if fmt == "torchscript":
            artifact = folder / artifacts.TORCHSCRIPT_FILE
            artifacts.save_torchscript(module, artifact)
            max_abs_diff = artifacts.check_torchscript(artifact, module, check_inputs)
        else:
            artifact = folder / artifacts.ONNX_FILE
            artifacts.save_onnx(module, artifact, window)
            max_abs_diff = artifacts.check_onnx(artifact, module, check_inputs)
        params = VersionParams(
            model=model,
            version=str(version),
            kind=kind,
            window=window,
            horizon=HORIZON,
            normalization=Normalization(scale=scale),
            residuals=residuals,
            artifact=Artifact(file=artifact.name, format=fmt, sha256=sha256_of(artifact)),
            training={**training, "export_max_abs_diff_vs_eager": max_abs_diff},
            backtest=backtest,
        )
        grid = residual_grid(values, split, params, lambda batch: predict(module, batch))
        params = params.model_copy(update={"residual_quantiles": grid})
        write_params(folder / PARAMS_FILENAME, params)
    write_repository_config(
        repository, model, PLATFORM_BY_FORMAT[fmt], HORIZON, serve=version if serve else None
    )
    return repository / model / str(version)


def _summary(
    model: str, version: int, window: int, held_out: Score, dataset: Dataset, training_s: float, folder: Path
) -> ExportSummary:
    return ExportSummary(
        model=model,
        version=version,
        window=window,
        mae_ppm=held_out.mae_ppm,
        mase=held_out.mase,
        baseline_mae_ppm=dataset.baseline.mae_ppm,
        training_s=training_s,
        folder=folder,
    )
