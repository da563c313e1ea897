"""The Triton pool against the real tritonserver and a replica address where nothing answers."""

from __future__ import annotations

import asyncio

import numpy as np
import numpy.typing as npt
import pytest

from hybrid_core.processing import preprocess
from hybrid_core.version_params import load_version_params
from local_stack.triton_server import LocalTritonServer, find_free_port
from tests.conftest import CANONICAL_REPOSITORY
from tests.support.data import request_series
from triton_client import AsyncTritonPool, TritonModelNotFound, TritonPool, TritonUnavailable

pytestmark = pytest.mark.integration

MODEL, VERSION = "lstm_timeseries", "2"


def inputs() -> npt.NDArray[np.float32]:
    params = load_version_params(CANONICAL_REPOSITORY, MODEL, VERSION)
    return preprocess(request_series(4, params.window + 5, seed=7), params).inputs


def test_pool_answers_every_call_and_takes_dead_replica_out_when_one_replica_is_down(
    triton: LocalTritonServer,
) -> None:
    dead = f"127.0.0.1:{find_free_port()}"
    with TritonPool([dead, triton.grpc_url], infer_timeout_s=30) as pool:
        answers = [pool.infer(MODEL, inputs(), version=VERSION) for _ in range(6)]
        assert all(a.model_version == VERSION for a in answers)
        statuses = {s.url: s for s in pool.statuses()}
        assert not statuses[dead].healthy
        assert statuses[triton.grpc_url].healthy
        assert pool.is_server_ready()  # one replica is enough
        assert not {s.url: s for s in pool.statuses()}[dead].healthy  # the probe keeps it out


def test_pool_raises_retryable_unavailable_when_no_replica_answers() -> None:
    dead = [f"127.0.0.1:{find_free_port()}" for _ in range(2)]
    with TritonPool(dead, infer_timeout_s=5) as pool:
        with pytest.raises(TritonUnavailable) as raised:
            pool.infer(MODEL, inputs(), version=VERSION)
        assert raised.value.retryable
        assert not pool.is_server_ready()


def test_pool_raises_model_not_found_when_no_replica_holds_the_version(triton: LocalTritonServer) -> None:
    with TritonPool([triton.grpc_url], infer_timeout_s=30) as pool, pytest.raises(TritonModelNotFound):
        pool.infer(MODEL, inputs(), version="99")


def test_async_pool_fails_over_to_live_replica_when_one_replica_is_down(triton: LocalTritonServer) -> None:
    dead = f"127.0.0.1:{find_free_port()}"
    with TritonPool([dead, triton.grpc_url]) as pool:

        async def run() -> list[str]:
            async with AsyncTritonPool(pool.replica_set, infer_timeout_s=30) as aio:
                answers = await asyncio.gather(
                    *(aio.infer(MODEL, inputs(), version=VERSION) for _ in range(4))
                )
            return [a.model_version for a in answers]

        assert asyncio.run(run()) == [VERSION] * 4
        assert pool.replica_set.healthy_indexes() == [1]
