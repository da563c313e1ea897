"""Saved TorchScript / ONNX artifacts against the eager module, and the check that guards them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime
import pytest
import torch
from onnx import numpy_helper

from export_scripts.artifacts import check_onnx, check_torchscript, save_onnx, save_torchscript
from export_scripts.backtest import predict
from export_scripts.errors import ExportMismatch
from export_scripts.model import LSTMForecaster, MovingAverageForecaster
from hybrid_core.version_params import INPUT_NAME, OUTPUT_NAME

WINDOW = 20


@pytest.fixture(scope="module")
def inputs() -> npt.NDArray[np.float32]:
    return np.random.default_rng(0).normal(size=(9, WINDOW)).astype(np.float32)


@pytest.fixture(scope="module")
def lstm() -> LSTMForecaster:
    torch.manual_seed(0)
    return LSTMForecaster(hidden=8, layers=2).eval()


def test_torchscript_matches_eager_when_loaded_back(
    tmp_path: Path, lstm: LSTMForecaster, inputs: npt.NDArray[np.float32]
) -> None:
    path = tmp_path / "model.pt"
    save_torchscript(lstm, path)
    assert check_torchscript(path, lstm, inputs) <= 1e-5
    loaded = torch.jit.load(str(path))  # type: ignore[no-untyped-call]
    assert np.abs(predict(loaded, inputs) - predict(lstm, inputs)).max() <= 1e-5


def test_onnx_matches_eager_when_batch_and_window_vary(
    tmp_path: Path, lstm: LSTMForecaster, inputs: npt.NDArray[np.float32]
) -> None:
    path = tmp_path / "model.onnx"
    save_onnx(lstm, path, WINDOW)
    assert check_onnx(path, lstm, inputs) <= 1e-5
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    longer = np.random.default_rng(1).normal(size=(3, WINDOW * 2)).astype(np.float32)
    [produced] = session.run([OUTPUT_NAME], {INPUT_NAME: longer})
    assert produced.shape == (3, 24)
    assert np.abs(produced - predict(lstm, longer)).max() <= 1e-5


def test_check_torchscript_raises_with_numbers_when_artifact_corrupted(
    tmp_path: Path, lstm: LSTMForecaster, inputs: npt.NDArray[np.float32]
) -> None:
    path = tmp_path / "model.pt"
    corrupted = LSTMForecaster(hidden=8, layers=2).eval()
    corrupted.load_state_dict(lstm.state_dict())
    with torch.no_grad():
        corrupted.head.bias.add_(1e-3)
    save_torchscript(corrupted, path)
    with pytest.raises(ExportMismatch) as caught:
        check_torchscript(path, lstm, inputs)
    assert caught.value.max_abs_diff == pytest.approx(1e-3, rel=1e-2)
    assert caught.value.tolerance == 1e-5
    assert "1.000e-03" in caught.value.message


def test_check_onnx_raises_when_initializer_corrupted(
    tmp_path: Path, lstm: LSTMForecaster, inputs: npt.NDArray[np.float32]
) -> None:
    path = tmp_path / "model.onnx"
    save_onnx(lstm, path, WINDOW)
    proto = onnx.load(str(path))
    biggest = max(proto.graph.initializer, key=lambda tensor: numpy_helper.to_array(tensor).size)
    weights = numpy_helper.to_array(biggest).copy()
    weights.flat[0] += 0.5
    biggest.CopyFrom(numpy_helper.from_array(weights, biggest.name))
    onnx.save(proto, str(path))
    with pytest.raises(ExportMismatch) as caught:
        check_onnx(path, lstm, inputs)
    assert caught.value.max_abs_diff > 1e-5


def test_moving_average_repeats_mean_of_last_k_when_window_longer(tmp_path: Path) -> None:
    module = MovingAverageForecaster(k=2, horizon=4)
    batch = np.array([[9.0, 1.0, 3.0], [0.0, -2.0, 2.0]], dtype=np.float32)
    np.testing.assert_array_equal(predict(module, batch), [[2.0] * 4, [0.0] * 4])
    path = tmp_path / "model.pt"
    save_torchscript(module, path)
    assert check_torchscript(path, module, batch) == 0.0
