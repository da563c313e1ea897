"""Admission control that needs no server: the sync path's concurrency bound."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from hybrid_core.errors import SyncAtCapacity
from hybrid_core.queueing import JobQueue, make_celery
from hybrid_core.settings import Settings
from operation_server.admission import Admission
from operation_server.principal import ANONYMOUS, Principal


def admission(**configured: Any) -> Admission:
    settings = Settings(**configured)
    client = redis.Redis()  # never connects: the sync bound is counted in the process
    return Admission(settings, client, JobQueue(make_celery(settings), client))


def test_sync_slot_refuses_with_503_when_every_slot_is_taken() -> None:
    gate = admission(sync_max_concurrency=2)
    with gate.sync_slot(), gate.sync_slot(), pytest.raises(SyncAtCapacity) as refused, gate.sync_slot():
        pass
    assert refused.value.status_code == 503 and refused.value.retryable


def test_sync_slot_is_free_again_when_a_request_ends() -> None:
    gate = admission(sync_max_concurrency=1)
    with gate.sync_slot():
        pass
    with gate.sync_slot():
        pass


def test_admission_knows_when_a_job_is_admitted_without_a_redis_round_trip() -> None:
    assert admission().counts_in_redis(ANONYMOUS) is False
    limited = admission(key_rate_per_s=5.0)
    assert limited.counts_in_redis(ANONYMOUS) is True
    assert limited.counts_in_redis(Principal("k", "t", frozenset({"jobs"}), rate_per_s=0.0)) is False


def test_cached_depth_is_unknown_until_read_unless_the_queue_is_unbounded() -> None:
    assert admission(max_queue_depth=0).cached_depth() == 0
    assert admission().cached_depth() is None  # the event loop must not read it
