"""Assembly of the local stack that ``hybrid-inference up`` runs.

Today the stack is one process: tritonserver over the Python-backend twin of the canonical
repository. The API, the workers and the brokers join here as they come.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hybrid_core.settings import Settings
from local_stack.derive import DEFAULT_NUM_THREADS, DerivedModel, derive_repository, derived_repository_dir
from local_stack.lifecycle import Service
from local_stack.triton_server import LocalTritonServer, TritonPorts
from triton_client.control import ControlKey


class LocalStack(Service):
    """Derive the repository, start every component, stop them in reverse order."""

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
    ) -> None:
        self.settings = settings
        self.repository = repository or settings.model_repository
        self.num_threads = num_threads
        self.derived: list[DerivedModel] = []
        self._models = models
        self.triton = LocalTritonServer(
            derived_repository_dir(settings.state_dir),
            state_dir=settings.state_dir,
            models=[],
            ports=ports or TritonPorts.from_settings(settings),
            host=host,
            start_timeout_s=settings.triton_start_timeout_s,
            die_with_launcher=die_with_launcher,
            # The configured secret when there is one (so a caller can use it), else a fresh one.
            control_key=ControlKey.configured(settings.triton_control_header, settings.triton_control_secret),
        )

    def start(self) -> None:
        """Derive the Python-backend repository and start Triton with all its models loaded."""
        self.derived = derive_repository(
            self.repository, self.triton.repository, models=self._models, num_threads=self.num_threads
        )
        self.triton.models = [model.name for model in self.derived]
        self.triton.start()

    def stop(self) -> None:
        self.triton.stop()

    def wait(self) -> int:
        """Block until a component exits on its own; return its exit code."""
        while True:
            code = self.triton.wait()
            if code is not None:
                return code
            if not self.triton.is_running:
                return 0


