"""``hybrid-inference export`` through the real entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybrid_cli.main import main
from hybrid_core.version_params import repository_versions


def test_export_moving_average_prints_summary_when_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", "moving-average", "--repository", str(tmp_path), "--k", "4"]) == 0
    out = capsys.readouterr().out
    assert "moving_average" in out and "MAE ppm" in out
    assert repository_versions(tmp_path, "moving_average") == ["1"]


def test_export_returns_error_status_when_version_exists_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["export", "moving-average", "--repository", str(tmp_path), "--k", "4", "--version", "1"]
    assert main(args) == 0
    assert main(args) == 1
    assert "--force" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0


def test_export_all_refuses_when_committed_versions_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "moving_average" / "1").mkdir(parents=True)
    assert main(["export", "all", "--repository", str(tmp_path)]) == 1
    assert "moving_average/1" in capsys.readouterr().err
