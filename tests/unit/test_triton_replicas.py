"""Replica choice, take-out and take-back of the Triton pool, and which failures fail over."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from hybrid_core.errors import HybridError
from hybrid_core.settings import Settings
from triton_client.errors import (
    TritonDeadlineExceeded,
    TritonInferenceFailed,
    TritonModelNotFound,
    TritonRejected,
    TritonUnavailable,
)
from triton_client.pool import failover_of
from triton_client.replicas import ReplicaSet

URLS = ["10.0.0.1:8001", "10.0.0.2:8001", "10.0.0.3:8001"]


def test_choose_takes_fewest_in_flight_when_replicas_are_busy() -> None:
    replicas = ReplicaSet(URLS)
    with replicas.request(0), replicas.request(0), replicas.request(2):
        assert replicas.choose() == 1


def test_choose_goes_round_robin_when_replicas_are_idle() -> None:
    replicas = ReplicaSet(URLS)
    assert {replicas.choose() for _ in range(3)} == {0, 1, 2}


def test_choose_skips_taken_out_and_tried_replicas_when_others_are_healthy() -> None:
    replicas = ReplicaSet(URLS)
    replicas.mark_down(1, "gone")
    assert {replicas.choose(exclude=[0]) for _ in range(4)} == {2}
    assert replicas.choose(exclude=[0, 2]) is None


def test_choose_tries_the_longest_down_once_when_no_replica_is_healthy() -> None:
    replicas = ReplicaSet(URLS[:2])
    replicas.mark_down(1, "first")
    replicas.mark_down(0, "second")
    assert replicas.choose() == 1
    assert replicas.choose(exclude=[1]) is None


def test_mark_up_puts_replica_back_when_its_probe_passes() -> None:
    replicas = ReplicaSet(URLS[:1])
    replicas.mark_down(0, "probe failed")
    assert replicas.healthy_indexes() == []
    replicas.mark_up(0)
    assert replicas.healthy_indexes() == [0]
    assert replicas.statuses()[0].last_error == "probe failed"


def test_metrics_count_requests_errors_and_health_per_replica_when_a_call_fails() -> None:
    url = "10.9.9.9:8001"
    replicas = ReplicaSet([url])

    def sample(name: str, **labels: str) -> float:
        value = REGISTRY.get_sample_value(name, {"replica": url, **labels})
        return value if value is not None else 0.0

    before = sample("hybrid_triton_replica_requests_total")
    with replicas.request(0):
        assert sample("hybrid_triton_replica_requests_in_flight") == 1
    replicas.failed(0, TritonUnavailable("down"), take_out=True, retried=True)
    assert sample("hybrid_triton_replica_requests_total") == before + 1
    assert sample("hybrid_triton_replica_requests_in_flight") == 0
    assert sample("hybrid_triton_replica_errors_total", code="triton_unavailable") >= 1
    assert sample("hybrid_triton_replica_failovers_total") >= 1
    assert sample("hybrid_triton_replica_healthy") == 0


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (TritonUnavailable("x"), (True, True)),
        (TritonDeadlineExceeded("x"), (True, True)),
        (TritonModelNotFound("x"), (True, False)),
        (TritonRejected("x"), (False, False)),
        (TritonInferenceFailed("x"), (False, False)),
    ],
)
def test_failover_of_retries_elsewhere_when_the_replica_may_be_gone_or_lacks_the_version(
    error: HybridError, expected: tuple[bool, bool]
) -> None:
    assert failover_of(error) == expected


def test_replica_set_refuses_urls_when_empty_or_repeated() -> None:
    with pytest.raises(ValueError, match="at least one"):
        ReplicaSet([])
    with pytest.raises(ValueError, match="repeat"):
        ReplicaSet([URLS[0], URLS[0]])


def test_settings_triton_urls_lists_every_replica_when_urls_given() -> None:
    settings = Settings(triton_grpc_urls=" a:8001, b:8011 ,", triton_grpc_url="c:8001")
    assert settings.triton_urls == ["a:8001", "b:8011"]
    assert Settings(triton_grpc_url="c:8001").triton_urls == ["c:8001"]
