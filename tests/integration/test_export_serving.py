"""When an exported version is served, as the README says: an export alone never goes live;
``--serve`` adds the version to config.pbtxt's policy, so Triton loads it at its next start."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hybrid_core.settings import PROJECT_ROOT, Settings
from local_stack.processes import cli_argv
from local_stack.stack import LocalStack
from local_stack.triton_server import TritonPorts
from tests.conftest import CANONICAL_REPOSITORY
from tests.support.triton import stop_quickly_at_teardown

pytestmark = pytest.mark.integration

MODEL = "lstm_timeseries"
README = (PROJECT_ROOT / "README.md").read_text()


SMALL_LSTM = ("--epochs", "1", "--hidden", "8", "--layers", "1")
"""A network that trains in under a second: what is served depends on the policy, not the weights."""


def export(repository: Path, *extra: str) -> None:
    argv = cli_argv("export", "lstm", "--model", MODEL, "--window", "104", *SMALL_LSTM, "--seed", "5")
    done = subprocess.run(
        [*argv, "--repository", str(repository), "--no-progress", *extra], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_version_served_at_next_start_only_when_exported_with_serve(tmp_path: Path) -> None:
    assert re.search(r"`--serve` adds\s+it to the\s+policy", README), "the README no longer says this"
    repository = tmp_path / "repository"
    shutil.copytree(CANONICAL_REPOSITORY / MODEL, repository / MODEL)
    settings = Settings(model_repository=repository, state_dir=tmp_path / "state")
    stack = LocalStack(settings, ports=TritonPorts.free())
    with stack:
        assert stack.triton.ready_models()[MODEL] == ["1", "2"]
        export(repository)  # version 3: in the repository, outside the policy
        export(repository, "--serve")  # version 4: in the policy
        assert stack.triton.ready_models()[MODEL] == ["1", "2"], "nothing goes live without a start"
        stack.stop()
        stack.start()
        assert stack.triton.ready_models()[MODEL] == ["1", "2", "4"]
        stop_quickly_at_teardown(stack.triton)  # the stop above was the graceful one under test
