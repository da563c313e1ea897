"""The benchmark's derived repository: the model plus its copy without dynamic batching."""

from __future__ import annotations

from pathlib import Path

from benchmarks.triton_repo import DEVICE_PARAMETER, build_repository
from export_scripts.triton_config import TritonModelSpec, build_model_config, read_model_config
from local_stack.derive import PYTHON_BASED_BACKEND
from local_stack.testing import write_canonical_config


def _canonical(root: Path) -> Path:
    repository = root / "canonical"
    config = build_model_config(TritonModelSpec("lstm", "pytorch_libtorch", (1, 2), horizon=24))
    model_dir = write_canonical_config(repository, config)
    for version in ("1", "2"):
        (model_dir / version).mkdir()
        (model_dir / version / "model.pt").write_bytes(b"weights")
        (model_dir / version / "params.json").write_text("{}\n")
    return repository


def test_build_repository_adds_an_unbatched_copy_serving_only_the_version(tmp_path: Path) -> None:
    repository = build_repository(
        _canonical(tmp_path), tmp_path / "derived", model="lstm", version="2", num_threads=1
    )
    batched = read_model_config(repository.path / "lstm" / "config.pbtxt")
    unbatched = read_model_config(repository.path / "lstm_nobatch" / "config.pbtxt")
    assert (repository.batched, repository.unbatched) == ("lstm", "lstm_nobatch")
    assert batched.HasField("dynamic_batching")
    assert not unbatched.HasField("dynamic_batching")
    assert unbatched.name == "lstm_nobatch"
    assert unbatched.max_batch_size == batched.max_batch_size
    for config in (batched, unbatched):
        assert list(config.version_policy.specific.versions) == [2]
        assert config.backend == PYTHON_BASED_BACKEND
        assert DEVICE_PARAMETER not in config.parameters
    assert (repository.path / "lstm_nobatch" / "2").is_symlink()
    canonical_version = (tmp_path / "canonical" / "lstm" / "2").resolve()
    assert (repository.path / "lstm_nobatch" / "2").resolve() == canonical_version


def test_build_repository_sets_the_device_parameter_when_asked(tmp_path: Path) -> None:
    repository = build_repository(
        _canonical(tmp_path), tmp_path / "derived", model="lstm", version="1", num_threads=1, device="cuda"
    )
    for name in ("lstm", "lstm_nobatch"):
        config = read_model_config(repository.path / name / "config.pbtxt")
        assert config.parameters[DEVICE_PARAMETER].string_value == "cuda"


def test_canonical_repository_is_left_untouched(tmp_path: Path) -> None:
    canonical = _canonical(tmp_path)
    before = (canonical / "lstm" / "config.pbtxt").read_text()
    build_repository(canonical, tmp_path / "derived", model="lstm", version="1", num_threads=1)
    assert (canonical / "lstm" / "config.pbtxt").read_text() == before
    assert sorted(p.name for p in canonical.iterdir()) == ["lstm"]
