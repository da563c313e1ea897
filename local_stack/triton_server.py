"""Run the pytriton wheel's tritonserver as a child process, gated on readiness."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from hybrid_core.settings import Settings
from hybrid_core.version_params import repository_models
from local_stack.errors import TritonStartError
from local_stack.installation import TritonInstallation, find_installation, prepare_backend_directory
from local_stack.lifecycle import Service
from triton_client.control import ControlKey

POLL_INTERVAL_S = 0.1
"""Pause between two readiness probes (a wait on the process, so an early exit ends it)."""
PROBE_TIMEOUT_S = 2.0
DEFAULT_STOP_TIMEOUT_S = 20.0
EXIT_TIMEOUT_S = 10
"""How long tritonserver lets in-flight requests finish after SIGTERM (its default is 30 s)."""
LOG_TAIL_LINES = 40
GROUP_EXIT_TIMEOUT_S = 5.0
_SHM_DIR = Path("/dev/shm")
REPLICA_PORT_STEP = 10
"""Replica k of the local pool listens on HTTP 8000+10k, gRPC 8001+10k, metrics 8002+10k."""


def find_free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (another process may still take it later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class TritonPorts:
    """The three listening ports of one tritonserver."""

    http: int = 8000
    grpc: int = 8001
    metrics: int = 8002

    @classmethod
    def from_settings(cls, settings: Settings) -> TritonPorts:
        return cls(settings.triton_http_port, settings.triton_grpc_port, settings.triton_metrics_port)

    def replica(self, index: int) -> TritonPorts:
        """The ports of replica ``index`` of a pool whose replica 0 has these: each +10 per replica."""
        step = REPLICA_PORT_STEP * index
        return TritonPorts(self.http + step, self.grpc + step, self.metrics + step)

    @classmethod
    def free(cls, host: str = "127.0.0.1") -> TritonPorts:
        """Three distinct free ports (held together while chosen, so they cannot coincide)."""
        with contextlib.ExitStack() as stack:
            ports = []
            for _ in range(3):
                probe = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                probe.bind((host, 0))
                ports.append(probe.getsockname()[1])
        return cls(*ports)


class LocalTritonServer(Service):
    """tritonserver over a Python-backend repository, in explicit model-control mode.

    ``start()`` returns once the server and every model are ready, or raises
    ``TritonStartError`` with the log tail. ``start``, ``stop`` and ``restart`` are idempotent.
    The model-repository, shared-memory, logging and trace protocols need ``control_key``
    (generated when not given, and kept across restarts so its clients stay valid).
    """

    def __init__(
        self,
        repository: Path,
        *,
        state_dir: Path,
        models: Sequence[str] | None = None,
        ports: TritonPorts | None = None,
        host: str = "127.0.0.1",
        start_timeout_s: float = 120.0,
        stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S,
        installation: TritonInstallation | None = None,
        die_with_launcher: bool = False,
        control_key: ControlKey | None = None,
        name: str = "triton",
        otlp_traces_url: str | None = None,
        trace_rate: int = 1,
    ) -> None:
        self.repository = repository.resolve()
        self.name = name
        self.control_key = control_key or ControlKey.generate()
        # SIGTERM tritonserver when the thread that started it dies, so a launcher killed with
        # SIGKILL leaves no orphan holding the ports. Only for a launcher that starts it from its
        # main thread: the kernel ties the signal to the starting thread, not the process.
        self.die_with_launcher = die_with_launcher
        self.models = list(models) if models is not None else repository_models(self.repository)
        self.ports = ports or TritonPorts()
        self.host = host
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        # Its own folder (log, backends) per server; replicas share the repository and the key.
        self.work_dir = state_dir / name
        self.log_path = self.work_dir / "tritonserver.log"
        self._installation = installation
        # Triton's own OpenTelemetry spans (OTLP/HTTP), children of the callers' gRPC traceparent.
        self.trace_args = opentelemetry_trace_args(otlp_traces_url, trace_rate) if otlp_traces_url else []
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        self._shm_prefix = ""
        self._server_id = ""

    @property
    def grpc_url(self) -> str:
        return f"{self.host}:{self.ports.grpc}"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.ports.http}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.host}:{self.ports.metrics}/metrics"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Launch tritonserver and wait until it and every model are ready."""
        if self.is_running:
            return
        self.stop()  # reap a process that died on its own
        self._check_ports_free()
        installation = self._installation or find_installation()
        backend_dir = prepare_backend_directory(installation, self.work_dir / "backends")
        # Python-backend shared-memory regions are named by this prefix; two servers on one
        # machine with the same prefix collide, and a killed server leaves them in /dev/shm.
        token = uuid.uuid4().hex[:12]
        self._shm_prefix = f"hybrid_{token}_"
        # A unique --id lets the readiness probe tell this server from another one that
        # answers on the same port.
        self._server_id = f"hybrid-local-{token}"
        command = [
            *self._parent_death_prefix(),
            str(installation.binary),
            f"--id={self._server_id}",
            f"--model-repository={self.repository}",
            f"--backend-directory={backend_dir}",
            f"--backend-config=python,shm-region-prefix-name={self._shm_prefix}",
            "--model-control-mode=explicit",
            *(f"--load-model={model}" for model in self.models),
            f"--http-address={self.host}",
            f"--http-port={self.ports.http}",
            f"--grpc-address={self.host}",
            f"--grpc-port={self.ports.grpc}",
            f"--metrics-address={self.host}",
            f"--metrics-port={self.ports.metrics}",
            "--allow-metrics=true",
            "--allow-gpu-metrics=false",
            f"--exit-timeout-secs={EXIT_TIMEOUT_S}",
            *self.control_key.server_args(),
            *self.trace_args,
        ]
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._log_offset = log.tell()
            # Own session: Ctrl-C in a terminal reaches only us, and stop() can sweep the whole
            # group (the backend stubs are children of tritonserver).
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=installation.environment(),
                start_new_session=True,
            )
        try:
            self._wait_until_ready(time.monotonic() + self.start_timeout_s)
        except BaseException:
            self.stop()
            raise

    def _parent_death_prefix(self) -> list[str]:
        # setpriv (util-linux) sets PR_SET_PDEATHSIG and execs tritonserver, which keeps it.
        setpriv = shutil.which("setpriv")
        if not self.die_with_launcher or setpriv is None:
            return []
        return [setpriv, "--pdeathsig", "TERM"]

    def stop(self) -> None:
        """SIGTERM, wait ``stop_timeout_s``, then SIGKILL whatever is left of the process group."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                _kill_group(process.pid)
                process.wait()
        _kill_group(process.pid)  # stubs orphaned by a crash or a SIGKILL
        if self._shm_prefix:  # never an empty pattern: that would match every region
            for region in _SHM_DIR.glob(f"{self._shm_prefix}*"):
                region.unlink(missing_ok=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    def wait(self, timeout_s: float | None = None) -> int | None:
        """Block until tritonserver exits (its exit code) or ``timeout_s`` passes (None)."""
        process = self._process
        if process is None:
            return None
        try:
            return process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last ``lines`` log lines (tables left out) this server wrote since its latest start."""
        if not self.log_path.is_file():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            text = log.read().decode(errors="replace")
        # Skip the ASCII tables (options, backends, models) Triton prints at every start.
        kept = [line for line in text.splitlines() if line.strip() and not line.startswith(("|", "+"))]
        return "\n".join(kept[-lines:])

    def ready_models(self) -> dict[str, list[str]]:
        """Versions in state READY, per model, as the repository index reports them."""
        with contextlib.closing(grpcclient.InferenceServerClient(self.grpc_url)) as client:
            index = client.get_model_repository_index(
                headers=self.control_key.grpc_headers(), client_timeout=PROBE_TIMEOUT_S
            )
        ready: dict[str, list[str]] = {}
        for entry in index.models:
            if entry.state == "READY":
                ready.setdefault(entry.name, []).append(entry.version)
        return {name: sorted(versions, key=int) for name, versions in sorted(ready.items())}

    def control_env(self) -> dict[str, str]:
        """The ``HYBRID_*`` variables of a process that loads and unloads models here (the API)."""
        return {
            "HYBRID_TRITON_CONTROL_HEADER": self.control_key.header,
            "HYBRID_TRITON_CONTROL_SECRET": self.control_key.secret,
        }

    def _wait_until_ready(self, deadline: float) -> None:
        process = self._process
        assert process is not None
        with contextlib.closing(grpcclient.InferenceServerClient(self.grpc_url)) as client:
            while True:
                if process.poll() is not None:
                    raise TritonStartError(
                        f"tritonserver exited with code {process.returncode} before it was ready "
                        f"(log: {self.log_path})",
                        log_tail=self.log_tail(),
                    )
                if self._probe(client):
                    return
                remaining_s = deadline - time.monotonic()
                if remaining_s <= 0:
                    raise TritonStartError(
                        f"tritonserver not ready after {self.start_timeout_s:.0f} s (log: {self.log_path})",
                        log_tail=self.log_tail(),
                    )
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=min(POLL_INTERVAL_S, remaining_s))

    def _probe(self, client: grpcclient.InferenceServerClient) -> bool:
        try:
            if not client.is_server_ready(client_timeout=PROBE_TIMEOUT_S):
                return False
            if client.get_server_metadata(client_timeout=PROBE_TIMEOUT_S).name != self._server_id:
                return False
            return all(client.is_model_ready(model, client_timeout=PROBE_TIMEOUT_S) for model in self.models)
        except InferenceServerException:  # not listening yet: the gRPC port opens after the loads
            return False

    def _check_ports_free(self) -> None:
        # tritonserver binds its ports only after loading every model, so a taken port would
        # otherwise surface late (or a stale server on it would answer our probes).
        for port in (self.ports.http, self.ports.grpc, self.ports.metrics):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                # As tritonserver does: connections of a just-stopped server in TIME_WAIT must
                # not count, only a listener.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((self.host, port))
                except OSError as exc:
                    raise TritonStartError(f"port {port} on {self.host} is in use: {exc}") from exc


OTLP_GRPC_PORT = 4317
OTLP_HTTP_PORT = 4318
"""The OTLP standard ports (a collector's default receivers): gRPC, and HTTP on the same host."""


def otlp_http_traces_url(otlp_grpc_endpoint: str | None) -> str | None:
    """Where Triton (OTLP/HTTP only) sends its spans, beside the OTLP/gRPC ``HYBRID_OTLP_ENDPOINT``:
    the same collector's HTTP receiver, when the endpoint is on the standard gRPC port; else None."""
    if not otlp_grpc_endpoint:
        return None
    url = urlsplit(otlp_grpc_endpoint if "://" in otlp_grpc_endpoint else f"http://{otlp_grpc_endpoint}")
    if url.port != OTLP_GRPC_PORT or not url.hostname:
        return None
    host = f"[{url.hostname}]" if ":" in url.hostname else url.hostname
    return f"{url.scheme}://{host}:{OTLP_HTTP_PORT}/v1/traces"


def opentelemetry_trace_args(otlp_traces_url: str, rate: int = 1, service_name: str = "triton") -> list[str]:
    """tritonserver flags that export a span per traced request to ``otlp_traces_url`` (OTLP/HTTP,
    e.g. ``http://collector:4318/v1/traces``), one request in ``rate``; a request whose gRPC
    metadata carries ``traceparent`` gets a span in the caller's trace."""
    return [
        "--trace-config=mode=opentelemetry",
        "--trace-config=level=TIMESTAMPS",
        f"--trace-config=rate={rate}",
        # -1: no limit on the number of traced requests (the default of the count setting).
        "--trace-config=count=-1",
        f"--trace-config=opentelemetry,url={otlp_traces_url}",
        f"--trace-config=opentelemetry,resource=service.name={service_name}",
    ]


def _kill_group(pgid: int) -> None:
    """SIGKILL the process group and wait (bounded) until none of it runs any more."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
    # SIGKILL lands asynchronously, and orphaned stubs belong to init, so there is no wait()
    # for them: watch /proc until the group holds only zombies.
    deadline = time.monotonic() + GROUP_EXIT_TIMEOUT_S
    while _live_group_members(pgid) and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL_S / 2)


def _live_group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            # /proc/<pid>/stat is "pid (comm) state ppid pgrp ..."; comm may hold spaces.
            state, _, group = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:3]
            if int(group) == pgid and state not in ("Z", "X"):
                members.append(int(entry.name))
    return members
