"""Prometheus itself accepts both scrape configurations (``promtool check config``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
CONFIGS = ["prometheus.yml", "prometheus.local.yml"]


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (Debian: apt-get install -y prometheus)")
    return path


@pytest.mark.parametrize("name", CONFIGS)
def test_promtool_accepts_config_when_checked(promtool: str, name: str) -> None:
    result = subprocess.run(
        [promtool, "check", "config", str(PROMETHEUS_DIR / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr
