"""What ``hybrid-inference export all`` writes: the committed model repository, version by version."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from export_scripts.hyperparameters import TrainingConfig
from export_scripts.pipeline import ExportSummary, export_lstm, export_moving_average, prepare_dataset
from export_scripts.repository import resolve_version

LSTM_MODEL = "lstm_timeseries"
LSTM_ONNX_MODEL = "lstm_timeseries_onnx"
MOVING_AVERAGE_MODEL = "moving_average"


@dataclass(frozen=True)
class LstmRelease:
    """One LSTM version (and, optionally, the same weights as an ONNX model's version)."""

    version: int
    config: TrainingConfig
    onnx_version: int | None = None


LSTM_RELEASES = (
    LstmRelease(version=1, config=TrainingConfig(window=104, seed=1, epochs=8), onnx_version=1),
    LstmRelease(version=2, config=TrainingConfig(window=156, seed=2, epochs=6)),
)
MOVING_AVERAGE_VERSION = 1


def export_all(repository: Path, force: bool = False, progress: bool = True) -> list[ExportSummary]:
    """Regenerate every committed version, all served; refuse before training if one exists (no ``force``)."""
    for release in LSTM_RELEASES:
        resolve_version(repository, LSTM_MODEL, release.version, force)
        if release.onnx_version is not None:
            resolve_version(repository, LSTM_ONNX_MODEL, release.onnx_version, force)
    resolve_version(repository, MOVING_AVERAGE_MODEL, MOVING_AVERAGE_VERSION, force)

    dataset = prepare_dataset()
    summaries = [
        export_moving_average(
            dataset,
            repository,
            MOVING_AVERAGE_MODEL,
            version=MOVING_AVERAGE_VERSION,
            force=force,
            serve=True,
        )
    ]
    for release in LSTM_RELEASES:
        summaries += export_lstm(
            dataset,
            repository,
            LSTM_MODEL,
            release.config,
            version=release.version,
            force=force,
            serve=True,
            onnx_model=LSTM_ONNX_MODEL if release.onnx_version is not None else None,
            onnx_version=release.onnx_version,
            progress=progress,
        )
    return summaries
