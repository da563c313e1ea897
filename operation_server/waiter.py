"""Long-poll support: one Redis subscription per API process wakes the requests waiting on a job."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import redis.asyncio as aioredis

from job_store.hot_state import DONE_CHANNEL, parse_done_notice

logger = logging.getLogger(__name__)


class JobDoneWaiter:
    """Dispatches ``DONE_CHANNEL`` notices to the futures of waiting requests."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client
        self._waiting: dict[str, set[asyncio.Future[None]]] = {}
        self._task: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def watch(self, job_id: str) -> AsyncIterator[asyncio.Future[None]]:
        """A future that resolves when ``job_id`` is announced as finished.

        Register before re-reading the job's state, so a notice cannot slip in between.
        """
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(job_id, set()).add(future)
        try:
            yield future
        finally:
            waiters = self._waiting.get(job_id)
            if waiters is not None:
                waiters.discard(future)
                if not waiters:
                    del self._waiting[job_id]

    def _wake(self, job_id: str) -> None:
        for future in self._waiting.get(job_id, ()):
            if not future.done():
                future.set_result(None)

    async def _listen(self) -> None:
        while True:
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(DONE_CHANNEL)
                    async for message in pubsub.listen():
                        data = message.get("data")
                        if isinstance(data, bytes):
                            for job_id in parse_done_notice(data):
                                self._wake(job_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis restarted: waiters fall back to periodic re-reads
                logger.warning("job-done subscription lost (%s); reconnecting", exc)
                await asyncio.sleep(0.5)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._listen())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
