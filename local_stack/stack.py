"""Assembly of the local Triton pool that ``hybrid-inference triton`` and ``up`` run.

One or more tritonserver processes (replicas) over the one Python-backend twin of the
canonical repository, sharing one control key: replica k listens on the configured ports
plus 10k (``TritonPorts.replica``), keeps its log under ``<state_dir>/triton`` (k = 0) or
``<state_dir>/triton-<k>``. A version the rollout controller links into the twin is there
for every replica at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hybrid_core.settings import Settings
from local_stack.derive import DEFAULT_NUM_THREADS, DerivedModel, derive_repository, derived_repository_dir
from local_stack.lifecycle import Service
from local_stack.triton_server import LocalTritonServer, TritonPorts, otlp_http_traces_url
from triton_client.control import ControlKey


def replica_name(index: int) -> str:
    """The work folder of replica ``index`` under the state dir (replica 0 keeps the old name)."""
    return "triton" if index == 0 else f"triton-{index}"


class LocalStack(Service):
    """Derive the repository, start every Triton replica, stop them in reverse order."""

    def __init__(
        self,
        settings: Settings,
        *,
        repository: Path | None = None,
        models: Sequence[str] | None = None,
        ports: TritonPorts | None = None,
        host: str = "127.0.0.1",
        num_threads: int = DEFAULT_NUM_THREADS,
        die_with_launcher: bool = False,
        replicas: int = 1,
    ) -> None:
        if replicas < 1:
            raise ValueError("the local stack needs at least one Triton replica")
        self.settings = settings
        self.repository = repository or settings.model_repository
        self.num_threads = num_threads
        self.derived: list[DerivedModel] = []
        self._models = models
        base = ports or TritonPorts.from_settings(settings)
        # The configured secret when there is one (so a caller can use it), else a fresh one;
        # one key for every replica, since the API sends the same header to all of them.
        key = ControlKey.configured(settings.triton_control_header, settings.triton_control_secret)
        key = key or ControlKey.generate(settings.triton_control_header)
        self.tritons = [
            LocalTritonServer(
                derived_repository_dir(settings.state_dir),
                state_dir=settings.state_dir,
                models=[],
                ports=base.replica(index),
                host=host,
                start_timeout_s=settings.triton_start_timeout_s,
                die_with_launcher=die_with_launcher,
                control_key=key,
                name=replica_name(index),
                otlp_traces_url=otlp_http_traces_url(settings.otlp_endpoint),
            )
            for index in range(replicas)
        ]

    @property
    def triton(self) -> LocalTritonServer:
        """Replica 0 (the only one unless ``replicas`` > 1)."""
        return self.tritons[0]

    @property
    def grpc_urls(self) -> list[str]:
        return [server.grpc_url for server in self.tritons]

    def start(self) -> None:
        """Derive the Python-backend repository and start every replica with all its models loaded."""
        self.derived = derive_repository(
            self.repository, self.triton.repository, models=self._models, num_threads=self.num_threads
        )
        for server in self.tritons:
            server.models = [model.name for model in self.derived]
            server.start()

    def stop(self) -> None:
        for server in reversed(self.tritons):
            server.stop()

    def wait(self) -> int:
        """Block until a replica exits on its own; return its exit code."""
        while True:
            for server in self.tritons:
                code = server.wait(timeout_s=0.5 if len(self.tritons) > 1 else None)
                if code is not None:
                    return code
                if not server.is_running:
                    return 0
