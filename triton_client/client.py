"""A thin, typed, thread-safe client over ``tritonclient.grpc``.

One gRPC channel per ``TritonClient``; gRPC channels are thread-safe, so one
client serves every thread of a process. Create it after a worker process forks
(a channel created before ``fork()`` hangs in the child).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import tritonclient.grpc as grpcclient
from tritonclient.grpc import model_config_pb2

from hybrid_core.errors import HybridError
from triton_client.codec import InferenceOutput, decode_result, encode_inputs
from triton_client.control import ControlKey
from triton_client.errors import triton_errors

DEFAULT_INFER_TIMEOUT_S = 10.0
DEFAULT_CONTROL_TIMEOUT_S = 5.0
DEFAULT_LOAD_TIMEOUT_S = 120.0
# gRPC caps messages at 4 MiB by default; a bulk batch of long series is larger.
GRPC_CHANNEL_ARGS: list[tuple[str, Any]] = [
    ("grpc.max_send_message_length", 256 * 1024 * 1024),
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    # After a replica went away gRPC waits up to 120 s between reconnects by default; a replica
    # that is back must be usable within seconds (the pool probes it every second).
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]


@dataclass(frozen=True)
class RepositoryEntry:
    """One row of Triton's repository index."""

    name: str
    version: str
    state: str
    reason: str


class TritonClient:
    """Inference, readiness, model configuration and model control over gRPC.

    ``control_key`` goes with every model-repository call (index, load, unload): a Triton that
    restricts that protocol refuses those calls without it (``TritonUnavailable``).
    """

    def __init__(
        self,
        url: str,
        *,
        infer_timeout_s: float = DEFAULT_INFER_TIMEOUT_S,
        control_timeout_s: float = DEFAULT_CONTROL_TIMEOUT_S,
        load_timeout_s: float = DEFAULT_LOAD_TIMEOUT_S,
        control_key: ControlKey | None = None,
    ) -> None:
        self.url = url
        self.infer_timeout_s = infer_timeout_s
        self.control_timeout_s = control_timeout_s
        self.load_timeout_s = load_timeout_s
        self._control_headers = control_key.grpc_headers() if control_key is not None else None
        self._client = grpcclient.InferenceServerClient(url, channel_args=GRPC_CHANNEL_ARGS)
        self._config_cache: dict[str, model_config_pb2.ModelConfig] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the channel; later calls fail."""
        self._client.close()

    def __enter__(self) -> TritonClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def infer(
        self,
        model: str,
        batch: npt.NDArray[np.float32],
        *,
        version: str | None = None,
        input_name: str = "INPUT__0",
        output_name: str = "OUTPUT__0",
        timeout_s: float | None = None,
    ) -> InferenceOutput:
        """Run ``batch`` through ``model`` (pinned to ``version`` if given)."""
        inputs, outputs = encode_inputs(input_name, output_name, batch)
        with triton_errors():
            result = self._client.infer(
                model,
                inputs,
                model_version=version or "",
                outputs=outputs,
                client_timeout=timeout_s or self.infer_timeout_s,
            )
        return decode_result(result, output_name)

    def is_server_ready(self, *, timeout_s: float | None = None) -> bool:
        """True when Triton answers and says it is ready; False when it cannot be reached."""
        try:
            with triton_errors():
                return bool(self._client.is_server_ready(client_timeout=timeout_s or self.control_timeout_s))
        except HybridError:  # readiness probes answer, they do not raise
            return False

    def is_server_live(self, *, timeout_s: float | None = None) -> bool:
        """True when Triton answers and says it is live; False when it cannot be reached."""
        try:
            with triton_errors():
                return bool(self._client.is_server_live(client_timeout=timeout_s or self.control_timeout_s))
        except HybridError:
            return False

    def is_model_ready(self, model: str, version: str | None = None) -> bool:
        """True when ``model`` (``version``) is loaded and ready; False otherwise or if unreachable."""
        try:
            with triton_errors():
                return bool(
                    self._client.is_model_ready(
                        model, model_version=version or "", client_timeout=self.control_timeout_s
                    )
                )
        except HybridError:
            return False

    def model_config(self, model: str, *, refresh: bool = False) -> model_config_pb2.ModelConfig:
        """The model's configuration as Triton loaded it (cached until ``refresh``)."""
        with self._lock:
            cached = self._config_cache.get(model)
        if cached is not None and not refresh:
            return cached
        with triton_errors():
            response = self._client.get_model_config(model, client_timeout=self.control_timeout_s)
        config: model_config_pb2.ModelConfig = response.config
        with self._lock:
            self._config_cache[model] = config
        return config

    def repository_index(self) -> list[RepositoryEntry]:
        """Every model version Triton knows of, with its state (READY, UNAVAILABLE, ...)."""
        with triton_errors():
            response = self._client.get_model_repository_index(
                headers=self._control_headers, client_timeout=self.control_timeout_s
            )
        return [
            RepositoryEntry(name=m.name, version=m.version, state=m.state, reason=m.reason)
            for m in response.models
        ]

    def ready_versions(self, model: str) -> list[str]:
        """Versions of ``model`` that are READY, oldest first."""
        ready = [e.version for e in self.repository_index() if e.name == model and e.state == "READY"]
        return sorted(ready, key=lambda v: int(v) if v.isdigit() else -1)

    def load_model(self, model: str, *, config: Mapping[str, Any] | None = None) -> None:
        """Load or reload ``model``; ``config`` overrides its config.pbtxt (explicit mode)."""
        with triton_errors():
            self._client.load_model(
                model,
                config=json.dumps(config) if config is not None else None,
                headers=self._control_headers,
                client_timeout=self.load_timeout_s,
            )
        with self._lock:
            self._config_cache.pop(model, None)

    def unload_model(self, model: str) -> None:
        """Unload ``model``; Triton lets in-flight requests finish first."""
        with triton_errors():
            self._client.unload_model(
                model, headers=self._control_headers, client_timeout=self.load_timeout_s
            )
        with self._lock:
            self._config_cache.pop(model, None)

    def inference_statistics(self, model: str = "") -> dict[str, Any]:
        """Triton's per-model inference statistics as a dict (request and execution counts)."""
        with triton_errors():
            stats = self._client.get_inference_statistics(
                model, as_json=True, client_timeout=self.control_timeout_s
            )
        result: dict[str, Any] = stats
        return result
