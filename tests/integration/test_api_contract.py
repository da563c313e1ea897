"""The OpenAPI document is a contract: a schema-driven fuzzer finds nothing against the live API.

schemathesis generates requests from ``/openapi.json`` (valid and invalid ones) and checks that no
answer is a 5xx other than the documented ones, that every status and content type is documented,
and that every body matches its documented schema.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from local_stack.processes import ManagedProcess

pytestmark = pytest.mark.integration

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
MAX_EXAMPLES = 25
ROOT = Path(__file__).resolve().parents[2]


def test_schemathesis_finds_no_contract_failure_when_fuzzing_every_route(
    api: str, worker: ManagedProcess, session_dir: Path
) -> None:
    report = session_dir / "schemathesis"
    argv = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{api}/openapi.json",
        f"--checks={CHECKS}", f"--max-examples={MAX_EXAMPLES}", "--seed=1", "--workers=2",
        "--report=junit", f"--report-dir={report}", "--no-color",
    ]  # fmt: skip
    # The hooks build the array job's .npz bodies, which schemathesis cannot make by itself.
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.support.schemathesis_hooks"}
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False, env=env, cwd=ROOT)

    print(result.stdout[-3000:])
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
