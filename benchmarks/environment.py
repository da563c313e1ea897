"""Everything a benchmark run needs, started by itself and stopped at the end.

A private ``redis-server``, a fresh database, Triton on free ports over the benchmark's own
derived repository, and the API as a subprocess, for the whole run; then one worker kind at
a time (the thin worker and the baseline consume the same queue, so never both). The ``seed``
kind brings its own API (``benchmarks.seed_app``) and worker, and answers on ``jobs_url``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
import redis

from benchmarks.database import DatabaseChoice, bench_database
from benchmarks.torchscript import PRELOAD_ENV
from benchmarks.triton_repo import BenchRepository, build_repository
from local_stack.lifecycle import Service
from local_stack.processes import ManagedProcess, cli_argv
from local_stack.redis_server import RedisServer
from local_stack.triton_server import LocalTritonServer, TritonPorts, find_free_port
from local_stack.waiting import wait_until

WorkerKind = Literal["thin", "baseline", "seed"]
PROCESS_KIND: dict[WorkerKind, str] = {"thin": "worker", "baseline": "baseline_worker", "seed": "seed_worker"}
"""The process kind (a column of the reports) of each worker kind."""
SEED_API = "seed_api"
READY_TIMEOUT_S = 180.0


PASSED_THROUGH = frozenset({"HYBRID_OTLP_ENDPOINT", "HYBRID_LOG_FORMAT"})
"""The caller's settings the measured processes keep (every other HYBRID_* is the bench's own):
set them to measure the cost of tracing or JSON logs."""


@dataclass(frozen=True)
class StackOptions:
    """What the benchmark serves and how."""

    canonical: Path
    state_dir: Path
    model: str
    version: str
    database: DatabaseChoice = "auto"
    triton_threads: int = 1
    device: str = "cpu"
    worker_concurrency: int = 32
    baseline_processes: int = os.cpu_count() or 1


class BenchStack(Service):
    """Start with ``with BenchStack(options) as stack:``; ``start_worker`` swaps worker kinds."""

    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.logs_dir = options.state_dir / "logs"
        self.env: dict[str, str] = {}
        self.api_url = ""
        self.database_url = ""
        self.repository: BenchRepository | None = None
        self.triton: LocalTritonServer | None = None
        self.api: ManagedProcess | None = None
        self.worker: ManagedProcess | None = None
        self.worker_kind: WorkerKind | None = None
        self.seed_api: ManagedProcess | None = None
        self.jobs_url = ""
        """Where the job path of the running worker kind is served: the seed's API or ours."""
        self._redis_pid: int | None = None
        self._exit = contextlib.ExitStack()

    def start(self) -> None:
        """Redis, database, Triton and the API, each gated on its readiness."""
        options = self.options
        redis_server = self._exit.enter_context(RedisServer(find_free_port(), options.state_dir / "redis"))
        client = redis.Redis.from_url(redis_server.url)
        self._redis_pid = int(client.info("server")["process_id"])
        client.close()
        self.database_url = self._exit.enter_context(bench_database(options.database, options.state_dir))
        self.repository = build_repository(
            options.canonical,
            options.state_dir / "triton" / "repository",
            model=options.model,
            version=options.version,
            num_threads=options.triton_threads,
            device=options.device,
        )
        self.triton = LocalTritonServer(
            self.repository.path,
            state_dir=options.state_dir,
            models=[self.repository.batched, self.repository.unbatched],
            ports=TritonPorts.free(),
            start_timeout_s=READY_TIMEOUT_S,
        )
        self._exit.enter_context(self.triton)
        api_port = find_free_port()
        self.api_url = self.jobs_url = f"http://127.0.0.1:{api_port}"
        self.env = self._child_env(redis_server.url, api_port)
        api = ManagedProcess(
            "api",
            cli_argv("api", f"--port={api_port}", "--log-level=warning"),
            self.env,
            self.logs_dir / "api.log",
        )
        self.api = api.start()
        self._exit.callback(api.stop)
        wait_until(
            self._version_ready, timeout_s=READY_TIMEOUT_S, interval_s=0.2, message="API sees the version"
        )

    def _child_env(self, redis_url: str, api_port: int) -> dict[str, str]:
        assert self.triton is not None
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("HYBRID_") or k in PASSED_THROUGH
        }
        env.update(
            {
                "HYBRID_DATABASE_URL": self.database_url,
                "HYBRID_REDIS_URL": redis_url,
                "HYBRID_TRITON_GRPC_URL": self.triton.grpc_url,
                **self.triton.control_env(),
                "HYBRID_MODEL_REPOSITORY": str(self.options.canonical),
                "HYBRID_STATE_DIR": str(self.options.state_dir / "state"),
                "HYBRID_API_PORT": str(api_port),
                "HYBRID_WORKER_METRICS_PORT": "0",
                PRELOAD_ENV: f"{self.options.model}:{self.options.version}",
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def _version_ready(self) -> bool:
        assert self.api is not None and self.api.process is not None
        if self.api.process.poll() is not None:
            raise RuntimeError(f"the API exited:\n{self.api.log()[-3000:]}")
        answer = httpx.get(f"{self.api_url}/v1/models/{self.options.model}", timeout=2)
        return answer.status_code == 200 and self.options.version in answer.json()["ready_versions"]

    def start_worker(self, kind: WorkerKind) -> ManagedProcess:
        """Stop the running worker (if any), start ``kind`` and wait until it finishes a probe job."""
        if self.worker_kind == kind and self.worker is not None:
            return self.worker
        self.stop_worker()
        if kind == "thin":
            argv = cli_argv(
                "worker", f"--concurrency={self.options.worker_concurrency}", "--loglevel=WARNING"
            )
        elif kind == "baseline":
            concurrency = f"--concurrency={self.options.baseline_processes}"
            argv = [sys.executable, "-m", "benchmarks.baseline_worker", concurrency]
        else:
            self._start_seed_api()
            concurrency = f"--concurrency={self.options.baseline_processes}"
            argv = [sys.executable, "-m", "benchmarks.seed_worker", concurrency]
        self.worker = ManagedProcess(kind, argv, self.env, self.logs_dir / f"{kind}-worker.log").start()
        self.worker_kind = kind
        self._probe_job()
        return self.worker

    def _start_seed_api(self) -> None:
        port = find_free_port()
        argv = [sys.executable, "-m", "benchmarks.seed_app", f"--port={port}"]
        self.seed_api = ManagedProcess(SEED_API, argv, self.env, self.logs_dir / "seed-api.log").start()
        self.jobs_url = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            assert self.seed_api is not None and self.seed_api.process is not None
            if self.seed_api.process.poll() is not None:
                raise RuntimeError(f"the seed API exited:\n{self.seed_api.log()[-3000:]}")
            try:
                return httpx.get(f"{self.jobs_url}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, timeout_s=READY_TIMEOUT_S, interval_s=0.2, message="the seed API answers")

    def _probe_job(self) -> None:
        """Send one job and wait for its result: the worker is ready once it answers."""
        from benchmarks.data import request_series

        series = request_series(1, 200, seed=99)
        body = {"model": self.options.model, "version": self.options.version, "series": series}
        deadline = time.monotonic() + READY_TIMEOUT_S
        with httpx.Client(base_url=self.jobs_url, timeout=30) as client:
            accepted = client.post("/v1/jobs", json=body)
            accepted.raise_for_status()
            job_id = accepted.json()["job_id"]
            while time.monotonic() < deadline:
                assert self.worker is not None and self.worker.process is not None
                if self.worker.process.poll() is not None:
                    raise RuntimeError(f"the {self.worker.name} worker exited:\n{self.worker.log()[-3000:]}")
                view = client.get(f"/v1/jobs/{job_id}", params={"wait_s": 2}).json()
                if view["status"] == "succeeded":
                    return
                if view["status"] == "failed":
                    raise RuntimeError(f"probe job failed on the {self.worker.name} worker: {view['error']}")
        raise TimeoutError(f"the {self.worker_kind} worker did not finish a probe job in {READY_TIMEOUT_S}s")

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self.worker = None
        self.worker_kind = None
        if self.seed_api is not None:
            self.seed_api.stop()
        self.seed_api = None
        self.jobs_url = self.api_url

    def process_roots(self) -> dict[str, list[int]]:
        """Root pids of each process kind running now (their descendants count with them)."""
        roots: dict[str, list[int]] = {}
        if self.api is not None:
            roots["api"] = [self.api.pid]
        if self.triton is not None and self.triton.pid is not None:
            roots["triton"] = [self.triton.pid]
        if self._redis_pid is not None:
            roots["redis"] = [self._redis_pid]
        if self.worker is not None and self.worker_kind is not None:
            roots[PROCESS_KIND[self.worker_kind]] = [self.worker.pid]
        if self.seed_api is not None:
            roots[SEED_API] = [self.seed_api.pid]
        return roots

    @property
    def postgres_database(self) -> str | None:
        """The PostgreSQL database's name; None on SQLite."""
        if not self.database_url.startswith("postgresql"):
            return None
        return self.database_url.rsplit("/", 1)[1]

    def stop(self) -> None:
        """Stop everything in reverse order of start; safe to call twice."""
        self.stop_worker()
        self._exit.close()
