"""The rollout policy cache: one database read per expiry, never a read from before a write."""

from __future__ import annotations

import threading
import time
from typing import Any, cast

from job_store.models import RolloutPolicy
from operation_server.rollout import service
from operation_server.rollout.service import RolloutService


class BlockingStore:
    """A policy store whose reads wait until released, counting them."""

    def __init__(self, policy: RolloutPolicy) -> None:
        self.policy = policy
        self.reads = 0
        self.release = threading.Event()
        self.release.set()

    def get(self, model: str) -> RolloutPolicy:
        self.reads += 1
        self.release.wait(timeout=5)
        return self.policy


def rollout_service(store: BlockingStore) -> RolloutService:
    unused = cast(Any, None)
    return RolloutService(cast(Any, store), unused, unused, unused, unused)


def test_policy_answers_the_cached_policy_while_another_thread_reads_its_successor(monkeypatch: Any) -> None:
    old, new = RolloutPolicy(model="m", stable="1"), RolloutPolicy(model="m", stable="2")
    store = BlockingStore(old)
    rollouts = rollout_service(store)
    assert rollouts.policy("m") is old
    monkeypatch.setattr(service, "POLICY_CACHE_TTL_S", 0.0)
    store.policy, store.release = new, threading.Event()
    reader = threading.Thread(target=rollouts.policy, args=("m",))
    reader.start()
    deadline = time.monotonic() + 5
    while store.reads < 2 and time.monotonic() < deadline:
        time.sleep(0.01)

    answers = [rollouts.policy("m") for _ in range(5)]
    store.release.set()
    reader.join(timeout=5)

    assert answers == [old] * 5
    assert store.reads == 2
    assert rollouts.policy("m") is new


def test_policy_read_before_a_write_is_not_cached_after_it(monkeypatch: Any) -> None:
    old = RolloutPolicy(model="m", stable="1")
    store = BlockingStore(old)
    rollouts = rollout_service(store)
    store.release = threading.Event()
    reader = threading.Thread(target=rollouts.policy, args=("m",))
    reader.start()
    deadline = time.monotonic() + 5
    while store.reads < 1 and time.monotonic() < deadline:
        time.sleep(0.01)

    rollouts._forget("m")  # what a promote or rollback does after writing
    store.release.set()
    reader.join(timeout=5)
    store.policy = RolloutPolicy(model="m", stable="2")

    assert rollouts.policy("m") is store.policy
    assert store.reads == 2


def test_cached_policy_answers_without_a_read_only_while_the_cache_holds_the_policy(monkeypatch: Any) -> None:
    policy = RolloutPolicy(model="m", stable="1")
    store = BlockingStore(policy)
    rollouts = rollout_service(store)

    assert rollouts.cached_policy("m") == (False, None)  # never read: the event loop must not read it
    rollouts.policy("m")
    assert rollouts.cached_policy("m") == (True, policy)
    monkeypatch.setattr(service, "POLICY_CACHE_TTL_S", 0.0)
    assert rollouts.cached_policy("m") == (False, None)  # expired
    assert store.reads == 1
