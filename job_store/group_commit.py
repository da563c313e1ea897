"""Group commit: concurrent callers share one database transaction.

Each caller hands in its item and waits. The first caller to find no write in progress
becomes the leader: it writes every item handed in so far in one transaction, then the ones
that arrived meanwhile, until none are left; the others wait for their item's write. Under
load many submissions share one round trip and one commit; alone, a caller writes at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")


class GroupCommit(Generic[T]):
    """Runs ``write`` over the items of concurrent ``submit`` calls, many at a time."""

    def __init__(self, write: Callable[[Sequence[T]], None], *, max_items: int = 256) -> None:
        self._write = write
        self._max_items = max_items
        self._lock = threading.Lock()
        self._pending: list[tuple[T, Future[None]]] = []
        self._writing = False

    def submit(self, item: T) -> None:
        """Return once ``item`` is written (committed); raise what its write raised."""
        done: Future[None] = Future()
        with self._lock:
            self._pending.append((item, done))
            lead = not self._writing
            self._writing = True
        if lead:
            self._drain()
        done.result()

    def waiting(self) -> int:
        """Items handed in and not yet being written."""
        with self._lock:
            return len(self._pending)

    def _drain(self) -> None:
        while True:
            with self._lock:
                batch, self._pending = self._pending[: self._max_items], self._pending[self._max_items :]
                if not batch:
                    self._writing = False
                    return
            try:
                self._write([item for item, _ in batch])
            except BaseException as exc:
                for _, done in batch:
                    done.set_exception(exc)
            else:
                for _, done in batch:
                    done.set_result(None)
