"""Periodic work in the API's event loop (readiness refresh, rollout upkeep, job sweeping)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)


class PeriodicTask:
    """Runs a blocking ``work()`` in a thread every ``interval_s`` until stopped.

    A failing pass is logged and the next one runs on schedule: upkeep must outlive a
    database or Triton hiccup.
    """

    def __init__(self, name: str, work: Callable[[], object], interval_s: float) -> None:
        self.name = name
        self.work = work
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.work)
            except Exception:
                logger.exception("%s failed; trying again in %g s", self.name, self.interval_s)
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
