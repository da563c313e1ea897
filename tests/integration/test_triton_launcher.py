"""``hybrid-inference triton`` killed with SIGKILL leaves no tritonserver holding its ports."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest

from local_stack.processes import ManagedProcess, cli_argv
from local_stack.triton_server import TritonPorts
from local_stack.waiting import wait_until

pytestmark = pytest.mark.integration


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_tritonserver_exits_when_its_launcher_is_killed(tmp_path: Path) -> None:
    ports = TritonPorts.free()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYBRID_")}
    env["HYBRID_STATE_DIR"] = str(tmp_path / "state")
    argv = cli_argv(
        "triton",
        "--model=moving_average",
        f"--http-port={ports.http}",
        f"--grpc-port={ports.grpc}",
        f"--metrics-port={ports.metrics}",
    )
    launcher = ManagedProcess("triton-launcher", argv, env, tmp_path / "launcher.log").start()
    try:
        launcher.wait_for_log(r"Ctrl-C stops it", timeout_s=120)
        assert listening(ports.grpc)

        os.kill(launcher.pid, signal.SIGKILL)  # the launcher only, as a crash or an OOM kill would

        wait_until(lambda: not listening(ports.grpc), timeout_s=30, message="tritonserver gone")
        assert not listening(ports.http)
    finally:
        launcher.kill()
