"""Group commit: concurrent callers share one database transaction.

Each caller hands in its item. The first caller to find no write in progress becomes the
leader: it writes every item handed in so far in one transaction, wakes their callers, and
hands the lead to the oldest caller still waiting, if any, who writes the next group. Under
load many submissions share one round trip and one commit; alone, a caller writes at once;
no caller writes more than one group, so none waits behind an endless stream of others.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class _Entry(Generic[T]):
    def __init__(self, item: T) -> None:
        self.item = item
        self.wake = threading.Event()
        self.lead = False
        self.written = False
        self.error: BaseException | None = None


class GroupCommit(Generic[T]):
    """Runs ``write`` over the items of concurrent ``submit`` calls, many at a time."""

    def __init__(self, write: Callable[[Sequence[T]], None], *, max_items: int = 256) -> None:
        self._write = write
        self._max_items = max_items
        self._lock = threading.Lock()
        self._pending: list[_Entry[T]] = []
        self._writing = False

    def submit(self, item: T) -> None:
        """Return once ``item`` is written (committed); raise what its write raised."""
        entry = _Entry(item)
        with self._lock:
            self._pending.append(entry)
            if not self._writing:
                self._writing = True
                entry.lead = True
        if not entry.lead:
            entry.wake.wait()  # until written, or handed the lead
        if not entry.written:
            self._write_group()
        if entry.error is not None:
            raise entry.error

    def waiting(self) -> int:
        """Items handed in and not yet being written."""
        with self._lock:
            return len(self._pending)

    def _write_group(self) -> None:
        with self._lock:
            group, self._pending = self._pending[: self._max_items], self._pending[self._max_items :]
        error: BaseException | None = None
        try:
            self._write([entry.item for entry in group])
        except BaseException as exc:
            error = exc
        for entry in group:
            entry.error = error
            entry.written = True
        with self._lock:
            if self._pending:
                successor = self._pending[0]
                successor.lead = True
                successor.wake.set()
            else:
                self._writing = False
        for entry in group:
            entry.wake.set()
