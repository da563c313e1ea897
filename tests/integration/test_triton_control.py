"""Triton's restricted protocols on the real local tritonserver: model control needs the key.

The session's Triton restricts the model-repository, shared-memory, logging and trace protocols
to callers that send its control key; inference, health, metadata and model config stay open.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from hybrid_core.processing import preprocess
from hybrid_core.version_params import load_version_params
from local_stack.triton_server import LocalTritonServer
from tests.conftest import CANONICAL_REPOSITORY
from tests.support.data import request_series
from triton_client import ControlKey, TritonClient, TritonUnavailable

pytestmark = pytest.mark.integration

MODEL = "moving_average"


@pytest.fixture(scope="module")
def keyless(triton: LocalTritonServer) -> Iterator[TritonClient]:
    with TritonClient(triton.grpc_url, infer_timeout_s=30, load_timeout_s=30) as client:
        yield client


@pytest.fixture(scope="module")
def keyed(triton: LocalTritonServer) -> Iterator[TritonClient]:
    with TritonClient(triton.grpc_url, load_timeout_s=60, control_key=triton.control_key) as client:
        yield client


def test_load_and_unload_refused_when_no_control_header(
    keyless: TritonClient, triton: LocalTritonServer
) -> None:
    with pytest.raises(TritonUnavailable, match="restricted"):
        keyless.unload_model(MODEL)
    with pytest.raises(TritonUnavailable, match="restricted"):
        keyless.load_model(MODEL)
    with pytest.raises(TritonUnavailable, match="restricted"):
        keyless.repository_index()
    assert triton.ready_models()[MODEL] == ["1"], "a refused unload must leave the model served"


def test_load_and_unload_refused_when_control_secret_wrong(triton: LocalTritonServer) -> None:
    wrong = ControlKey(triton.control_key.header, ControlKey.generate().secret)
    with TritonClient(triton.grpc_url, load_timeout_s=30, control_key=wrong) as client:
        with pytest.raises(TritonUnavailable):
            client.unload_model(MODEL)
        with pytest.raises(TritonUnavailable):
            client.load_model(MODEL, config={"version_policy": {"specific": {"versions": [1]}}})
    assert triton.ready_models()[MODEL] == ["1"]


def test_http_admin_apis_answer_403_when_no_control_header(triton: LocalTritonServer) -> None:
    with httpx.Client(base_url=triton.http_url, timeout=30) as http:
        assert http.post(f"/v2/repository/models/{MODEL}/unload").status_code == 403
        assert http.post(f"/v2/repository/models/{MODEL}/load").status_code == 403
        assert http.post("/v2/repository/index").status_code == 403
        assert http.get("/v2/logging").status_code == 403
        assert http.get("/v2/trace/setting").status_code == 403
        assert http.get("/v2/systemsharedmemory/status").status_code == 403
        index = http.post("/v2/repository/index", headers=triton.control_key.http_headers())
        assert index.status_code == 200
        assert any(entry["name"] == MODEL and entry.get("state") == "READY" for entry in index.json())
    assert triton.ready_models()[MODEL] == ["1"]


def test_infer_and_config_answer_when_no_control_header(keyless: TritonClient) -> None:
    params = load_version_params(CANONICAL_REPOSITORY, MODEL, "1")
    inputs = preprocess(request_series(2, params.window + 5, seed=71), params).inputs
    answer = keyless.infer(MODEL, inputs)
    assert answer.model_version == "1"
    assert answer.outputs.shape == (2, params.horizon)
    assert keyless.is_model_ready(MODEL, "1")
    assert keyless.model_config(MODEL).name == MODEL


def test_reload_keeps_model_ready_when_control_key_sent(keyed: TritonClient) -> None:
    assert ("moving_average", "1") in {(e.name, e.version) for e in keyed.repository_index()}
    keyed.load_model(MODEL)
    assert keyed.ready_versions(MODEL) == ["1"]
