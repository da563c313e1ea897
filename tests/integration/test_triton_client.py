"""triton_client against the real tritonserver serving the committed repository."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from hybrid_core.processing import preprocess
from hybrid_core.version_params import load_version_params, repository_models, repository_versions
from local_stack.triton_server import LocalTritonServer, find_free_port
from tests.conftest import CANONICAL_REPOSITORY
from tests.support.data import request_series
from tests.support.reference import eager_outputs
from triton_client import (
    TritonClient,
    TritonModelNotFound,
    TritonRejected,
    TritonUnavailable,
)

pytestmark = pytest.mark.integration

SERVED = [
    (model, version)
    for model in repository_models(CANONICAL_REPOSITORY)
    for version in repository_versions(CANONICAL_REPOSITORY, model)
]


@pytest.fixture(scope="module")
def client(triton: LocalTritonServer) -> Iterator[TritonClient]:
    with TritonClient(triton.grpc_url, infer_timeout_s=30, control_key=triton.control_key) as connected:
        yield connected


@pytest.mark.parametrize(("model", "version"), SERVED, ids=[f"{m}-v{v}" for m, v in SERVED])
def test_infer_equals_eager_output_within_1e4_when_every_model_and_version(
    client: TritonClient, model: str, version: str
) -> None:
    params = load_version_params(CANONICAL_REPOSITORY, model, version)
    inputs = preprocess(request_series(16, params.window + 10, seed=61), params).inputs
    answer = client.infer(model, inputs, version=version)
    assert answer.model_version == version
    expected = eager_outputs(CANONICAL_REPOSITORY, params, inputs)
    assert answer.outputs.shape == (16, params.horizon)
    np.testing.assert_allclose(answer.outputs, expected, atol=1e-4, rtol=0)


def test_infer_reports_answering_version_when_pinned_to_1_and_2(client: TritonClient) -> None:
    answers = {}
    for version in ("1", "2"):
        params = load_version_params(CANONICAL_REPOSITORY, "lstm_timeseries", version)
        inputs = preprocess(request_series(1, 200, seed=62), params).inputs
        answers[version] = client.infer("lstm_timeseries", inputs, version=version)
    assert [a.model_version for a in answers.values()] == ["1", "2"]
    assert not np.allclose(answers["1"].outputs, answers["2"].outputs)
    newest = client.infer("lstm_timeseries", np.zeros((1, 156), np.float32))
    assert newest.model_version == "2"


@pytest.mark.parametrize(
    ("model", "version", "batch", "error"),
    [
        ("no_such_model", None, np.zeros((1, 104), np.float32), TritonModelNotFound),
        ("lstm_timeseries", "9", np.zeros((1, 104), np.float32), TritonModelNotFound),
        ("lstm_timeseries", "1", np.zeros((1, 104, 3), np.float32), TritonRejected),
        ("lstm_timeseries", "1", np.zeros((1, 104), np.float64), TritonRejected),
        ("lstm_timeseries", "1", np.zeros((500, 104), np.float32), TritonRejected),
    ],
    ids=["unknown model", "unknown version", "wrong shape", "wrong dtype", "batch over max"],
)
def test_infer_raises_permanent_error_when_request_is_wrong(
    client: TritonClient, model: str, version: str | None, batch: npt.NDArray[Any], error: type[Exception]
) -> None:
    with pytest.raises(error) as raised:
        client.infer(model, batch, version=version)
    assert raised.value.retryable is False  # type: ignore[attr-defined]


def test_infer_raises_retryable_unavailable_without_hanging_when_server_absent() -> None:
    with TritonClient(f"127.0.0.1:{find_free_port()}", infer_timeout_s=3) as absent:
        with pytest.raises(TritonUnavailable) as raised:
            absent.infer("lstm_timeseries", np.zeros((1, 104), np.float32))
        assert raised.value.retryable is True
        assert absent.is_server_ready() is False


def test_dynamic_batching_runs_fewer_executions_than_requests_when_64_concurrent(
    client: TritonClient,
) -> None:
    def counts() -> tuple[int, int]:
        stats = client.inference_statistics("lstm_timeseries")["model_stats"]
        version = next(s for s in stats if s["version"] == "1")
        return int(version["inference_stats"]["success"]["count"]), int(version["execution_count"])

    params = load_version_params(CANONICAL_REPOSITORY, "lstm_timeseries", "1")
    inputs = preprocess(request_series(64, params.window, seed=63), params).inputs
    requests_before, executions_before = counts()
    with ThreadPoolExecutor(64) as pool:
        answers = list(
            pool.map(lambda i: client.infer("lstm_timeseries", inputs[i : i + 1], version="1"), range(64))
        )
    requests_after, executions_after = counts()
    assert len(answers) == 64
    assert requests_after - requests_before == 64
    assert executions_after - executions_before < 64


def test_repository_index_and_config_describe_served_models_when_queried(client: TritonClient) -> None:
    ready = {(e.name, e.version) for e in client.repository_index() if e.state == "READY"}
    assert set(SERVED) <= ready
    config = client.model_config("lstm_timeseries")
    assert config.max_batch_size == 128
    assert list(config.version_policy.specific.versions) == [1, 2]
    assert client.model_config("lstm_timeseries") is config  # cached
