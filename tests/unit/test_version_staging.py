"""Versions exported after the local Triton started are staged (checked whole, linked) before a load."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hybrid_core.errors import Conflict, VersionIncomplete
from hybrid_core.version_params import check_version_complete
from local_stack.derive import derive_repository
from operation_server.rollout.triton_sync import CanonicalVersions, LinkedVersions
from tests.conftest import CANONICAL_REPOSITORY

MODEL = "moving_average"


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A canonical repository holding the committed moving_average model, version 1."""
    repository = tmp_path / "canonical"
    shutil.copytree(CANONICAL_REPOSITORY / MODEL, repository / MODEL)
    return repository


@pytest.fixture
def target(source: Path, tmp_path: Path) -> Path:
    """The derived copy as the local stack builds it at start."""
    derived = tmp_path / "derived"
    derive_repository(source, derived)
    return derived


def add_version(source: Path, version: str) -> Path:
    """A new, whole version folder (a copy of version 1), as an export after start would write it."""
    folder = source / MODEL / version
    shutil.copytree(source / MODEL / "1", folder)
    return folder


def test_stage_links_version_when_exported_after_start(source: Path, target: Path) -> None:
    add_version(source, "2")
    assert not (target / MODEL / "2").exists()

    LinkedVersions(source, target).stage(MODEL, {"2"})

    derived = target / MODEL / "2"
    assert derived.is_symlink() and derived.resolve() == (source / MODEL / "2").resolve()
    assert (derived / "model.pt").is_file()
    assert not [p for p in (target / MODEL).iterdir() if p.name.startswith(".")], "staging left behind"


def test_stage_keeps_link_when_version_already_served(source: Path, target: Path) -> None:
    before = (target / MODEL / "1").lstat().st_mtime_ns

    LinkedVersions(source, target).stage(MODEL, {"1"})

    assert (target / MODEL / "1").lstat().st_mtime_ns == before


def test_stage_raises_version_incomplete_naming_params_when_params_missing(
    source: Path, target: Path
) -> None:
    folder = add_version(source, "2")
    (folder / "params.json").unlink()

    with pytest.raises(VersionIncomplete) as raised:
        LinkedVersions(source, target).stage(MODEL, {"2"})

    assert raised.value.status_code == 409 and "params.json is missing" in raised.value.message
    assert not (target / MODEL / "2").exists()


def test_stage_raises_version_incomplete_naming_artifact_when_truncated(source: Path, target: Path) -> None:
    folder = add_version(source, "2")
    artifact = folder / "model.pt"
    artifact.write_bytes(artifact.read_bytes()[:100])

    with pytest.raises(VersionIncomplete) as raised:
        LinkedVersions(source, target).stage(MODEL, {"2"})

    assert "model.pt does not match the sha256" in raised.value.message
    assert raised.value.field == "version"


def test_stage_raises_version_incomplete_when_folder_removed(source: Path, target: Path) -> None:
    with pytest.raises(VersionIncomplete, match=r"folder .* is missing"):
        LinkedVersions(source, target).stage(MODEL, {"7"})


def test_stage_raises_conflict_when_model_added_after_start(source: Path, tmp_path: Path) -> None:
    derived = tmp_path / "derived-empty"
    derived.mkdir()

    with pytest.raises(Conflict, match="restart the local stack"):
        LinkedVersions(source, derived).stage(MODEL, {"1"})


def test_canonical_versions_checks_only_when_triton_reads_canonical(source: Path) -> None:
    folder = add_version(source, "2")
    CanonicalVersions(source).stage(MODEL, {"1", "2"})
    (folder / "model.pt").unlink()

    with pytest.raises(VersionIncomplete, match=r"model\.pt is missing"):
        CanonicalVersions(source).stage(MODEL, {"2"})


def test_check_version_complete_passes_when_committed_versions_checked() -> None:
    for model in ("lstm_timeseries", "lstm_timeseries_onnx", MODEL):
        versions = sorted(p.name for p in (CANONICAL_REPOSITORY / model).iterdir() if p.name.isdigit())
        for version in versions:
            assert check_version_complete(CANONICAL_REPOSITORY, model, version).version == version
