"""Group commit on the event loop: concurrent submissions share one thread hop and one write.

Each caller awaits its item's result. While no write runs, the first item starts one in a
worker thread; items that arrive meanwhile wait on the loop and go together in the next write,
at most ``max_items`` at a time. Under load many submissions share one transaction, one Redis
pipeline and one broker connection; alone, an item is written at once. The loop never blocks:
the only thread is the writer's, one per group instead of one per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """Runs ``write`` in a thread over the items of concurrent ``submit`` calls, many at a time.

    ``write`` returns one result per item, in order; what it raises is raised in each caller of
    its group. Use one instance from one event loop.
    """

    def __init__(self, write: Callable[[Sequence[T]], Sequence[R]], *, max_items: int = 256) -> None:
        self._write = write
        self._max_items = max_items
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """``item``'s result once its group is written; raise what its group's write raised."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain())
        return await future

    def waiting(self) -> int:
        """Items handed in and not yet being written."""
        return len(self._pending)

    async def _drain(self) -> None:
        try:
            while self._pending:
                group = self._pending[: self._max_items]
                del self._pending[: self._max_items]
                try:
                    results = await asyncio.to_thread(self._write, [item for item, _ in group])
                except BaseException as exc:
                    for _, future in group:
                        if not future.done():  # its caller may have been cancelled meanwhile
                            future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, future), result in zip(group, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._writer = None
            for _, future in self._pending:  # only when cancelled (the loop is shutting down)
                if not future.done():
                    future.cancel()
            self._pending.clear()
