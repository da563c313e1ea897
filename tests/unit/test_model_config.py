"""The committed model repository: every config.pbtxt against Triton's protobuf and its version folders."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from export_scripts.triton_config import PLATFORM_BY_FORMAT, read_model_config
from hybrid_core.settings import PROJECT_ROOT
from hybrid_core.version_params import INPUT_NAME, OUTPUT_NAME, read_params, sha256_of

REPOSITORY = PROJECT_ROOT / "model_repository"
EXPECTED_PLATFORMS = {
    "lstm_timeseries": "pytorch_libtorch",
    "lstm_timeseries_onnx": "onnxruntime_onnx",
    "moving_average": "pytorch_libtorch",
}


def _config_path(model: str) -> Path:
    return REPOSITORY / model / "config.pbtxt"


def _version_folders(model: str) -> list[int]:
    return sorted(int(p.name) for p in (REPOSITORY / model).iterdir() if p.is_dir() and p.name.isdigit())


def test_repository_holds_expected_models_when_committed() -> None:
    assert sorted(p.parent.name for p in REPOSITORY.glob("*/config.pbtxt")) == sorted(EXPECTED_PLATFORMS)


@pytest.mark.parametrize("model", sorted(EXPECTED_PLATFORMS))
def test_config_round_trips_when_parsed_and_printed(model: str) -> None:
    text = _config_path(model).read_text()
    parsed = text_format.Parse(text, model_config_pb2.ModelConfig())
    assert text_format.MessageToString(parsed) == text
    assert text_format.Parse(text_format.MessageToString(parsed), model_config_pb2.ModelConfig()) == parsed


@pytest.mark.parametrize("model", sorted(EXPECTED_PLATFORMS))
def test_config_declares_io_and_batching_when_committed(model: str) -> None:
    config = read_model_config(_config_path(model))
    assert config.name == model
    assert config.platform == EXPECTED_PLATFORMS[model]
    assert config.max_batch_size > 0
    [model_input] = config.input
    [model_output] = config.output
    assert (model_input.name, model_input.data_type, list(model_input.dims)) == (
        INPUT_NAME,
        model_config_pb2.TYPE_FP32,
        [-1],
    )
    assert (model_output.name, model_output.data_type, list(model_output.dims)) == (
        OUTPUT_NAME,
        model_config_pb2.TYPE_FP32,
        [24],
    )
    preferred = list(config.dynamic_batching.preferred_batch_size)
    assert preferred and max(preferred) <= config.max_batch_size
    # 0: Triton sends what is queued as soon as an instance is free (benchmarks/reference/2core-cpu/sweep.md).
    assert config.dynamic_batching.max_queue_delay_microseconds == 0
    policy = config.dynamic_batching.default_queue_policy
    assert policy.max_queue_size > 0 and policy.default_timeout_microseconds > 0
    assert policy.timeout_action == model_config_pb2.ModelQueuePolicy.REJECT
    assert [(g.count, g.kind) for g in config.instance_group] == [
        (2, model_config_pb2.ModelInstanceGroup.KIND_GPU)
    ]


@pytest.mark.parametrize("model", sorted(EXPECTED_PLATFORMS))
def test_version_policy_names_existing_folders_when_committed(model: str) -> None:
    config = read_model_config(_config_path(model))
    assert config.version_policy.WhichOneof("policy_choice") == "specific"
    assert list(config.version_policy.specific.versions) == _version_folders(model)


@pytest.mark.parametrize("model", sorted(EXPECTED_PLATFORMS))
def test_params_match_artifact_and_config_when_committed(model: str) -> None:
    config = read_model_config(_config_path(model))
    for version in _version_folders(model):
        folder = REPOSITORY / model / str(version)
        params = read_params(folder / "params.json")
        assert (params.model, params.version) == (model, str(version))
        assert PLATFORM_BY_FORMAT[params.artifact.format] == config.platform
        assert params.horizon == config.output[0].dims[0]
        assert params.artifact.sha256 == sha256_of(folder / params.artifact.file)
        assert sorted(p.name for p in folder.iterdir()) == sorted(["params.json", params.artifact.file])
