"""Our own services (Celery worker, API) as real subprocesses for the tests.

``start_worker`` and ``start_api`` start one process and return once it is ready. Where a test
needs several, ``launch_worker``/``launch_api`` start each without waiting and ``started``
waits for all of them, so their imports (seconds each) overlap instead of adding up.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import httpx

from local_stack.lifecycle import Service
from local_stack.processes import ManagedProcess, cli_argv
from local_stack.waiting import wait_until


class Launched(NamedTuple):
    """A process started but maybe not ready yet, and how to wait until it is."""

    process: ManagedProcess
    wait_ready: Callable[[], None]


def launch_worker(env: Mapping[str, str], log_path: Path, *, concurrency: int = 8) -> Launched:
    """A Celery thin-client worker, started; ready once it consumes its queue."""
    worker = ManagedProcess(
        "worker", cli_argv("worker", f"--concurrency={concurrency}", "--loglevel=INFO"), env, log_path
    ).start()
    return Launched(worker, lambda: worker.wait_for_log(r"celery@\S+ ready", timeout_s=60))


def launch_api(env: Mapping[str, str], log_path: Path, port: int) -> Launched:
    """The REST API on ``port``, started; ready once ``/healthz`` answers."""
    api = ManagedProcess("api", cli_argv("api", f"--port={port}"), env, log_path).start()

    def healthy() -> bool:
        if api.process is not None and api.process.poll() is not None:
            raise RuntimeError(f"api exited:\n{api.log()[-3000:]}")
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200

    def wait_ready() -> None:
        wait_until(healthy, timeout_s=60, interval_s=0.1, message="API /healthz")

    return Launched(api, wait_ready)


def started(*launched: Launched) -> list[ManagedProcess]:
    """The launched processes once every one is ready; all of them stopped if one never is."""
    try:
        for item in launched:
            item.wait_ready()
    except BaseException:
        stop_all(*(item.process for item in launched))
        raise
    return [item.process for item in launched]


def start_worker(env: Mapping[str, str], log_path: Path, *, concurrency: int = 8) -> ManagedProcess:
    """A Celery thin-client worker, returned once it consumes its queue."""
    [worker] = started(launch_worker(env, log_path, concurrency=concurrency))
    return worker


def start_api(env: Mapping[str, str], log_path: Path, port: int) -> ManagedProcess:
    """The REST API on ``port``, returned once ``/healthz`` answers."""
    [api] = started(launch_api(env, log_path, port))
    return api


def stop_all(*processes: ManagedProcess, timeout_s: float = 20) -> None:
    """``ManagedProcess.stop`` for several at once: SIGTERM every process group, then wait for
    each (SIGKILL after ``timeout_s``), so their shutdowns overlap."""
    running = [p.process for p in processes if p.process is not None and p.process.poll() is None]
    for process in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for process in running:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def stop_concurrently(*services: Service) -> None:
    """``stop()`` each service in a thread of its own: a tritonserver spends seconds unloading its
    models, mostly waiting, so two replicas stop in the time of one."""
    with ThreadPoolExecutor(max(1, len(services))) as pool:
        for stopping in [pool.submit(service.stop) for service in services]:
            stopping.result()
