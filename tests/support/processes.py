"""Our own services (Celery worker, API) as real subprocesses for the tests."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import httpx

from local_stack.processes import ManagedProcess, cli_argv
from local_stack.waiting import wait_until


def start_worker(env: Mapping[str, str], log_path: Path, *, concurrency: int = 8) -> ManagedProcess:
    """A Celery thin-client worker, returned once it consumes its queue."""
    worker = ManagedProcess(
        "worker", cli_argv("worker", f"--concurrency={concurrency}", "--loglevel=INFO"), env, log_path
    ).start()
    worker.wait_for_log(r"celery@\S+ ready", timeout_s=60)
    return worker


def start_api(env: Mapping[str, str], log_path: Path, port: int) -> ManagedProcess:
    """The REST API on ``port``, returned once ``/healthz`` answers."""
    api = ManagedProcess("api", cli_argv("api", f"--port={port}"), env, log_path).start()

    def healthy() -> bool:
        if api.process is not None and api.process.poll() is not None:
            raise RuntimeError(f"api exited:\n{api.log()[-3000:]}")
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200

    wait_until(healthy, timeout_s=60, interval_s=0.1, message="API /healthz")
    return api
