"""Child processes of the local stack (and of the tests): own process group, log file, readiness waits."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from local_stack.waiting import wait_until


class ManagedProcess:
    """A child process in its own process group, logging to a file."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], log_path: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log(self) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_bytes()[self._log_offset :].decode(errors="replace")

    def wait_for_log(self, pattern: str, timeout_s: float = 60) -> None:
        regex = re.compile(pattern)

        def seen() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.log()[-3000:]}"
                )
            return bool(regex.search(self.log()))

        try:
            wait_until(seen, timeout_s=timeout_s, interval_s=0.1, message=f"{self.name} log /{pattern}/")
        except (TimeoutError, RuntimeError) as exc:
            raise RuntimeError(f"{exc}\n--- {self.name} log ---\n{self.log()[-3000:]}") from exc

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (a Celery worker has children)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)

    def stop(self, timeout_s: float = 20) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def cli_argv(*args: str) -> list[str]:
    """``hybrid-inference ARGS`` run with this interpreter."""
    return [sys.executable, "-m", "hybrid_cli.main", *args]
