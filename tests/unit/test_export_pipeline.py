"""A tiny-epoch export end to end into a temporary repository."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch

from export_scripts.backtest import MASE_KEY, predict
from export_scripts.errors import VersionExists
from export_scripts.hyperparameters import TrainingConfig
from export_scripts.pipeline import Dataset, export_lstm, export_moving_average, prepare_dataset
from export_scripts.triton_config import read_model_config
from hybrid_core.processing import preprocess
from hybrid_core.version_params import INPUT_NAME, OUTPUT_NAME, read_params, sha256_of

TINY = TrainingConfig(window=32, seed=3, epochs=1, hidden=8, layers=1, batch_size=128)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return prepare_dataset()


@pytest.fixture(scope="module")
def repository(dataset: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("repository")
    export_lstm(dataset, root, "lstm", TINY, onnx_model="lstm_onnx", progress=False)
    return root


def test_export_lstm_writes_version_one_when_repository_empty(repository: Path) -> None:
    assert sorted(p.name for p in (repository / "lstm" / "1").iterdir()) == ["model.pt", "params.json"]
    assert sorted(p.name for p in (repository / "lstm_onnx" / "1").iterdir()) == ["model.onnx", "params.json"]
    params = read_params(repository / "lstm" / "1" / "params.json")
    assert (params.window, params.horizon, params.kind) == (32, 24, "lstm")
    assert params.training["epochs"] == 1
    assert params.training["citation"] == "statsmodels.datasets.co2 (Mauna Loa weekly CO2, 1958-2001)"
    assert {"mae_ppm", MASE_KEY, "baseline_moving_average_mae_ppm"} <= params.backtest.keys()
    assert len(params.residuals.lower_quantile) == len(params.residuals.upper_quantile) == 24
    assert all(
        lo <= up
        for lo, up in zip(params.residuals.lower_quantile, params.residuals.upper_quantile, strict=True)
    )


@pytest.mark.parametrize("model", ["lstm", "lstm_onnx"])
def test_params_checksum_matches_artifact_when_written(repository: Path, model: str) -> None:
    params = read_params(repository / model / "1" / "params.json")
    assert params.artifact.sha256 == sha256_of(repository / model / "1" / params.artifact.file)


def test_onnx_version_matches_torchscript_when_exported_together(repository: Path, dataset: Dataset) -> None:
    inputs = dataset.windows("test", TINY.window).inputs
    scripted = torch.jit.load(str(repository / "lstm" / "1" / "model.pt"))  # type: ignore[no-untyped-call]
    session = onnxruntime.InferenceSession(
        str(repository / "lstm_onnx" / "1" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    [from_onnx] = session.run([OUTPUT_NAME], {INPUT_NAME: inputs})
    assert np.abs(from_onnx - predict(scripted, inputs)).max() <= 1e-5


def test_served_preprocess_reproduces_training_inputs_when_params_read(
    repository: Path, dataset: Dataset
) -> None:
    params = read_params(repository / "lstm" / "1" / "params.json")
    origins = dataset.split.origins("test", params.window)[:5]
    raw = [dataset.series.values[: origin + 1].tolist() for origin in origins]
    expected = dataset.windows("test", params.window).inputs[:5]
    np.testing.assert_array_equal(preprocess(raw, params).inputs, expected)


def test_export_lstm_refuses_before_training_when_version_exists(repository: Path, dataset: Dataset) -> None:
    with pytest.raises(VersionExists):
        export_lstm(dataset, repository, "lstm", TINY, version=1, progress=False)
    with pytest.raises(VersionExists):
        export_lstm(dataset, repository, "other", TINY, version=1, onnx_model="lstm_onnx", progress=False)
    assert not (repository / "other").exists()


def test_export_moving_average_uses_next_free_version_when_none_given(
    tmp_path: Path, dataset: Dataset
) -> None:
    first = export_moving_average(dataset, tmp_path, "ma", k=4)
    second = export_moving_average(dataset, tmp_path, "ma", k=13)
    assert (first.version, second.version) == (1, 2)
    # A later version waits for a rollout unless asked to be served at once.
    served = read_model_config(tmp_path / "ma" / "config.pbtxt").version_policy.specific.versions
    assert list(served) == [1]
    export_moving_average(dataset, tmp_path, "ma", k=26, serve=True)
    served = read_model_config(tmp_path / "ma" / "config.pbtxt").version_policy.specific.versions
    assert list(served) == [1, 3]
    params = read_params(tmp_path / "ma" / "2" / "params.json")
    assert (params.kind, params.window) == ("moving_average", 13)
    assert params.backtest["mae_ppm"] == pytest.approx(second.mae_ppm)


def test_export_moving_average_overwrites_when_forced(tmp_path: Path, dataset: Dataset) -> None:
    export_moving_average(dataset, tmp_path, "ma", k=4)
    with pytest.raises(VersionExists):
        export_moving_average(dataset, tmp_path, "ma", k=13, version=1)
    export_moving_average(dataset, tmp_path, "ma", k=13, version=1, force=True)
    assert read_params(tmp_path / "ma" / "1" / "params.json").window == 13
    assert json.loads((tmp_path / "ma" / "1" / "params.json").read_text())["training"]["k"] == 13
