"""``POST /v1/models/{model}/forecast``: the API's synchronous path, over real HTTP, Triton and PostgreSQL."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import httpx
import numpy as np
import pytest

from hybrid_core.version_params import load_version_params
from tests.conftest import CANONICAL_REPOSITORY
from tests.support.data import request_series
from tests.support.reference import eager_forecast

pytestmark = pytest.mark.integration

MODEL = "lstm_timeseries"
PATH = f"/v1/models/{MODEL}/forecast"
GOOD = request_series(1, 200, seed=31)[0]


def forecast_now(client: httpx.Client, body: dict[str, Any], **params: str) -> dict[str, Any]:
    response = client.post(PATH, json=body, params=params)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def run_job(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    accepted = client.post("/v1/jobs", json=body)
    assert accepted.status_code == 202, accepted.text
    view: dict[str, Any] = client.get(f"/v1/jobs/{accepted.json()['job_id']}", params={"wait_s": 60}).json()
    assert view["status"] == "succeeded", view
    return view


def assert_same_forecasts(got: list[dict[str, Any]], want: list[dict[str, Any]], atol: float) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        for key in ("mean", "lower", "upper"):
            np.testing.assert_allclose(a[key], b[key], atol=atol)


def test_forecast_matches_the_eager_model_when_version_pinned(client: httpx.Client) -> None:
    series = request_series(3, 200, seed=32)
    answer = forecast_now(client, {"model": MODEL, "version": "1", "series": series, "horizon": 12})
    params = load_version_params(CANONICAL_REPOSITORY, MODEL, "1")
    assert (answer["model"], answer["version"], answer["arm"]) == (MODEL, "1", "pinned")
    assert answer["horizon"] == 12
    assert answer["interval_level"] == params.residuals.interval_level
    assert answer["job_id"] is None
    assert {"preprocess_s", "infer_s", "postprocess_s", "total_s"} <= set(answer["timings_s"])
    expected = eager_forecast(CANONICAL_REPOSITORY, MODEL, "1", series, 12)
    assert_same_forecasts(answer["forecasts"], [vars(f) for f in expected], atol=1e-3)
    assert all(len(f["mean"]) == 12 for f in answer["forecasts"])


def test_forecast_equals_the_job_path_when_same_input_and_version(client: httpx.Client) -> None:
    body = {"model": MODEL, "version": "1", "series": request_series(5, 150, seed=33)}
    answer = forecast_now(client, body)
    view = run_job(client, body)
    assert (answer["version"], answer["horizon"]) == (view["version"], view["horizon"])
    assert answer["interval_level"] == view["interval_level"]
    # Same code and model; only the dynamic batch a row lands in may differ (float rounding).
    assert_same_forecasts(answer["forecasts"], view["forecasts"], atol=1e-4)


def test_forecast_uses_the_newest_ready_version_when_none_pinned(client: httpx.Client) -> None:
    answer = forecast_now(client, {"model": MODEL, "series": [GOOD]})
    assert answer["arm"] in ("latest", "stable", "canary")
    expected = eager_forecast(CANONICAL_REPOSITORY, MODEL, answer["version"], [GOOD])
    assert_same_forecasts(answer["forecasts"], [vars(f) for f in expected], atol=1e-3)


def test_forecast_rejects_with_422_naming_model_when_path_and_body_differ(client: httpx.Client) -> None:
    response = client.post(PATH, json={"model": "lstm_timeseries_onnx", "series": [GOOD]})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "model"


def _with_value(index: int, value: float) -> list[float]:
    series = list(GOOD)
    series[index] = value
    return series


CASES: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("unknown model", "nope", {"model": "nope", "series": [GOOD]}, 404, "model"),
    ("unknown version", MODEL, {"model": MODEL, "version": "99", "series": [GOOD]}, 404, "version"),
    ("no series", MODEL, {"model": MODEL, "series": []}, 422, "series"),
    ("too short", MODEL, {"model": MODEL, "series": [GOOD, GOOD[:50]]}, 422, "series[1]"),
    ("NaN", MODEL, {"model": MODEL, "series": [_with_value(120, math.nan)]}, 422, "series[0][120]"),
    ("horizon too long", MODEL, {"model": MODEL, "series": [GOOD], "horizon": 500}, 422, "horizon"),
    ("unknown field", MODEL, {"model": MODEL, "series": [GOOD], "colour": "red"}, 422, "colour"),
    ("too many series", MODEL, {"model": MODEL, "series": [GOOD[-110:]] * 2001}, 413, "series"),
]


@pytest.mark.parametrize(("case", "model", "body", "status", "field"), CASES, ids=[c[0] for c in CASES])
def test_forecast_rejects_with_field_named_when_input_invalid(
    client: httpx.Client, case: str, model: str, body: dict[str, Any], status: int, field: str
) -> None:
    response = client.post(
        f"/v1/models/{model}/forecast",
        content=json.dumps(body),  # json.dumps writes NaN, which httpx's json= refuses
        headers={"content-type": "application/json"},
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["field"] == field, error
    assert error["message"]


def test_forecast_is_stored_as_a_finished_job_when_record_true(client: httpx.Client) -> None:
    series = request_series(2, 200, seed=34)
    answer = forecast_now(client, {"model": MODEL, "version": "1", "series": series}, record="true")
    assert answer["job_id"]
    view = client.get(f"/v1/jobs/{answer['job_id']}").json()
    assert view["status"] == "succeeded", view
    assert (view["model"], view["version"], view["arm"]) == (MODEL, "1", "pinned")
    assert view["series_count"] == 2
    assert view["horizon"] == answer["horizon"]
    assert_same_forecasts(view["forecasts"], answer["forecasts"], atol=1e-9)


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"{name}\{{(.*)\}} (\S+)$", line)
        if match and all(f'{k}="{v}"' in match[1] for k, v in labels.items()):
            total += float(match[2])
    return total


def test_forecast_counts_in_the_job_and_http_metrics(client: httpx.Client) -> None:
    before = client.get("/metrics").text
    forecast_now(client, {"model": MODEL, "version": "1", "series": [GOOD]})
    after = client.get("/metrics").text
    finished = "hybrid_jobs_finished_total"
    labels = {"model": MODEL, "version": "1", "status": "succeeded"}
    assert _metric(after, finished, **labels) == _metric(before, finished, **labels) + 1
    route = {"route": "/v1/models/{model}/forecast", "method": "POST"}
    assert _metric(after, "hybrid_http_requests_total", **route) > _metric(
        before, "hybrid_http_requests_total", **route
    )
    stage = {"stage": "infer", "model": MODEL, "version": "1"}
    assert _metric(after, "hybrid_job_stage_duration_seconds_count", **stage) > _metric(
        before, "hybrid_job_stage_duration_seconds_count", **stage
    )
