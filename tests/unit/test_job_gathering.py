"""The worker's gatherer: many task threads, few batches, each job's own outcome."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from hybrid_core.errors import ServiceUnavailable
from local_stack.waiting import wait_until
from worker.gathering import JobGatherer


class Recorder:
    """A batch processor that records its batches and fails the jobs it is told to."""

    def __init__(self, retry: frozenset[str] = frozenset(), crash: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.retry = retry
        self.crash = crash
        self.lock = threading.Lock()

    def __call__(self, job_ids: Sequence[str]) -> Mapping[str, BaseException]:
        with self.lock:
            self.batches.append(list(job_ids))
        if self.crash:
            raise ConnectionError("database down")
        return {job_id: ServiceUnavailable(f"{job_id} later") for job_id in job_ids if job_id in self.retry}


@contextlib.contextmanager
def gatherer_for(process: Recorder, *, max_jobs: int = 64, max_wait_s: float = 0.05) -> Iterator[JobGatherer]:
    gatherer = JobGatherer(process, max_jobs=max_jobs, max_wait_s=max_wait_s, processors=2)
    yield gatherer
    gatherer.close()


def run_all(gatherer: JobGatherer, job_ids: list[str]) -> dict[str, BaseException | None]:
    def one(job_id: str) -> BaseException | None:
        try:
            gatherer.run(job_id)
        except BaseException as exc:
            return exc
        return None

    with ThreadPoolExecutor(len(job_ids)) as pool:
        return dict(zip(job_ids, pool.map(one, job_ids), strict=True))


def test_gatherer_runs_concurrent_jobs_in_few_batches_when_they_arrive_together() -> None:
    recorder = Recorder()
    with gatherer_for(recorder, max_wait_s=0.2) as gatherer:
        outcomes = run_all(gatherer, [f"j{i}" for i in range(32)])
    assert all(error is None for error in outcomes.values())
    assert sorted(j for batch in recorder.batches for j in batch) == sorted(outcomes)
    assert len(recorder.batches) < 8, recorder.batches


def test_gatherer_caps_batches_when_more_jobs_than_max_jobs() -> None:
    recorder = Recorder()
    with gatherer_for(recorder, max_jobs=4, max_wait_s=0.2) as gatherer:
        run_all(gatherer, [f"j{i}" for i in range(16)])
    assert max(len(batch) for batch in recorder.batches) <= 4
    assert sum(len(batch) for batch in recorder.batches) == 16


def test_gatherer_raises_only_in_failed_jobs_task_when_one_job_must_retry() -> None:
    recorder = Recorder(retry=frozenset({"j3"}))
    with gatherer_for(recorder) as gatherer:
        outcomes = run_all(gatherer, [f"j{i}" for i in range(8)])
    assert isinstance(outcomes.pop("j3"), ServiceUnavailable)
    assert all(error is None for error in outcomes.values())


def test_gatherer_raises_in_every_task_when_batch_processing_crashes() -> None:
    recorder = Recorder(crash=True)
    with gatherer_for(recorder) as gatherer:
        outcomes = run_all(gatherer, ["a", "b", "c"])
    assert all(isinstance(error, ConnectionError) for error in outcomes.values())


def test_gatherer_processes_duplicate_job_once_when_delivered_twice_in_one_batch() -> None:
    recorder = Recorder()
    with gatherer_for(recorder, max_wait_s=0.2) as gatherer:
        outcomes = run_all(gatherer, ["same", "same", "other"])
    assert set(outcomes) == {"same", "other"}
    assert [j for batch in recorder.batches for j in batch].count("same") == 1


class SlowRecorder(Recorder):
    """Holds its first batch until released, as a batch waiting on Triton would."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, job_ids: Sequence[str]) -> Mapping[str, BaseException]:
        if not self.started.is_set():
            self.started.set()
            self.release.wait(timeout=5)
        return super().__call__(job_ids)


def test_gatherer_takes_every_waiting_job_in_one_batch_when_processor_was_busy() -> None:
    recorder = SlowRecorder()
    gatherer = JobGatherer(recorder, max_jobs=64, max_wait_s=0.0, processors=1)
    try:
        with ThreadPoolExecutor(11) as pool:
            first = pool.submit(gatherer.run, "first")
            assert recorder.started.wait(timeout=5)
            rest = [pool.submit(gatherer.run, f"j{i}") for i in range(10)]
            # The ten queue up while the only processor holds "first" (the gatherer holds one).
            wait_until(lambda: gatherer.waiting() == 9, timeout_s=5, message="nine jobs waiting")
            recorder.release.set()
            for done in [first, *rest]:
                done.result(timeout=5)
    finally:
        gatherer.close()
    assert recorder.batches[0] == ["first"]
    assert sorted(recorder.batches[1]) == sorted(f"j{i}" for i in range(10))
    assert len(recorder.batches) == 2
