"""Admission control that needs no server: the sync path's concurrency bound."""

from __future__ import annotations

import pytest
import redis

from hybrid_core.errors import SyncAtCapacity
from hybrid_core.queueing import JobQueue, make_celery
from hybrid_core.settings import Settings
from operation_server.admission import Admission


def admission(sync_max_concurrency: int) -> Admission:
    settings = Settings(sync_max_concurrency=sync_max_concurrency)
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
