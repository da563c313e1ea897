"""``hybrid-inference bench --sweep``: raw Triton over a grid of dynamic-batching settings.

The job of NVIDIA's Model Analyzer (not installable here), done small: for each point of the
grid (instance count x preferred batch sizes x max queue delay) the benchmark's derived
Python-backend repository gets that ``instance_group`` and ``dynamic_batching`` (through the
protobuf, as everywhere), a fresh tritonserver serves it, and raw gRPC users load it in a
closed loop at each concurrency. The best point is the highest throughput at the highest load
among the points whose p99 stays within the budget at every load.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.loadgen import closed_loop
from benchmarks.prometheus import average_batch_size, parse_metrics
from benchmarks.stats import RunSummary, summarize
from benchmarks.triton_repo import BenchRepository, build_repository
from benchmarks.workloads import Inputs, triton_user
from export_scripts.triton_config import CONFIG_FILENAME, read_model_config, write_model_config
from local_stack.triton_server import LocalTritonServer, TritonPorts
from triton_client import AsyncTritonClient

START_TIMEOUT_S = 180.0
INFER_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class BatchingPoint:
    """One Triton configuration of the grid."""

    instance_count: int
    preferred_batch_sizes: tuple[int, ...]
    max_queue_delay_us: int

    @property
    def label(self) -> str:
        preferred = "/".join(map(str, self.preferred_batch_sizes)) or "none"
        return f"instances={self.instance_count} preferred={preferred} delay_us={self.max_queue_delay_us}"


@dataclass(frozen=True)
class SweepGrid:
    """The grid and the loads; the defaults fit in about 10 minutes on 2 CPU cores."""

    instance_counts: tuple[int, ...] = (1, 2)
    preferred_batch_sizes: tuple[tuple[int, ...], ...] = ((), (16, 32, 64, 128))
    max_queue_delays_us: tuple[int, ...] = (0, 1000, 5000)
    concurrency: tuple[int, ...] = (1, 16, 64)
    duration_s: float = 5.0
    warmup_s: float = 2.0
    """TorchScript specializes on each new batch shape during its first calls: keep them out."""
    p99_budget_ms: float = 250.0
    """A point whose p99 exceeds this at any load is not chosen, however fast."""

    def points(self) -> list[BatchingPoint]:
        return [
            BatchingPoint(count, preferred, delay)
            for count in self.instance_counts
            for preferred in self.preferred_batch_sizes
            for delay in self.max_queue_delays_us
        ]


@dataclass
class LoadLevel:
    """One concurrency against one grid point."""

    concurrency: int
    summary: RunSummary
    triton_avg_batch: float | None
    error_samples: list[str] = field(default_factory=list)


@dataclass
class PointOutcome:
    point: BatchingPoint
    levels: list[LoadLevel]

    def within(self, p99_budget_ms: float) -> bool:
        return all(
            level.summary.errors == 0 and level.summary.p99_ms <= p99_budget_ms for level in self.levels
        )

    @property
    def top_rps(self) -> float:
        return self.levels[-1].summary.rps if self.levels else 0.0


def choose_best(outcomes: Sequence[PointOutcome], p99_budget_ms: float) -> PointOutcome | None:
    """Highest throughput at the highest load among the points within the p99 budget (lowest
    p99 at that load breaks ties); when none is within, the point with the lowest worst p99."""
    within = [o for o in outcomes if o.levels and o.within(p99_budget_ms)]
    if within:
        return max(within, key=lambda o: (o.top_rps, -o.levels[-1].summary.p99_ms))
    measured = [o for o in outcomes if o.levels]
    if not measured:
        return None
    return min(measured, key=lambda o: max(level.summary.p99_ms for level in o.levels))


def apply_point(config_path: Path, point: BatchingPoint) -> None:
    """Give the derived model's ``config.pbtxt`` the instance count and batching of ``point``."""
    config = read_model_config(config_path)
    for group in config.instance_group:
        group.count = point.instance_count
    batching = config.dynamic_batching
    del batching.preferred_batch_size[:]
    batching.preferred_batch_size.extend(point.preferred_batch_sizes)
    batching.max_queue_delay_microseconds = point.max_queue_delay_us
    write_model_config(config_path, config)


async def _scrape(url: str) -> str:
    async with httpx.AsyncClient(timeout=5) as http:
        answer = await http.get(url)
        answer.raise_for_status()
        return answer.text


async def _load(server: LocalTritonServer, model: str, inputs: Inputs, grid: SweepGrid) -> list[LoadLevel]:
    levels = []
    async with AsyncTritonClient(server.grpc_url, infer_timeout_s=INFER_TIMEOUT_S) as client:
        for concurrency in grid.concurrency:
            before: dict[str, str] = {}

            async def snapshot(store: dict[str, str] = before) -> None:
                store["text"] = await _scrape(server.metrics_url)

            users = [triton_user(client, model, inputs) for _ in range(concurrency)]
            result = await closed_loop(
                users, duration_s=grid.duration_s, warmup_s=grid.warmup_s, on_measure_start=snapshot
            )
            after = await _scrape(server.metrics_url)
            average = average_batch_size(parse_metrics(before.get("text", "")), parse_metrics(after), model)
            summary = summarize(
                result.latencies_s, errors=result.errors, elapsed_s=result.elapsed_s, series_per_request=1
            )
            levels.append(LoadLevel(concurrency, summary, average, result.error_samples))
    return levels


def run_sweep(
    canonical: Path,
    state_dir: Path,
    *,
    model: str,
    version: str,
    inputs: Inputs,
    grid: SweepGrid,
    triton_threads: int = 1,
    device: str = "cpu",
    on_point: Callable[[PointOutcome], None] | None = None,
) -> list[PointOutcome]:
    """Measure every point of ``grid``, each on a fresh tritonserver, and return them in order."""
    repository: BenchRepository = build_repository(
        canonical,
        state_dir / "triton" / "repository",
        model=model,
        version=version,
        num_threads=triton_threads,
        device=device,
    )
    config_path = repository.path / repository.batched / CONFIG_FILENAME
    outcomes = []
    for point in grid.points():
        apply_point(config_path, point)
        server = LocalTritonServer(
            repository.path,
            state_dir=state_dir,
            models=[repository.batched],
            ports=TritonPorts.free(),
            start_timeout_s=START_TIMEOUT_S,
        )
        with server:
            levels = asyncio.run(_load(server, repository.batched, inputs, grid))
        outcome = PointOutcome(point, levels)
        outcomes.append(outcome)
        if on_point is not None:
            on_point(outcome)
    return outcomes


def finite(value: float | None) -> float | None:
    """JSON has no NaN: None instead."""
    return value if value is not None and math.isfinite(value) else None
