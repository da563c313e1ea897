"""Backoff delays grow, stay capped and are jittered."""

from __future__ import annotations

import random

from worker.retry_policy import backoff_delay_s


def test_backoff_doubles_within_jitter_when_retries_grow() -> None:
    rng = random.Random(0)
    for retries in range(5):
        ceiling = 0.5 * 2**retries
        delay = backoff_delay_s(retries, base_s=0.5, max_s=100, rng=rng)
        assert ceiling / 2 <= delay <= ceiling


def test_backoff_is_capped_when_many_retries() -> None:
    delays = [backoff_delay_s(30, base_s=1, max_s=8, rng=random.Random(i)) for i in range(50)]
    assert max(delays) <= 8
    assert min(delays) >= 4
    assert len(set(delays)) > 1
