"""What each configuration sends: job, synchronous and raw-Triton requests, and the bulk workloads.

Every configuration sends the same CO2 windows, pinned to the same version. HTTP users hold
one keep-alive connection each; raw-Triton users share one gRPC channel (as the API does).
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from benchmarks.data import request_series
from benchmarks.http_client import HttpConnection
from benchmarks.loadgen import Request
from hybrid_core.forecasting import batch_slices
from hybrid_core.processing import preprocess
from hybrid_core.version_params import load_version_params
from triton_client import AsyncTritonClient

JOB_WAIT_S = 30
"""Long-poll of ``GET /v1/jobs/{id}``, as a client of the product path would."""
TERMINAL = ("succeeded", "failed")


class RequestFailed(Exception):
    """An answer other than the expected success."""


@dataclass(frozen=True)
class Inputs:
    """The windows every configuration sends: JSON bodies and the normalized model inputs."""

    model: str
    version: str
    bodies: list[bytes]
    """One ``ForecastRequest`` (one series) per window."""
    normalized: npt.NDArray[np.float32]
    """``[n, window]`` model inputs of the same windows, for raw Triton."""
    series: list[list[float]]


def build_inputs(repository: Path, model: str, version: str, count: int, *, seed: int = 7) -> Inputs:
    """``count`` CO2 windows of exactly the version's window length."""
    params = load_version_params(repository, model, version)
    series = request_series(count, params.window, seed=seed)
    bodies = [json.dumps({"model": model, "version": version, "series": [s]}).encode() for s in series]
    return Inputs(model, version, bodies, preprocess(series, params).inputs, series)


def _expect(status: int, expected: int, payload: bytes) -> None:
    if status != expected:
        raise RequestFailed(f"HTTP {status}: {payload[:200]!r}")


async def wait_job(connection: HttpConnection, job_id: str) -> dict[str, object]:
    """Long-poll a job until it is terminal; raise unless it succeeded."""
    while True:
        status, payload = await connection.request("GET", f"/v1/jobs/{job_id}?wait_s={JOB_WAIT_S}")
        _expect(status, 200, payload)
        view: dict[str, object] = json.loads(payload)
        if view["status"] in TERMINAL:
            if view["status"] != "succeeded":
                raise RequestFailed(f"job {job_id} failed: {view.get('error')}")
            return view


async def run_job(connection: HttpConnection, body: bytes) -> dict[str, object]:
    """``POST /v1/jobs`` then long-poll its result (the product path)."""
    status, payload = await connection.request("POST", "/v1/jobs", body)
    _expect(status, 202, payload)
    job_id = str(json.loads(payload)["job_id"])
    return await wait_job(connection, job_id)


def job_user(connection: HttpConnection, inputs: Inputs) -> Request:
    async def send(index: int) -> None:
        await run_job(connection, inputs.bodies[index % len(inputs.bodies)])

    return send


def sync_user(connection: HttpConnection, inputs: Inputs) -> Request:
    path = f"/v1/models/{inputs.model}/forecast"

    async def send(index: int) -> None:
        status, payload = await connection.request("POST", path, inputs.bodies[index % len(inputs.bodies)])
        _expect(status, 200, payload)

    return send


def triton_user(client: AsyncTritonClient, model: str, inputs: Inputs) -> Request:
    rows = inputs.normalized

    async def send(index: int) -> None:
        row = index % rows.shape[0]
        await client.infer(model, rows[row : row + 1], version=inputs.version)

    return send


@dataclass(frozen=True)
class BulkJobTiming:
    """Client-side marks of a bulk job: its id, the submission time and when its result was in hand."""

    job_id: str
    submit_s: float
    answered_at_unix_s: float


ARRAYS_MEDIA_TYPE = "application/x-npz"


def bulk_request(model: str, version: str, series: Sequence[list[float]]) -> tuple[str, bytes]:
    """The path and ``.npz`` body of one array job holding every series (encoded before the clock
    starts): a bulk client sends ``POST /v1/jobs/arrays``, float32 values instead of JSON numbers."""
    buffer = io.BytesIO()
    np.savez(buffer, values=np.asarray(series, dtype=np.float32))
    return f"/v1/jobs/arrays?model={model}&version={version}", buffer.getvalue()


async def bulk_job(connection: HttpConnection, request: tuple[str, bytes], count: int) -> BulkJobTiming:
    """Submit one job of ``count`` series and long-poll its forecasts as arrays (``.npz``) until they
    are loaded: a bulk client reads ``GET /v1/jobs/{id}/forecasts``, not the JSON view."""
    started = time.perf_counter()
    status, payload = await connection.request("POST", request[0], request[1], ARRAYS_MEDIA_TYPE)
    _expect(status, 202, payload)
    submit_s = time.perf_counter() - started
    job_id = str(json.loads(payload)["job_id"])
    path = f"/v1/jobs/{job_id}/forecasts?wait_s={JOB_WAIT_S}"
    while (answer := await connection.request("GET", path))[0] == 202:
        pass
    _expect(answer[0], 200, answer[1])
    arrays = np.load(io.BytesIO(answer[1]), allow_pickle=False)
    if arrays["mean"].shape[0] != count:
        raise RequestFailed(f"the bulk job's arrays hold {arrays['mean'].shape[0]} series, not {count}")
    return BulkJobTiming(job_id, submit_s, time.time())


async def bulk_triton(
    client: AsyncTritonClient,
    model: str,
    version: str,
    normalized: npt.NDArray[np.float32],
    *,
    batch_size: int,
    concurrency: int,
) -> None:
    """Every row through Triton in batches of ``batch_size``, ``concurrency`` batches in flight."""
    gate = asyncio.Semaphore(concurrency)

    async def one(rows: slice) -> None:
        async with gate:
            await client.infer(model, normalized[rows], version=version)

    await asyncio.gather(*(one(s) for s in batch_slices(normalized.shape[0], batch_size)))


def bulk_rows(inputs: Inputs, count: int) -> tuple[list[list[float]], npt.NDArray[np.float32]]:
    """``count`` series (cycling through the inputs) and their normalized rows."""
    picks = [i % len(inputs.series) for i in range(count)]
    return [inputs.series[i] for i in picks], inputs.normalized[picks]
