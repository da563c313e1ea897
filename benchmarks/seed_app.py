"""The seed's API, done well: FastAPI in front of Celery, results read from Celery's Redis backend.

The same URLs and bodies as our job path, so the same load generator drives it:
``POST /v1/jobs`` (a ``ForecastRequest``) answers 202 ``{"job_id", "status": "queued", ...}``;
``GET /v1/jobs/{job_id}?wait_s=N`` long-polls and answers ``{"job_id", "status", "forecasts"...}``.

No database, no hot state, no metrics: the request is checked against the version's
``params.json`` and sent in the task message (``benchmarks.seed_worker`` answers it). A
long-poll does not hold a thread in ``AsyncResult.get()``: it reads the result key with asyncio
Redis and wakes on the backend's own publish, through one pattern subscription per process.
Run it with ``python -m benchmarks.seed_app --port N``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import redis.asyncio as aioredis
from celery import states
from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from kombu.exceptions import OperationalError as BrokerError

from benchmarks.seed_queue import RESULT_KEY_PREFIX, SEED_TASK, job_view, make_seed_celery, result_key
from hybrid_core.errors import (
    HybridError,
    InvalidInput,
    ModelNotFound,
    ServiceUnavailable,
    VersionNotFound,
)
from hybrid_core.schemas import ForecastRequest
from hybrid_core.settings import Settings, get_settings
from hybrid_core.version_params import load_version_params, repository_versions

logger = logging.getLogger(__name__)

MAX_WAIT_S = 60.0
RECHECK_S = 1.0
"""Safety net under the publish: re-read the result at least this often while waiting."""


@cache
def _versions(repository: Path, model: str) -> tuple[str, ...]:
    # Read once: the seed serves the versions it found at start (a new one needs a restart).
    return tuple(repository_versions(repository, model))


def check_request(repository: Path, body: ForecastRequest) -> tuple[str, int]:
    """The version (pinned, else the newest) and horizon of a request; our errors when it is unfit."""
    versions = _versions(repository, body.model)
    if not versions:
        raise ModelNotFound(f"no model {body.model!r}", field="model")
    version = body.version or versions[-1]
    if version not in versions:
        raise VersionNotFound(f"model {body.model!r} has no version {version!r}", field="version")
    params = load_version_params(repository, body.model, version)
    horizon = body.horizon or params.horizon
    if horizon > params.horizon:
        raise InvalidInput(f"horizon must be between 1 and {params.horizon}", field="horizon")
    for index, values in enumerate(body.all_values()):
        if len(values) < params.window:
            field = f"series[{index}]"
            raise InvalidInput(f"{field} needs at least {params.window} points", field=field)
    return version, horizon


def _decode(raw: bytes | str | None) -> dict[str, Any] | None:
    return None if raw is None else dict(json.loads(raw))


def _final(meta: dict[str, Any] | None) -> bool:
    return meta is not None and meta.get("status") in states.READY_STATES


class ResultWaiter:
    """Wakes long-polls when the result backend publishes their task's result."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client
        self._waiting: dict[str, set[asyncio.Queue[bytes]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def wait(self, job_id: str, timeout_s: float) -> dict[str, Any] | None:
        """The job's result meta once final, else what is stored at the deadline (None: nothing)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        announced: asyncio.Queue[bytes] = asyncio.Queue()
        # Register before the first read, so a publish cannot slip in between.
        self._waiting.setdefault(job_id, set()).add(announced)
        try:
            meta = _decode(await self._redis.get(result_key(job_id)))
            while not _final(meta) and (remaining := deadline - loop.time()) > 0:
                try:
                    meta = _decode(await asyncio.wait_for(announced.get(), min(remaining, RECHECK_S)))
                except TimeoutError:
                    meta = _decode(await self._redis.get(result_key(job_id)))
            return meta
        finally:
            waiters = self._waiting.get(job_id, set())
            waiters.discard(announced)
            if not waiters:
                self._waiting.pop(job_id, None)

    async def _listen(self) -> None:
        # One pattern subscription per API process: every result reaches it, waited on or not.
        while True:
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.psubscribe(f"{RESULT_KEY_PREFIX}*")
                    async for message in pubsub.listen():
                        channel, data = message.get("channel"), message.get("data")
                        if isinstance(channel, bytes) and isinstance(data, bytes):
                            job_id = channel.decode().removeprefix(RESULT_KEY_PREFIX)
                            for queue in self._waiting.get(job_id, ()):
                                queue.put_nowait(data)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis restarted: waiters fall back to periodic re-reads
                logger.warning("result subscription lost (%s); reconnecting", exc)
                await asyncio.sleep(0.5)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._listen())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def create_app(settings: Settings) -> FastAPI:
    """The seed's API over ``settings``' Redis and model repository."""
    celery = make_seed_celery(settings, results=False)
    client = aioredis.Redis.from_url(settings.redis_url)
    waiter = ResultWaiter(client)
    repository = Path(settings.model_repository)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        waiter.start()
        yield
        await waiter.stop()
        await client.aclose()

    app = FastAPI(title="seed", lifespan=lifespan)

    @app.exception_handler(HybridError)
    async def _hybrid_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HybridError)
        return JSONResponse({"error": exc.to_dict()}, status_code=exc.status_code)

    @app.get("/healthz")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/jobs", status_code=202)
    def submit_job(body: ForecastRequest) -> JSONResponse:
        version, horizon = check_request(repository, body)
        job_id = uuid.uuid4().hex
        try:
            celery.send_task(SEED_TASK, args=[body.model, version, body.series, horizon], task_id=job_id)
        except (BrokerError, OSError) as exc:
            raise ServiceUnavailable(f"could not enqueue the job: {exc}") from exc
        accepted = {
            "job_id": job_id,
            "status": "queued",
            "model": body.model,
            "version": version,
            "series_count": len(body.series),
            "links": {"self": f"/v1/jobs/{job_id}"},
        }
        return JSONResponse(accepted, status_code=202)

    @app.get("/v1/jobs/{job_id}")
    async def get_job(
        job_id: str,
        wait_s: Annotated[float, Query(ge=0, le=MAX_WAIT_S, description="Long-poll up to this long.")] = 0.0,
    ) -> JSONResponse:
        return JSONResponse(job_view(job_id, await waiter.wait(job_id, wait_s)))

    return app


def main(argv: Sequence[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m benchmarks.seed_app", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    app = create_app(get_settings())
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
