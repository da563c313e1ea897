"""Run a benchmark plan against a started ``BenchStack``: every configuration, point by point."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlparse

from benchmarks.environment import BenchStack, WorkerKind
from benchmarks.http_client import HttpConnection
from benchmarks.job_stages import job_stages
from benchmarks.loadgen import Request, closed_loop, timed
from benchmarks.meter import Meter, Reading
from benchmarks.progress import Progress
from benchmarks.stats import RunSummary, summarize
from benchmarks.workloads import (
    Inputs,
    bulk_job,
    bulk_request,
    bulk_rows,
    bulk_triton,
    job_user,
    sync_user,
    triton_user,
)
from triton_client import AsyncTritonClient

BULK_CONFIGS = ("hybrid", "triton")
BULK_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class ConfigSpec:
    """How a configuration is served: which worker runs, which Triton model answers."""

    name: str
    description: str
    worker: WorkerKind | None = None
    unbatched: bool = False
    uses_triton: bool = True


SPECS: dict[str, ConfigSpec] = {
    spec.name: spec
    for spec in (
        ConfigSpec(
            "seed",
            "the seed, done well: REST (FastAPI) -> Celery prefork worker, TorchScript in-process, "
            "results in Celery's Redis backend",
            "seed",
            uses_triton=False,
        ),
        ConfigSpec(
            "baseline", "REST -> Celery prefork worker, TorchScript in-process", "baseline", uses_triton=False
        ),
        ConfigSpec("hybrid", "REST -> Celery thin worker (threads) -> Triton, dynamic batching", "thin"),
        ConfigSpec("sync", "REST -> Triton from the API process (aio gRPC)"),
        ConfigSpec("triton", "raw gRPC client -> Triton, dynamic batching"),
        ConfigSpec("triton-nobatch", "raw gRPC client -> Triton, no dynamic batching", unbatched=True),
    )
}
CONFIG_NAMES = tuple(SPECS)


@dataclass(frozen=True)
class Plan:
    """Which configuration runs at which concurrencies, for how long, and the bulk workload."""

    points: list[tuple[str, list[int]]]
    duration_s: float
    warmup_s: float
    bulk_series: int
    bulk_batch_size: int
    bulk_concurrency: int


@dataclass
class PointResult:
    config: str
    concurrency: int
    summary: RunSummary
    reading: Reading
    error_samples: list[str] = field(default_factory=list)


@dataclass
class BulkResult:
    config: str
    series: int
    elapsed_s: float
    series_per_s: float
    reading: Reading
    stages_s: dict[str, float] = field(default_factory=dict)
    """The product path's stages (hybrid only), see ``benchmarks.job_stages``."""


@dataclass
class Outcome:
    points: list[PointResult] = field(default_factory=list)
    bulk: list[BulkResult] = field(default_factory=list)


class Runner:
    """Drives the plan, one run after the other, reporting to ``progress``."""

    def __init__(self, stack: BenchStack, inputs: Inputs, plan: Plan, progress: Progress) -> None:
        assert stack.triton is not None and stack.repository is not None
        self.stack = stack
        self.inputs = inputs
        self.plan = plan
        self.progress = progress
        self.metrics_url = stack.triton.metrics_url
        self.grpc_url = stack.triton.grpc_url

    def _jobs_address(self) -> tuple[str, int]:
        """Host and port of the HTTP API the current configuration is served by."""
        url = urlparse(self.stack.jobs_url)
        return url.hostname or "127.0.0.1", url.port or 80

    def _model(self, spec: ConfigSpec) -> str:
        assert self.stack.repository is not None
        return self.stack.repository.unbatched if spec.unbatched else self.stack.repository.batched

    def _meter(self, spec: ConfigSpec) -> Meter:
        return Meter(
            self.stack.process_roots,
            self.metrics_url,
            self._model(spec) if spec.uses_triton else None,
            database_name=self.stack.postgres_database,
        )

    async def run(self) -> Outcome:
        outcome = Outcome()
        async with AsyncTritonClient(self.grpc_url, infer_timeout_s=BULK_TIMEOUT_S) as triton:
            for name, concurrencies in self.plan.points:
                spec = SPECS[name]
                self.progress.note(f"{name}: starting its worker" if spec.worker else name)
                await asyncio.to_thread(self._prepare, spec)
                for concurrency in concurrencies:
                    outcome.points.append(await self._point(spec, concurrency, triton))
                    self.progress.run_done()
                if self.plan.bulk_series and name in BULK_CONFIGS:
                    outcome.bulk.append(await self._bulk(spec, triton))
                    self.progress.run_done()
        await asyncio.to_thread(self.stack.stop_worker)
        return outcome

    def _prepare(self, spec: ConfigSpec) -> None:
        if spec.worker is None:
            self.stack.stop_worker()
        else:
            self.stack.start_worker(spec.worker)

    @contextlib.asynccontextmanager
    async def _users(
        self, spec: ConfigSpec, concurrency: int, triton: AsyncTritonClient
    ) -> AsyncIterator[list[Request]]:
        if spec.name in ("triton", "triton-nobatch"):
            yield [triton_user(triton, self._model(spec), self.inputs) for _ in range(concurrency)]
            return
        host, port = self._jobs_address()
        connections = [HttpConnection(host, port) for _ in range(concurrency)]
        make = sync_user if spec.name == "sync" else job_user
        try:
            yield [make(connection, self.inputs) for connection in connections]
        finally:
            await asyncio.gather(*(c.close() for c in connections))

    async def _point(self, spec: ConfigSpec, concurrency: int, triton: AsyncTritonClient) -> PointResult:
        meter = self._meter(spec)
        label = f"{spec.name} c={concurrency}"
        async with self._users(spec, concurrency, triton) as users:
            result = await closed_loop(
                users,
                duration_s=self.plan.duration_s,
                warmup_s=self.plan.warmup_s,
                on_measure_start=meter.start,
                on_answer=lambda: self.progress.answered(label),
            )
        reading = await meter.stop()
        summary = summarize(
            result.latencies_s, errors=result.errors, elapsed_s=result.elapsed_s, series_per_request=1
        )
        return PointResult(spec.name, concurrency, summary, reading, result.error_samples)

    async def _bulk(self, spec: ConfigSpec, triton: AsyncTritonClient) -> BulkResult:
        series, rows = bulk_rows(self.inputs, self.plan.bulk_series)
        meter = self._meter(spec)
        self.progress.note(f"{spec.name}: one bulk of {len(series)} series")
        if spec.name == "hybrid":
            request = bulk_request(self.inputs.model, self.inputs.version, series)
            async with HttpConnection(*self._jobs_address()) as connection:
                await meter.start()
                started = time.perf_counter()
                timing = await bulk_job(connection, request, len(series))
                elapsed_s = time.perf_counter() - started
                reading = await meter.stop()
            stages = await asyncio.to_thread(job_stages, self.stack.database_url, timing)
        else:
            await meter.start()
            elapsed_s = await timed(
                lambda: bulk_triton(
                    triton,
                    self._model(spec),
                    self.inputs.version,
                    rows,
                    batch_size=self.plan.bulk_batch_size,
                    concurrency=self.plan.bulk_concurrency,
                )
            )
            reading = await meter.stop()
            stages = {}
        return BulkResult(spec.name, len(series), elapsed_s, len(series) / elapsed_s, reading, stages)
