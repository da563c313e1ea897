"""A private ``redis-server`` for the local stack and the tests, when no Redis is reachable."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import redis

from local_stack.errors import LocalStackError
from local_stack.lifecycle import Service
from local_stack.waiting import wait_until


def redis_reachable(url: str, timeout_s: float = 1.0) -> bool:
    """True when the Redis at ``url`` answers PING."""
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


class RedisServer(Service):
    """``redis-server`` bound to 127.0.0.1 on ``port``; with ``appendonly``, an append-only file
    fsynced every second (what production needs: a restart loses at most the last second)."""

    def __init__(
        self, port: int, workdir: Path, *, start_timeout_s: float = 15.0, appendonly: bool = False
    ) -> None:
        self.port = port
        self.workdir = workdir
        self.start_timeout_s = start_timeout_s
        self.appendonly = appendonly
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise LocalStackError("redis-server is not installed: run `apt-get install -y redis-server`")
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
        if self.appendonly:
            argv += ["--appendonly", "yes", "--appendfsync", "everysec"]
        else:
            argv += ["--appendonly", "no"]
        argv += ["--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log")]
        self._process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: redis_reachable(self.url), timeout_s=self.start_timeout_s, message="redis-server")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL the server, as a crash would (what the append-only file holds survives)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)
