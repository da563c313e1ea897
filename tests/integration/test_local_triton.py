"""The pytriton wheel's real tritonserver serving a derived repository of tiny models."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import torch
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from export_scripts.triton_config import Platform, TritonModelSpec, build_model_config
from hybrid_core.version_params import INPUT_NAME, OUTPUT_NAME
from local_stack.derive import derive_repository
from local_stack.errors import TritonStartError
from local_stack.testing import running_triton, write_canonical_config
from local_stack.triton_server import LocalTritonServer, TritonPorts

pytestmark = pytest.mark.integration

HORIZON = 24
FloatArray = npt.NDArray[np.float32]
SCALES = {"1": 1.0, "2": 3.0}
"""Version -> the toy model's scale, so the two versions answer differently."""


class Toy(torch.nn.Module):
    """``mean(x) * scale + ramp``: batch-independent rows, any window length."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale
        self.ramp = torch.nn.Parameter(torch.linspace(0.0, 1.0, HORIZON))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=1, keepdim=True) * self.scale + self.ramp


@dataclass
class Served:
    server: LocalTritonServer
    client: grpcclient.InferenceServerClient
    eager: dict[tuple[str, str], Toy]


def _write_toy_repository(root: Path) -> tuple[Path, dict[tuple[str, str], Toy]]:
    """Canonical layout: ``toy`` (TorchScript) and ``toy_onnx`` (ONNX), versions 1 and 2."""
    repository = root / "canonical"
    eager: dict[tuple[str, str], Toy] = {}
    models: tuple[tuple[str, Platform], ...] = (("toy", "pytorch_libtorch"), ("toy_onnx", "onnxruntime_onnx"))
    for name, platform in models:
        spec = TritonModelSpec(name, platform, versions=(1, 2), horizon=HORIZON)
        model_dir = write_canonical_config(repository, build_model_config(spec))
        for version, scale in SCALES.items():
            module = Toy(scale).eval()
            eager[name, version] = module
            version_dir = model_dir / version
            version_dir.mkdir()
            (version_dir / "params.json").write_text("{}\n")
            if platform == "pytorch_libtorch":
                torch.jit.script(module).save(str(version_dir / "model.pt"))  # type: ignore[no-untyped-call]
            else:
                torch.onnx.export(
                    module,
                    (torch.ones(2, 5),),
                    str(version_dir / "model.onnx"),
                    input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME],
                    dynamic_axes={INPUT_NAME: {0: "batch", 1: "window"}, OUTPUT_NAME: {0: "batch"}},
                    dynamo=False,
                )
    return repository, eager


@pytest.fixture(scope="module")
def toy_repository(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[tuple[str, str], Toy]]:
    return _write_toy_repository(tmp_path_factory.mktemp("toy"))


@pytest.fixture(scope="module")
def served(
    toy_repository: tuple[Path, dict[tuple[str, str], Toy]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    repository, eager = toy_repository
    with (
        running_triton(repository, tmp_path_factory.mktemp("state")) as server,
        contextlib.closing(grpcclient.InferenceServerClient(server.grpc_url)) as client,
    ):
        yield Served(server, client, eager)


def _infer(
    client: grpcclient.InferenceServerClient, model: str, x: FloatArray, version: str = ""
) -> FloatArray:
    tensor = grpcclient.InferInput(INPUT_NAME, list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    result: FloatArray = client.infer(model, [tensor], model_version=version).as_numpy(OUTPUT_NAME)
    return result


def _eager(module: Toy, x: FloatArray) -> FloatArray:
    with torch.no_grad():
        result: FloatArray = module(torch.from_numpy(x)).numpy()
    return result


def _group_members(pgid: int) -> list[int]:
    """Live processes of process group ``pgid`` (tritonserver and its backend stubs)."""
    members = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError):
            # /proc/<pid>/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces.
            state, _, pgrp = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:3]
            if int(pgrp) == pgid and state != "Z":  # zombies wait for init to reap them
                members.append(int(entry.name))
    return members


def test_server_reports_every_version_ready_when_started(served: Served) -> None:
    assert served.server.ready_models() == {"toy": ["1", "2"], "toy_onnx": ["1", "2"]}
    for model in ("toy", "toy_onnx"):
        for version in SCALES:
            assert served.client.is_model_ready(model, version)


@pytest.mark.parametrize("model", ["toy", "toy_onnx"])
@pytest.mark.parametrize("version", sorted(SCALES))
def test_infer_returns_the_versions_eager_output_when_version_pinned(
    served: Served, model: str, version: str
) -> None:
    x = np.random.default_rng(int(version)).normal(size=(3, 16)).astype(np.float32)

    got = _infer(served.client, model, x, version)

    assert got.shape == (3, HORIZON)
    np.testing.assert_allclose(got, _eager(served.eager[model, version], x), atol=1e-4, rtol=0)


def test_concurrent_requests_share_executions_when_dynamic_batching(served: Served) -> None:
    def counts() -> tuple[int, int, int]:
        stats = served.client.get_inference_statistics("toy", "1").model_stats[0]
        # inference_count counts rows (batch elements); requests are the successful ones
        return stats.inference_stats.success.count, stats.inference_count, stats.execution_count

    before = counts()
    rng = np.random.default_rng(7)
    # One window length, as a model version's clients send: Triton's dynamic batcher cuts a batch
    # at the first request whose shape differs. Rows vary, so the split back per request is checked.
    inputs = [rng.normal(size=(1 + i % 3, 12)).astype(np.float32) for i in range(64)]
    with ThreadPoolExecutor(max_workers=64) as pool:
        outputs = list(pool.map(lambda x: _infer(served.client, "toy", x, "1"), inputs))
    requests, rows, executions = (after - start for after, start in zip(counts(), before, strict=True))

    for x, got in zip(inputs, outputs, strict=True):
        np.testing.assert_allclose(got, _eager(served.eager["toy", "1"], x), atol=1e-4, rtol=0)
    assert (requests, rows) == (64, sum(x.shape[0] for x in inputs))
    assert executions < requests


def test_metrics_port_exposes_inference_counters_when_model_served(served: Served) -> None:
    _infer(served.client, "toy", np.ones((1, 4), np.float32), "2")

    with urllib.request.urlopen(served.server.metrics_url, timeout=5) as response:
        text = response.read().decode()

    match = re.search(r'^nv_inference_exec_count\{model="toy",version="2"\} (\d+)', text, re.MULTILINE)
    assert match is not None and int(match.group(1)) >= 1


def test_infer_fails_with_invalid_argument_when_input_has_nan(served: Served) -> None:
    with pytest.raises(InferenceServerException) as failure:
        _infer(served.client, "toy", np.full((1, 4), np.nan, np.float32))

    assert failure.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert _infer(served.client, "toy", np.ones((1, 4), np.float32)).shape == (1, HORIZON)


def test_stop_leaves_no_process_when_server_restarted_or_crashed(
    toy_repository: tuple[Path, dict[tuple[str, str], Toy]], tmp_path: Path
) -> None:
    repository, _ = toy_repository
    with running_triton(repository, tmp_path, models=["toy"]) as server:
        first_pid = server.pid
        assert first_pid is not None
        server.start()  # already running: no-op
        assert server.pid == first_pid
        _assert_serves(server)
        server.restart()  # SIGTERM path; same ports right after serving (sockets in TIME_WAIT)
        assert _group_members(first_pid) == []
        pgid = server.pid
        assert pgid is not None and pgid != first_pid
        assert len(_group_members(pgid)) == 1 + 2 * 2  # tritonserver + a stub per version and instance
        _assert_serves(server)

        os.kill(pgid, signal.SIGKILL)  # a crash orphans the stubs
        server.stop()
        server.stop()

        assert not server.is_running
        assert _group_members(pgid) == []
        with pytest.raises(InferenceServerException):
            grpcclient.InferenceServerClient(server.grpc_url).is_server_ready(client_timeout=2)


def _assert_serves(server: LocalTritonServer) -> None:
    with contextlib.closing(grpcclient.InferenceServerClient(server.grpc_url)) as client:
        assert _infer(client, "toy", np.ones((2, 6), np.float32)).shape == (2, HORIZON)


def test_start_fails_fast_with_log_tail_when_artifact_is_corrupt(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    spec = TritonModelSpec("toy", "pytorch_libtorch", versions=(1,), horizon=HORIZON)
    model_dir = write_canonical_config(broken, build_model_config(spec))
    (model_dir / "1").mkdir()
    (model_dir / "1" / "model.pt").write_bytes(b"not a TorchScript archive")
    derive_repository(broken, tmp_path / "derived")
    server = LocalTritonServer(tmp_path / "derived", state_dir=tmp_path, ports=TritonPorts.free())

    with pytest.raises(TritonStartError, match="exited with code 1") as failure:
        server.start()

    assert "failed to load 'toy' version 1" in failure.value.log_tail
    assert not server.is_running


def test_start_raises_without_launching_when_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        ports = TritonPorts.free()
        server = LocalTritonServer(
            tmp_path, state_dir=tmp_path, models=[], ports=TritonPorts(ports.http, busy, ports.metrics)
        )

        with pytest.raises(TritonStartError, match=f"port {busy}"):
            server.start()

    assert server.pid is None
