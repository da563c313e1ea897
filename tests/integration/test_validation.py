"""Every invalid request gets a 4xx naming the field, over real HTTP; never a 500."""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import pytest

from tests.support.data import request_series

pytestmark = pytest.mark.integration

GOOD = request_series(1, 200, seed=11)[0]


def with_value(index: int, value: float | None) -> list[float | None]:
    series: list[float | None] = list(GOOD)
    series[index] = value
    return series


CASES: list[tuple[str, dict[str, Any], int, str]] = [
    ("unknown model", {"model": "nope", "series": [GOOD]}, 404, "model"),
    ("unknown version", {"model": "lstm_timeseries", "version": "99", "series": [GOOD]}, 404, "version"),
    ("no series", {"model": "lstm_timeseries", "series": []}, 422, "series"),
    ("empty series", {"model": "lstm_timeseries", "series": [GOOD, []]}, 422, "series[1]"),
    ("too short", {"model": "lstm_timeseries", "series": [GOOD[:50]]}, 422, "series[0]"),
    ("too long", {"model": "lstm_timeseries", "series": [GOOD * 30]}, 422, "series[0]"),
    ("NaN", {"model": "lstm_timeseries", "series": [with_value(120, math.nan)]}, 422, "series[0][120]"),
    ("infinity", {"model": "lstm_timeseries", "series": [with_value(7, math.inf)]}, 422, "series[0][7]"),
    ("not a number", {"model": "lstm_timeseries", "series": [with_value(3, "x")]}, 422, "series[0][3]"),  # type: ignore[arg-type]
    (
        "window all missing",
        {"model": "lstm_timeseries", "version": "1", "series": [[None] * 200]},
        422,
        "series[0]",
    ),
    ("horizon too long", {"model": "lstm_timeseries", "series": [GOOD], "horizon": 500}, 422, "horizon"),
    ("horizon zero", {"model": "lstm_timeseries", "series": [GOOD], "horizon": 0}, 422, "horizon"),
    ("model missing", {"series": [GOOD]}, 422, "model"),
    ("series not a list", {"model": "lstm_timeseries", "series": "1,2,3"}, 422, "series"),
    ("unknown field", {"model": "lstm_timeseries", "series": [GOOD], "colour": "red"}, 422, "colour"),
    ("too many series", {"model": "lstm_timeseries", "series": [GOOD[-110:]] * 2001}, 413, "series"),
]


@pytest.mark.parametrize(("case", "body", "status", "field"), CASES, ids=[c[0] for c in CASES])
def test_submit_rejects_with_field_named_when_input_invalid(
    client: httpx.Client, case: str, body: dict[str, Any], status: int, field: str
) -> None:
    response = client.post("/v1/jobs", content=json.dumps(body), headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["field"] == field, error
    assert error["message"]


def test_submit_rejects_with_413_when_body_over_cap(client: httpx.Client) -> None:
    body = b'{"model": "lstm_timeseries", "series": [[' + b"1.0," * (3 * 1024 * 1024) + b"1.0]]}"
    response = client.post("/v1/jobs", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["field"] == "body"


def test_submit_rejects_with_422_when_json_malformed(client: httpx.Client) -> None:
    response = client.post("/v1/jobs", content=b'{"model": ', headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"


def test_get_job_rejects_with_422_when_wait_too_long(client: httpx.Client) -> None:
    response = client.get("/v1/jobs/abc", params={"wait_s": 3600})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "wait_s"
