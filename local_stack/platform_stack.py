"""The whole local platform that ``hybrid-inference up`` runs in the foreground.

Triton (local binary, Python-backend copy of the repository), Redis (the configured one if it
answers, else a private ``redis-server``), the database (SQLite under the state dir unless
``HYBRID_DATABASE_URL`` is set), a Kafka-protocol broker (Tansu, unless
``HYBRID_KAFKA_BOOTSTRAP_SERVERS`` is set), Celery workers and the API. Components start in
dependency order, each gated on its own readiness, and stop in reverse order.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

from event_bus import ensure_topic
from hybrid_core.settings import Settings
from local_stack.errors import LocalStackError
from local_stack.lifecycle import Service
from local_stack.processes import ManagedProcess, cli_argv
from local_stack.prometheus import PrometheusServer, prometheus_binary, scrape_config
from local_stack.redis_server import RedisServer, redis_reachable
from local_stack.stack import LocalStack
from local_stack.tansu import TansuBroker
from local_stack.triton_server import find_free_port
from local_stack.waiting import wait_until

DEFAULT_KAFKA_PORT = 9092
WORKER_METRICS_BASE_PORT = 9100
DEFAULT_PROMETHEUS_PORT = 9090
READY_TIMEOUT_S = 120.0


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((host, port)) != 0


SUPERVISE_POLL_S = 0.5
RESTART_BACKOFF_MAX_S = 30.0
STABLE_RUN_S = 60.0
"""A component that ran this long since its last restart starts again from the shortest delay."""


@dataclass
class _Restarts:
    """Exponential backoff of one component's restarts: 1, 2, 4 ... 30 s."""

    count: int = 0
    last_s: float = field(default_factory=time.monotonic)

    def next_delay_s(self) -> float:
        now = time.monotonic()
        if now - self.last_s > STABLE_RUN_S:
            self.count = 0
        self.last_s = now
        self.count += 1
        return float(min(RESTART_BACKOFF_MAX_S, 2 ** (self.count - 1)))


@dataclass
class PlatformStack(Service):
    """Start, watch and stop every component of the local platform."""

    settings: Settings
    workers: int = 1
    worker_concurrency: int | None = None
    tritons: int = 1
    """Triton replicas; replica k listens on the configured ports + 10k."""
    processes: list[ManagedProcess] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.logs_dir = self.settings.state_dir / "logs"
        # `hybrid-inference up` starts Triton from its main thread: a SIGKILLed launcher takes it along.
        self.triton = LocalStack(self.settings, die_with_launcher=True, replicas=self.tritons)
        self._redis: RedisServer | None = None
        self._kafka: TansuBroker | None = None
        self.prometheus: PrometheusServer | None = None

    @property
    def api_url(self) -> str:
        return f"http://{self.settings.api_host}:{self.settings.api_port}"

    def start(self) -> None:
        """Bring everything up; raises LocalStackError naming what failed."""
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        redis_url = self._start_redis()
        self.triton.start()
        kafka = self._start_kafka()
        self.env = self._child_env(redis_url, kafka)
        for index in range(self.workers):
            argv = ["worker", f"--hostname=worker{index + 1}@%h"]
            if self.worker_concurrency:
                argv.append(f"--concurrency={self.worker_concurrency}")
            # Worker N exposes its metrics on 9100 + N, where deploy/prometheus/prometheus.local.yml looks.
            env = self.env | {"HYBRID_WORKER_METRICS_PORT": str(WORKER_METRICS_BASE_PORT + index + 1)}
            worker = ManagedProcess(
                f"worker{index + 1}", cli_argv(*argv), env, self.logs_dir / f"worker{index + 1}.log"
            )
            self.processes.append(worker.start())
        for worker in self.processes:
            worker.wait_for_log(r"@\S+ ready\.", timeout_s=READY_TIMEOUT_S)
        if not port_free(self.settings.api_port, self.settings.api_host):
            raise LocalStackError(f"port {self.settings.api_port} is taken; set HYBRID_API_PORT")
        # Only the API loads and unloads models: only it gets Triton's control key.
        api_env = self.env | self.triton.triton.control_env()
        api = ManagedProcess("api", cli_argv("api"), api_env, self.logs_dir / "api.log")
        self.processes.append(api.start())
        self._wait_api_ready(api)
        self._start_prometheus()

    def _start_prometheus(self) -> None:
        if prometheus_binary() is None:
            return
        port = DEFAULT_PROMETHEUS_PORT if port_free(DEFAULT_PROMETHEUS_PORT) else find_free_port()
        workers = [f"127.0.0.1:{WORKER_METRICS_BASE_PORT + i + 1}" for i in range(self.workers)]
        config = scrape_config(
            {
                "triton": [f"127.0.0.1:{server.ports.metrics}" for server in self.triton.tritons],
                "api": [f"127.0.0.1:{self.settings.api_port}"],
                "worker": workers,
            }
        )
        self.prometheus = PrometheusServer(config, port, self.settings.state_dir / "prometheus")
        self.prometheus.start()

    def _start_redis(self) -> str:
        url = self.settings.redis_url
        if redis_reachable(url):
            return url
        parsed = urlparse(url)
        if parsed.hostname not in {"127.0.0.1", "localhost"}:
            raise LocalStackError(f"Redis at {url} does not answer")
        self._redis = RedisServer(parsed.port or 6379, self.settings.state_dir / "redis")
        self._redis.start()
        return url

    def _start_kafka(self) -> str:
        if self.settings.kafka_bootstrap_servers:
            return self.settings.kafka_bootstrap_servers
        if self._kafka is None:
            port = DEFAULT_KAFKA_PORT if port_free(DEFAULT_KAFKA_PORT) else None
            self._kafka = TansuBroker(port=port, log_path=self.logs_dir / "tansu.log")
        # On a restart too: Tansu keeps its topics in memory.
        self._kafka.start()
        ensure_topic(self._kafka.bootstrap_servers, self.settings.kafka_topic)
        return self._kafka.bootstrap_servers

    def _child_env(self, redis_url: str, kafka: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "HYBRID_REDIS_URL": redis_url,
                "HYBRID_TRITON_GRPC_URL": self.triton.triton.grpc_url,
                # Every process spreads its calls over all replicas; the API loads versions on each.
                "HYBRID_TRITON_GRPC_URLS": ",".join(self.triton.grpc_urls),
                # The API links versions exported after start into Triton's copy before loading them.
                "HYBRID_TRITON_PYTHON_REPOSITORY": str(self.triton.triton.repository),
                "HYBRID_KAFKA_BOOTSTRAP_SERVERS": kafka,
                "HYBRID_KAFKA_TOPIC": self.settings.kafka_topic,
                "HYBRID_STATE_DIR": str(self.settings.state_dir),
                "HYBRID_MODEL_REPOSITORY": str(self.settings.model_repository),
                "HYBRID_API_HOST": self.settings.api_host,
                "HYBRID_API_PORT": str(self.settings.api_port),
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def _wait_api_ready(self, api: ManagedProcess) -> None:
        def ready() -> bool:
            if api.process is not None and api.process.poll() is not None:
                raise LocalStackError(f"the API exited:\n{api.log()[-2000:]}")
            return httpx.get(f"{self.api_url}/readyz", timeout=2).status_code == 200

        try:
            wait_until(ready, timeout_s=READY_TIMEOUT_S, interval_s=0.2, message="API /readyz")
        except TimeoutError as exc:
            raise LocalStackError(f"{exc}; see {self.logs_dir}") from exc

    def supervise(self, report: Callable[[str], None]) -> None:
        """Restart a worker, the API, Triton, Tansu or our private Redis that exits on its own, with
        backoff; never returns.

        Ctrl-C or SIGTERM (a KeyboardInterrupt here) ends it; the caller then stops the stack.
        """
        tritons = {_triton_label(i): server for i, server in enumerate(self.triton.tritons)}
        services = {"tansu": self._kafka, "redis-server": self._redis}
        names = [p.name for p in self.processes] + [*tritons, *services]
        backoff = {name: _Restarts() for name in names}
        while True:
            exited: list[tuple[str, int | None, Callable[[], object]]] = [
                (p.name, p.process.returncode, p.start)
                for p in self.processes
                if p.process is not None and p.process.poll() is not None
            ]
            exited += [
                (name, None, self._start_kafka if name == "tansu" else service.start)
                for name, service in services.items()
                if service is not None and not service.running
            ]
            poll_s = SUPERVISE_POLL_S / len(tritons)
            for name, triton in tritons.items():
                if triton.is_running:
                    code = triton.wait(timeout_s=poll_s)
                    if code is not None:
                        exited.append((name, code, triton.start))
                else:  # its last restart failed
                    time.sleep(poll_s)
                    exited.append((name, None, triton.start))
            for name, code, start in exited:
                _restart(name, code, backoff[name], start, report)

    def stop(self) -> None:
        """Stop in reverse order of start; safe to call more than once."""
        if self.prometheus is not None:
            self.prometheus.stop()
        for process in reversed(self.processes):
            process.stop()
        self.triton.stop()
        if self._kafka is not None:
            self._kafka.stop()
        if self._redis is not None:
            self._redis.stop()


def example_series(window: int) -> list[float]:
    """The last ``window + 52`` weekly CO2 readings (statsmodels), or a seasonal curve without it."""
    length = window + 52
    try:
        from statsmodels.datasets import co2

        values = co2.load_pandas().data["co2"].interpolate().to_numpy(dtype=float)
        return [round(v, 3) for v in values[-length:].tolist()]
    except ImportError:
        import math

        return [round(360 + 0.03 * t + 3 * math.sin(2 * math.pi * t / 52), 3) for t in range(length)]


def write_example_request(path: Path, model: str, window: int) -> Path:
    """Write a ready-to-send job body for ``model`` (used by the printed curl example)."""
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"model": model, "series": [example_series(window)]}))
    return path


def submit_example(
    api_url: str, body_path: Path, timeout_s: float = 60, token: str | None = None
) -> dict[str, Any]:
    """Send the example job (as ``token``'s caller, if given) and long-poll its result."""
    started = time.perf_counter()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=api_url, timeout=timeout_s + 5, headers=headers) as client:
        accepted = client.post(
            "/v1/jobs", content=body_path.read_bytes(), headers={"content-type": "application/json"}
        )
        accepted.raise_for_status()
        job_id = accepted.json()["job_id"]
        view: dict[str, Any] = client.get(f"/v1/jobs/{job_id}", params={"wait_s": timeout_s}).json()
    view["_elapsed_s"] = time.perf_counter() - started
    return view


def _triton_label(index: int) -> str:
    return "tritonserver" if index == 0 else f"tritonserver-{index}"


def _restart(
    name: str,
    code: int | None,
    backoff: _Restarts,
    start: Callable[[], object],
    report: Callable[[str], None],
) -> None:
    delay_s = backoff.next_delay_s()
    report(f"{name} exited on its own (code {code}); restarting it in {delay_s:g} s")
    time.sleep(delay_s)
    try:
        start()
    except (LocalStackError, OSError, RuntimeError) as exc:
        report(f"{name} did not start again: {exc}")
        return
    report(f"{name} restarted")
