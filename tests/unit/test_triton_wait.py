"""A batch held while no Triton replica answers: it probes until one does, within its bound."""

from __future__ import annotations

from typing import Any, cast

from hybrid_core.settings import Settings
from worker.runtime import WorkerRuntime


class FlakyPool:
    """Stands in for ``TritonPool``: no replica in the pool, and ``answers_after`` failed probes."""

    def __init__(self, answers_after: int | None, *, in_pool: bool = False) -> None:
        self.answers_after = answers_after
        self.in_pool = in_pool
        self.probes = 0

    def replicas(self, *, healthy_only: bool = False) -> list[object]:
        return [object()] if self.in_pool else []

    def is_server_ready(self) -> bool:
        self.probes += 1
        return self.answers_after is not None and self.probes > self.answers_after


def runtime_with(pool: FlakyPool, **settings: Any) -> WorkerRuntime:
    unused = cast(Any, None)
    return WorkerRuntime(Settings(**settings), unused, unused, cast(Any, pool), unused, unused)


def test_wait_for_triton_returns_at_once_without_probing_when_a_replica_is_in() -> None:
    pool = FlakyPool(None, in_pool=True)

    assert runtime_with(pool).wait_for_triton() is True
    assert pool.probes == 0


def test_wait_for_triton_holds_until_a_probe_answers_when_no_replica_is_in() -> None:
    pool = FlakyPool(2)

    assert runtime_with(pool, worker_triton_wait_s=5).wait_for_triton() is True
    assert pool.probes == 3


def test_wait_for_triton_gives_up_within_a_third_of_the_visibility_timeout_when_none_answers() -> None:
    pool = FlakyPool(None)
    runtime = runtime_with(pool, worker_triton_wait_s=60, task_visibility_timeout_s=1)

    assert runtime.wait_for_triton() is False
    assert 1 <= pool.probes <= 3  # 1/3 s of probing every 0.25 s
