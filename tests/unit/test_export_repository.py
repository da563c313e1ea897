"""Version folders and config.pbtxt generation through Triton's protobuf."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from export_scripts.errors import VersionExists
from export_scripts.repository import (
    next_free_version,
    resolve_version,
    staged_version,
    write_repository_config,
)
from export_scripts.triton_config import (
    TritonModelSpec,
    build_model_config,
    parse_model_config,
    read_model_config,
    render_model_config,
    write_model_config,
)
from hybrid_core.version_params import PARAMS_FILENAME


def _make_version(repository: Path, model: str, version: int) -> None:
    folder = repository / model / str(version)
    folder.mkdir(parents=True)
    (folder / PARAMS_FILENAME).write_text("{}")


def test_next_free_version_returns_one_when_model_is_new(tmp_path: Path) -> None:
    assert next_free_version(tmp_path, "m") == 1


def test_next_free_version_skips_gaps_when_folders_exist(tmp_path: Path) -> None:
    _make_version(tmp_path, "m", 1)
    _make_version(tmp_path, "m", 3)
    (tmp_path / "m" / ".staging-4-x").mkdir()
    assert next_free_version(tmp_path, "m") == 4


def test_resolve_version_raises_when_folder_exists_without_force(tmp_path: Path) -> None:
    _make_version(tmp_path, "m", 1)
    with pytest.raises(VersionExists) as caught:
        resolve_version(tmp_path, "m", 1, force=False)
    assert caught.value.status_code == 409
    assert resolve_version(tmp_path, "m", 1, force=True) == 1


def test_staged_version_leaves_nothing_when_block_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), staged_version(tmp_path, "m", 1, force=False) as folder:
        (folder / "model.pt").write_bytes(b"half")
        raise RuntimeError("export failed")
    assert list((tmp_path / "m").iterdir()) == []


def test_staged_version_replaces_folder_when_forced(tmp_path: Path) -> None:
    _make_version(tmp_path, "m", 1)
    with staged_version(tmp_path, "m", 1, force=True) as folder:
        (folder / "model.pt").write_bytes(b"new")
    assert sorted(p.name for p in (tmp_path / "m" / "1").iterdir()) == ["model.pt"]


def test_build_model_config_sets_batching_and_policy_when_spec_given() -> None:
    config = build_model_config(
        TritonModelSpec(name="m", platform="onnxruntime_onnx", versions=(2, 1), horizon=24)
    )
    assert config.max_batch_size == 128
    assert list(config.input[0].dims) == [-1]
    assert config.input[0].data_type == model_config_pb2.TYPE_FP32
    assert list(config.output[0].dims) == [24]
    assert list(config.dynamic_batching.preferred_batch_size) == [16, 32, 64, 128]
    # The sweep's choice (benchmarks/reference/2core-cpu/sweep.md): no queue delay, two instances.
    assert config.dynamic_batching.max_queue_delay_microseconds == 0
    assert config.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
    assert config.instance_group[0].count == 2
    assert list(config.version_policy.specific.versions) == [1, 2]


def test_build_model_config_raises_when_no_version() -> None:
    with pytest.raises(ValueError, match="at least one version"):
        build_model_config(TritonModelSpec(name="m", platform="pytorch_libtorch", versions=(), horizon=24))


def test_write_model_config_round_trips_when_read_back(tmp_path: Path) -> None:
    config = build_model_config(
        TritonModelSpec(
            name="m", platform="pytorch_libtorch", versions=(1,), horizon=24, instance_kind="KIND_CPU"
        )
    )
    path = tmp_path / "config.pbtxt"
    write_model_config(path, config)
    assert read_model_config(path) == config
    assert render_model_config(parse_model_config(path.read_text())) == path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["config.pbtxt"]


def test_parse_model_config_raises_when_field_unknown() -> None:
    with pytest.raises(text_format.ParseError):
        parse_model_config('name: "m"\nnot_a_field: 1\n')


def test_write_repository_config_serves_first_version_when_model_new(tmp_path: Path) -> None:
    _make_version(tmp_path, "m", 1)
    path = write_repository_config(tmp_path, "m", "pytorch_libtorch", horizon=24)
    assert list(read_model_config(path).version_policy.specific.versions) == [1]


def test_write_repository_config_keeps_new_version_unserved_when_not_asked(tmp_path: Path) -> None:
    _make_version(tmp_path, "m", 1)
    write_repository_config(tmp_path, "m", "pytorch_libtorch", horizon=24)
    _make_version(tmp_path, "m", 2)
    path = write_repository_config(tmp_path, "m", "pytorch_libtorch", horizon=24)
    assert list(read_model_config(path).version_policy.specific.versions) == [1]
    path = write_repository_config(tmp_path, "m", "pytorch_libtorch", horizon=24, serve=2)
    assert list(read_model_config(path).version_policy.specific.versions) == [1, 2]
