"""The leases of the jobs a worker process holds, renewed in one statement per period.

A job is held from the moment its task starts until the task returns; a job whose retry is
scheduled stays held until the retry is due. A background thread renews every held job's lease
each third of ``lease_s``. When the process dies, or a task gives a job up without finishing
it, renewal stops and the reconciler enqueues the job again once its lease expires.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

logger = logging.getLogger(__name__)

Renew = Callable[[Sequence[str]], object]
"""Extends the leases of the given running jobs (``JobStore.renew_leases`` bound to a lease)."""


class LeaseKeeper:
    """Holds job ids and renews their leases every ``lease_s / 3`` on a daemon thread."""

    def __init__(self, renew: Renew, *, lease_s: float) -> None:
        self._renew = renew
        self._period_s = lease_s / 3
        self._held: dict[str, int] = {}
        self._parked: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-leases", daemon=True)
        self._thread.start()

    @contextmanager
    def holding(self, job_id: str) -> Iterator[None]:
        """Keep ``job_id``'s lease alive while the block runs."""
        with self._lock:
            self._held[job_id] = self._held.get(job_id, 0) + 1
            self._parked.pop(job_id, None)
        try:
            yield
        finally:
            with self._lock:
                count = self._held.pop(job_id, 1) - 1
                if count:
                    self._held[job_id] = count

    def park(self, job_id: str, for_s: float) -> None:
        """Keep renewing ``job_id`` for ``for_s`` more seconds: its retry is due by then."""
        with self._lock:
            self._parked[job_id] = time.monotonic() + for_s

    def held(self) -> list[str]:
        """The job ids whose leases the next renewal extends."""
        now = time.monotonic()
        with self._lock:
            for job_id in [j for j, until in self._parked.items() if until < now]:
                del self._parked[job_id]
            return sorted(self._held.keys() | self._parked.keys())

    def renew_now(self) -> None:
        """Renew every held lease once; a failure is logged, and the next period tries again."""
        job_ids = self.held()
        if not job_ids:
            return
        try:
            self._renew(job_ids)
        except Exception as exc:  # the store is down: leases may expire, and the jobs run again
            logger.warning("could not renew %d job leases: %s", len(job_ids), exc)

    def stop(self) -> None:
        self._stopped.set()

    def _run(self) -> None:
        while not self._stopped.wait(self._period_s):
            self.renew_now()
