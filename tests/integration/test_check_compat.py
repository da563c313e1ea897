"""check-compat against real runtime environments: the committed artifacts pass, a newer ONNX IR fails.

Building the torch 2.5.1 environment downloads about 3 GB and takes a minute or more, too much for
the suite: the CLI tests use the environments `hybrid-inference check-compat` built under the state
dir (`.ci/run` runs it before `make test`) and are skipped when they are missing. The build itself
is tested with the onnxruntime environment (about 120 MB, seconds).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from export_scripts.compat.cli import ENVIRONMENTS_FOLDER, compose_triton_image
from export_scripts.compat.environments import ensure_environment, is_built
from export_scripts.compat.runtimes import ONNXRUNTIME_1_19_2, TRITON_IMAGES
from hybrid_core.settings import Settings
from local_stack.processes import cli_argv
from tests.conftest import CANONICAL_REPOSITORY

pytestmark = pytest.mark.integration

ENV_DIR = Settings().state_dir / ENVIRONMENTS_FOLDER
ONNX_MODEL = "lstm_timeseries_onnx"


@pytest.fixture(scope="module")
def env_dir() -> Path:
    missing = [r.label for r in TRITON_IMAGES[compose_triton_image()].runtimes if not is_built(ENV_DIR, r)]
    if missing:
        pytest.skip(
            f"no environment of {', '.join(missing)} under {ENV_DIR}: run hybrid-inference check-compat"
        )
    return ENV_DIR


def check_compat(env_dir: Path, repository: Path) -> subprocess.CompletedProcess[str]:
    argv = cli_argv("check-compat", "--no-build", "--env-dir", str(env_dir), "--repository", str(repository))
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def table_rows(stdout: str) -> dict[str, list[str]]:
    """artifact -> [runtime, version, max abs diff, verdict]."""
    return {line.split()[0]: line.split()[1:] for line in stdout.splitlines() if "/model." in line[:60]}


def test_check_compat_passes_when_artifacts_are_the_committed_ones(env_dir: Path) -> None:
    done = check_compat(env_dir, CANONICAL_REPOSITORY)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = table_rows(done.stdout)
    expected = {
        f"{folder.parent.parent.name}/{folder.parent.name}/{folder.name}"
        for folder in [
            *CANONICAL_REPOSITORY.glob("*/*/model.pt"),
            *CANONICAL_REPOSITORY.glob("*/*/model.onnx"),
        ]
    }
    assert set(rows) == expected
    assert {tuple(row[i] for i in (0, 3)) for row in rows.values()} == {
        ("torch", "pass"),
        ("onnxruntime", "pass"),
    }
    assert all(row[1].startswith(("2.5.1", "1.19.2")) for row in rows.values())


def test_check_compat_fails_when_onnx_ir_is_newer_than_the_image_runtime(
    env_dir: Path, tmp_path: Path
) -> None:
    import onnx

    repository = tmp_path / "repository"
    shutil.copytree(CANONICAL_REPOSITORY / ONNX_MODEL, repository / ONNX_MODEL)
    path = repository / ONNX_MODEL / "1" / "model.onnx"
    model = onnx.load(str(path))
    model.ir_version = 11  # onnxruntime 1.32 (the reference) reads it; 1.19.2 reads up to 10
    onnx.save(model, str(path))

    done = check_compat(env_dir, repository)
    assert done.returncode == 1, done.stdout + done.stderr
    assert table_rows(done.stdout) == {f"{ONNX_MODEL}/1/model.onnx": ["onnxruntime", "1.19.2", "-", "FAIL"]}
    assert "max supported IR version: 10" in done.stdout


def test_ensure_environment_builds_once_when_missing(tmp_path: Path) -> None:
    built = ensure_environment(tmp_path, ONNXRUNTIME_1_19_2)
    assert built.built_s is not None and is_built(tmp_path, ONNXRUNTIME_1_19_2)
    version = subprocess.run(
        [str(built.python), "-I", "-c", "import onnxruntime; print(onnxruntime.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.strip() == "1.19.2"
    again = ensure_environment(tmp_path, ONNXRUNTIME_1_19_2, build=False)
    assert again.built_s is None and again.python == built.python
