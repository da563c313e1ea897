"""``POST /v1/jobs/arrays``: a job's series as an ``.npz`` body, over real HTTP, Triton and the database."""

from __future__ import annotations

import io
from typing import Any

import httpx
import numpy as np
import pytest

from tests.integration.test_forecast_shape import MODEL, VALUES
from tests.integration.test_sync_forecast import run_job

pytestmark = pytest.mark.integration

NPZ = {"Content-Type": "application/x-npz"}


def npz(**arrays: Any) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def run_array_job(client: httpx.Client, body: bytes, params: dict[str, Any]) -> dict[str, Any]:
    accepted = client.post("/v1/jobs/arrays", content=body, params=params, headers=NPZ)
    assert accepted.status_code == 202, accepted.text
    view: dict[str, Any] = client.get(f"/v1/jobs/{accepted.json()['job_id']}", params={"wait_s": 60}).json()
    assert view["status"] == "succeeded", view
    return view


def test_array_job_answers_the_json_jobs_forecasts_when_series_are_ragged_named_dated_and_banded(
    client: httpx.Client,
) -> None:
    short = VALUES[1][:180]
    padded = np.full((2, len(VALUES[0])), np.nan)
    padded[0] = VALUES[0]
    padded[1, : len(short)] = short
    arrays = npz(
        values=padded,
        lengths=np.array([len(VALUES[0]), len(short)]),
        id=np.array(["first", "second"]),
        start=np.array(["2001-01-06", "2002-01-05"]),
    )
    options = {
        "model": MODEL,
        "version": "2",
        "freq": "W-SAT",
        "levels": [80, 95],
        "quantiles": [0.5],
        "horizon": 30,
    }
    named = [
        {"id": "first", "values": VALUES[0], "start": "2001-01-06", "freq": "W-SAT"},
        {"id": "second", "values": short, "start": "2002-01-05", "freq": "W-SAT"},
    ]
    json_options = {key: value for key, value in options.items() if key != "freq"}

    from_arrays = run_array_job(client, arrays, options)
    from_json = run_job(client, {**json_options, "series": named})

    assert from_arrays["series_count"] == 2
    assert from_arrays["forecasts"] == from_json["forecasts"]
    answer = client.get(f"/v1/jobs/{from_arrays['job_id']}/forecasts")
    assert answer.status_code == 200
    assert np.load(io.BytesIO(answer.content))["id"].tolist() == ["first", "second"]


def test_array_job_refuses_an_infinite_value_naming_its_element(client: httpx.Client) -> None:
    values = np.array([VALUES[0], VALUES[1]])
    values[1, -3] = np.inf
    answer = client.post("/v1/jobs/arrays", content=npz(values=values), params={"model": MODEL}, headers=NPZ)

    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == f"values[1][{values.shape[1] - 3}]"


@pytest.mark.parametrize(
    ("body", "params", "headers", "field"),
    [
        (b"not an archive", {"model": MODEL}, NPZ, "body"),
        (npz(values=np.ones((1, 200))), {"model": MODEL, "levels": "eighty"}, NPZ, "levels[0]"),
        (npz(values=np.ones((1, 200))), {"model": MODEL, "colour": "red"}, NPZ, "colour"),
        (npz(values=np.ones((1, 200))), {}, NPZ, "model"),
        (b'{"model": "lstm_timeseries"}', {"model": MODEL}, {"Content-Type": "application/json"}, "body"),
    ],
)
def test_array_job_says_422_naming_the_field_when_the_body_or_a_parameter_is_wrong(
    client: httpx.Client, body: bytes, params: dict[str, Any], headers: dict[str, str], field: str
) -> None:
    answer = client.post("/v1/jobs/arrays", content=body, params=params, headers=headers)

    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field


def test_array_job_with_an_idempotency_key_replays_its_job_and_refuses_another_body(
    client: httpx.Client,
) -> None:
    body = npz(values=np.array(VALUES))
    headers = {**NPZ, "Idempotency-Key": "arrays-once"}
    params = {"model": MODEL, "version": "1"}

    first = client.post("/v1/jobs/arrays", content=body, params=params, headers=headers)
    again = client.post("/v1/jobs/arrays", content=body, params=params, headers=headers)
    other = client.post("/v1/jobs/arrays", content=body, params={**params, "horizon": 3}, headers=headers)

    assert first.status_code == again.status_code == 202
    assert again.json()["job_id"] == first.json()["job_id"]
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
