"""The README's rollout section, run as written against a running ``hybrid-inference up`` stack.

The commands come from the README's code block itself, so the two cannot drift apart. The only
change is ``--epochs 1`` on the export, to keep the test short. The stack serves a copy of the
repository (the export writes there) with its own ports, database and Redis database.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from hybrid_core.settings import PROJECT_ROOT
from local_stack.processes import ManagedProcess, cli_argv
from local_stack.triton_server import TritonPorts, find_free_port
from local_stack.waiting import wait_until
from tests.conftest import CANONICAL_REPOSITORY
from tests.support.data import request_series
from tests.support.services import postgres_database
from triton_client import ControlKey

pytestmark = pytest.mark.e2e

MODEL = "lstm_timeseries"
TOKEN = "e2e-admin-token"
CONTROL_KEY = ControlKey.generate()
"""The stack's Triton uses the configured key, so the test can read its repository index."""
SECTION = "### Rolling out a new version"
FAST_EXPORT = "--epochs 1"


def readme_rollout_commands() -> list[str]:
    """The shell commands of the README's rollout section, comments stripped, in order."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split(SECTION, 1)[1]
    block = re.search(r"```\n(.*?)```", section, flags=re.DOTALL)
    assert block is not None, "the rollout section has no code block"
    lines = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line]


@dataclass
class UpStack:
    env: dict[str, str]
    api_url: str
    triton_http_url: str
    repository: Path
    log: ManagedProcess

    def run(self, command: str) -> str:
        """Run one README command in the checkout, as a user's shell would; return its stdout."""
        done = subprocess.run(
            command, shell=True, cwd=PROJECT_ROOT, env=self.env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"{command}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr[-3000:]}"
        return done.stdout

    def ready_versions(self) -> list[str]:
        entries = httpx.post(
            f"{self.triton_http_url}/v2/repository/index",
            json={"ready": True},
            headers=CONTROL_KEY.http_headers(),
        ).json()
        return sorted((e["version"] for e in entries if e["name"] == MODEL), key=int)


@pytest.fixture(scope="module")
def up_stack(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, kafka: str
) -> Iterator[UpStack]:
    root = tmp_path_factory.mktemp("readme-rollout")
    repository = root / "repository"
    shutil.copytree(CANONICAL_REPOSITORY / MODEL, repository / MODEL)
    ports = TritonPorts.free()
    api_port = find_free_port()
    with postgres_database() as database_url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HYBRID_")}
        env.update(
            {
                "HYBRID_MODEL_REPOSITORY": str(repository),
                "HYBRID_STATE_DIR": str(root / "state"),
                "HYBRID_DATABASE_URL": database_url,
                "HYBRID_REDIS_URL": redis_url.rsplit("/", 1)[0] + "/5",
                "HYBRID_KAFKA_BOOTSTRAP_SERVERS": kafka,
                "HYBRID_API_PORT": str(api_port),
                "HYBRID_TRITON_HTTP_PORT": str(ports.http),
                "HYBRID_TRITON_GRPC_PORT": str(ports.grpc),
                "HYBRID_TRITON_METRICS_PORT": str(ports.metrics),
                "HYBRID_ADMIN_TOKEN": TOKEN,
                "HYBRID_TRITON_CONTROL_SECRET": CONTROL_KEY.secret,
                "PYTHONUNBUFFERED": "1",
            }
        )
        up = ManagedProcess("up", cli_argv("up"), env, root / "up.log").start()
        try:
            up.wait_for_log(r"platform ready in", timeout_s=240)
            yield UpStack(
                env, f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{ports.http}", repository, up
            )
        finally:
            up.stop(timeout_s=60)


def send_keyed_jobs(api_url: str, prefix: str, count: int) -> list[dict[str, Any]]:
    """Submit ``count`` jobs with distinct routing keys and wait for each to finish."""
    series = request_series(1, 200, seed=7)

    def one(index: int) -> dict[str, Any]:
        with httpx.Client(base_url=api_url, timeout=120) as client:
            accepted = client.post(
                "/v1/jobs", json={"model": MODEL, "series": series, "routing_key": f"{prefix}-{index}"}
            )
            assert accepted.status_code == 202, accepted.text
            view: dict[str, Any] = client.get(
                f"/v1/jobs/{accepted.json()['job_id']}", params={"wait_s": 60}
            ).json()
            return view

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def test_readme_rollout_section_serves_canary_then_promotes_when_run_as_written(up_stack: UpStack) -> None:
    export, start, report, promote = readme_rollout_commands()
    assert shlex.split(export)[1:3] == ["export", "lstm"] and "rollout start" in start
    assert "rollout report" in report and "rollout promote" in promote
    assert up_stack.ready_versions() == ["1", "2"]

    exported = up_stack.run(f"{export} {FAST_EXPORT}")
    assert re.search(rf"^{MODEL}\s+3\s", exported, flags=re.MULTILINE), exported
    assert up_stack.ready_versions() == ["1", "2"], "an export alone must not serve the version"

    policy = json.loads(up_stack.run(start))
    assert (policy["stable"], policy["canary"]) == ("2", "3")
    assert "3" in up_stack.ready_versions()

    views = send_keyed_jobs(up_stack.api_url, "sensor", 200)
    assert {v["status"] for v in views} == {"succeeded"}
    served = {(v["arm"], v["version"]) for v in views}
    assert served == {("stable", "2"), ("canary", "3")}

    def report_complete() -> bool:
        shown = json.loads(up_stack.run(report))
        return bool(shown["shadow"]["requests"] > 0)

    wait_until(report_complete, timeout_s=60, interval_s=1, message="shadow results in the report")
    shown = json.loads(up_stack.run(report))
    assert shown["stable"]["version"] == "2" and shown["stable"]["requests"] > 0
    assert shown["canary"]["version"] == "3" and shown["canary"]["requests"] > 0
    assert shown["shadow"]["version"] == "3" and shown["shadow"]["mean_abs_diff"] is not None

    promoted = json.loads(up_stack.run(promote))
    assert (promoted["stable"], promoted["canary"]) == ("3", None)
    after = send_keyed_jobs(up_stack.api_url, "after", 40)
    assert {(v["status"], v["arm"], v["version"]) for v in after} == {("succeeded", "stable", "3")}
    wait_until(lambda: up_stack.ready_versions() == ["3"], timeout_s=30, message="version 2 unloaded")


def pid_of(pattern: str) -> int:
    """The one process whose command line matches ``pattern`` (``pgrep -f``)."""
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
    assert len(found) == 1, f"{pattern!r}: {found}"
    return int(found[0])


@pytest.mark.parametrize("component", ["worker1", "tritonserver"])
def test_up_restarts_a_component_killed_with_sigkill_and_jobs_succeed(
    up_stack: UpStack, component: str
) -> None:
    state_dir = up_stack.env["HYBRID_STATE_DIR"]
    patterns = {
        "worker1": r"hybrid_cli.main worker --hostname=worker1@",
        "tritonserver": rf"tritonserver --id=\S+ --model-repository={state_dir}/",
    }
    os.kill(pid_of(patterns[component]), signal.SIGKILL)

    up_stack.log.wait_for_log(rf"{component} restarted", timeout_s=120)
    views = send_keyed_jobs(up_stack.api_url, f"after-{component}", 10)
    assert {v["status"] for v in views} == {"succeeded"}
