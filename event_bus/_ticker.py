"""A daemon thread that runs one function every N seconds, and at once when woken."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Ticker:
    """Runs ``work`` at start, then every ``interval_s`` and whenever :meth:`wake` is called.

    A wake during a run is not lost: it makes the next run start right after this one. An
    exception from ``work`` is logged and the thread goes on.
    """

    def __init__(self, work: Callable[[], object], *, interval_s: float, name: str) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self._work = work
        self._interval_s = interval_s
        self._name = name
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called: long-running work should wrap up."""
        return self._stopping.is_set()

    def start(self) -> None:
        """Start the thread (no-op when it runs already)."""
        if self.running:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Ask for a run now, without waiting for it."""
        self._wake.set()

    def stop(self, timeout_s: float | None = None) -> bool:
        """Let the current run finish and end the thread; False if it still runs after ``timeout_s``."""
        thread = self._thread
        if thread is None:
            return True
        self._stopping.set()
        self._wake.set()
        thread.join(timeout_s)
        if thread.is_alive():
            return False
        self._thread = None
        return True

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                self._work()
            except Exception:
                log.exception("%s: run failed; trying again in %.1f s", self._name, self._interval_s)
            self._wake.wait(self._interval_s)
