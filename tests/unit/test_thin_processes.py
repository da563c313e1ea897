"""The service processes stay thin: importing a worker or the API never loads torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hybrid_core.settings import PROJECT_ROOT


@pytest.mark.parametrize(
    "modules",
    [
        ("worker.tasks", "worker.service", "worker.runtime", "worker.cli"),
        ("operation_server.app", "operation_server.cli"),
    ],
    ids=["worker", "api"],
)
def test_service_process_does_not_import_torch_when_its_modules_load(modules: tuple[str, ...]) -> None:
    # A fresh interpreter: this test process may already hold torch from other tests.
    code = f"import {', '.join(modules)}, sys; assert 'torch' not in sys.modules, 'torch was imported'"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
