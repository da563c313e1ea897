"""Micro-batches across jobs: the task threads of one worker process hand in their job ids, and
one gatherer turns whatever arrived while the batch processor was busy into one batch.

Celery keeps its per-message guarantees (late acknowledgement, redelivery of a dead worker's
messages, per-job retries), since each task still waits for its own job's outcome; what is
shared is the work: one transaction to start the batch, one Triton request per model
version, one transaction and one Redis pipeline to finish it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from hybrid_core.errors import HybridError

logger = logging.getLogger(__name__)

BatchProcessor = Callable[[Sequence[str]], Mapping[str, BaseException]]
"""Runs a batch of job ids; returns the error of each job whose task must handle it (retry)."""


class JobGatherer:
    """Collect job ids from many threads into batches of at most ``max_jobs``.

    A batch runs on one of ``processors`` threads, so the next batch gathers while the previous
    one waits on Triton. With a processor free, a batch closes ``max_wait_s`` after its first
    job or when full; with all busy, it takes every job that arrived until one is free, so the
    batch size follows the load.
    """

    def __init__(
        self, process: BatchProcessor, *, max_jobs: int, max_wait_s: float, processors: int
    ) -> None:
        self._process = process
        self._max_jobs = max_jobs
        self._max_wait_s = max_wait_s
        self._queue: queue.Queue[tuple[str, Future[None]] | None] = queue.Queue()
        self._pool = ThreadPoolExecutor(processors, thread_name_prefix="job-batch")
        self._slots = threading.BoundedSemaphore(processors)
        self._thread = threading.Thread(target=self._gather, name="job-gatherer", daemon=True)
        self._thread.start()

    def run(self, job_id: str) -> None:
        """Process ``job_id`` in the next batch; raise the error its task must handle."""
        done: Future[None] = Future()
        self._queue.put((job_id, done))
        done.result()

    def waiting(self) -> int:
        """Jobs handed in and not yet in a batch."""
        return self._queue.qsize()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _gather(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            # Close no batch while every processor is busy: jobs arriving meanwhile join this one.
            waited = not self._slots.acquire(blocking=False)
            if waited:
                self._slots.acquire()
            deadline = time.monotonic() + (0.0 if waited else self._max_wait_s)
            while len(batch) < self._max_jobs:
                remaining_s = deadline - time.monotonic()
                try:
                    item = self._queue.get(timeout=remaining_s) if remaining_s > 0 else self._queue.get(False)
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # close after this batch
                    break
                batch.append(item)
            self._pool.submit(self._run_batch, batch)

    def _run_batch(self, batch: list[tuple[str, Future[None]]]) -> None:
        try:
            self._run_jobs(batch)
        finally:
            self._slots.release()

    def _run_jobs(self, batch: list[tuple[str, Future[None]]]) -> None:
        # A job handed in twice in one batch (a duplicate delivery) is processed once.
        waiters: dict[str, list[Future[None]]] = {}
        for job_id, done in batch:
            waiters.setdefault(job_id, []).append(done)
        try:
            errors = self._process(list(waiters))
        except BaseException as exc:  # the whole batch failed (database or Redis down): each task decides
            if not isinstance(exc, HybridError):
                logger.warning("batch of %d jobs failed: %s: %s", len(waiters), type(exc).__name__, exc)
            for futures in waiters.values():
                for done in futures:
                    done.set_exception(exc)
            return
        for job_id, futures in waiters.items():
            error = errors.get(job_id)
            for done in futures:
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)
