"""The main path end to end: REST -> Celery worker -> Triton -> PostgreSQL/Redis, all real."""

from __future__ import annotations

import io
from typing import Any

import httpx
import numpy as np
import pytest
from kafka import KafkaConsumer

from hybrid_core.schemas import JobEvent
from hybrid_core.version_params import load_version_params
from tests.conftest import CANONICAL_REPOSITORY, EVENTS_TOPIC
from tests.support.data import request_series
from tests.support.reference import eager_forecast

pytestmark = pytest.mark.integration


def run_job(client: httpx.Client, body: dict[str, Any], wait_s: float = 60) -> dict[str, Any]:
    accepted = client.post("/v1/jobs", json=body)
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["job_id"]
    view: dict[str, Any] = client.get(f"/v1/jobs/{job_id}", params={"wait_s": wait_s}).json()
    assert view["status"] == "succeeded", view
    return view


def assert_matches_eager(view: dict[str, Any], model: str, series: list[list[float]]) -> None:
    expected = eager_forecast(CANONICAL_REPOSITORY, model, view["version"], series, view["horizon"])
    assert len(view["forecasts"]) == len(series)
    for got, want in zip(view["forecasts"], expected, strict=True):
        np.testing.assert_allclose(got["mean"], want.mean, atol=1e-3)
        np.testing.assert_allclose(got["lower"], want.lower, atol=1e-3)
        np.testing.assert_allclose(got["upper"], want.upper, atol=1e-3)


def test_job_succeeds_with_eager_forecast_when_one_series(client: httpx.Client) -> None:
    series = request_series(1, 200, seed=1)
    view = run_job(client, {"model": "lstm_timeseries", "series": series})
    params = load_version_params(CANONICAL_REPOSITORY, "lstm_timeseries", view["version"])
    assert view["horizon"] == params.horizon
    assert view["error"] is None
    assert view["interval_level"] == params.residuals.interval_level
    assert_matches_eager(view, "lstm_timeseries", series)
    forecast = view["forecasts"][0]
    bounds = zip(forecast["lower"], forecast["mean"], forecast["upper"], strict=True)
    assert all(lo <= m <= up for lo, m, up in bounds)


def test_job_succeeds_with_eager_forecasts_when_1000_series(client: httpx.Client) -> None:
    series = request_series(1000, 180, seed=2)
    view = run_job(client, {"model": "lstm_timeseries", "series": series, "version": "1", "horizon": 12})
    assert view["series_count"] == 1000
    assert view["version"] == "1"
    assert all(len(f["mean"]) == 12 for f in view["forecasts"])
    assert_matches_eager(view, "lstm_timeseries", series)

    answer = client.get(f"/v1/jobs/{view['job_id']}/forecasts")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/x-npz"
    arrays = np.load(io.BytesIO(answer.content), allow_pickle=False)
    assert sorted(arrays.files) == ["interval_level", "lower", "mean", "upper"]
    assert float(arrays["interval_level"]) == view["interval_level"]
    for part in ("mean", "lower", "upper"):
        assert arrays[part].shape == (1000, 12)
        np.testing.assert_array_equal(arrays[part], [f[part] for f in view["forecasts"]])


@pytest.mark.parametrize("model", ["lstm_timeseries_onnx", "moving_average"])
def test_job_succeeds_with_eager_forecast_when_other_models(client: httpx.Client, model: str) -> None:
    series = request_series(3, 200, seed=3)
    view = run_job(client, {"model": model, "series": series})
    assert_matches_eager(view, model, series)


def test_job_interpolates_missing_points_when_series_has_nulls(client: httpx.Client) -> None:
    series = request_series(1, 200, seed=4)
    gappy: list[list[float | None]] = [list(series[0])]
    gappy[0][150] = None
    gappy[0][151] = None
    filled = list(series[0])
    filled[150] = filled[149] + (filled[152] - filled[149]) / 3
    filled[151] = filled[149] + 2 * (filled[152] - filled[149]) / 3
    view = run_job(client, {"model": "lstm_timeseries", "series": gappy, "version": "1"})
    assert_matches_eager(view, "lstm_timeseries", [filled])


def test_job_pinned_versions_differ_when_versions_1_and_2(client: httpx.Client) -> None:
    series = request_series(1, 300, seed=5)
    first = run_job(client, {"model": "lstm_timeseries", "series": series, "version": "1"})
    second = run_job(client, {"model": "lstm_timeseries", "series": series, "version": "2"})
    assert (first["version"], second["version"]) == ("1", "2")
    assert_matches_eager(first, "lstm_timeseries", series)
    assert_matches_eager(second, "lstm_timeseries", series)
    assert not np.allclose(first["forecasts"][0]["mean"], second["forecasts"][0]["mean"])


def test_get_job_returns_404_when_job_unknown(client: httpx.Client) -> None:
    response = client.get("/v1/jobs/0123456789abcdef0123456789abcdef")
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "job_id"


def test_models_lists_ready_versions_with_window_and_horizon(client: httpx.Client) -> None:
    response = client.get("/v1/models/lstm_timeseries")
    assert response.status_code == 200
    body = response.json()
    assert body["ready_versions"] == ["1", "2"]
    windows = {v["version"]: v["window"] for v in body["versions"]}
    for version, window in windows.items():
        assert window == load_version_params(CANONICAL_REPOSITORY, "lstm_timeseries", version).window
    names = {m["name"] for m in client.get("/v1/models").json()}
    assert {"lstm_timeseries", "lstm_timeseries_onnx", "moving_average"} <= names


def test_readyz_is_200_when_all_dependencies_ready(client: httpx.Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["missing"] == []


def test_job_event_is_consumed_back_when_job_succeeds(client: httpx.Client, kafka: str) -> None:
    series = request_series(2, 200, seed=6)
    view = run_job(client, {"model": "lstm_timeseries", "series": series, "version": "2"})
    consumer = KafkaConsumer(
        EVENTS_TOPIC,
        bootstrap_servers=kafka,
        group_id=f"test-{view['job_id']}",
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        consumer_timeout_ms=30_000,
    )
    try:
        event = next(
            JobEvent.model_validate_json(record.value)
            for record in consumer
            if record.key == view["job_id"].encode()
        )
    finally:
        consumer.close()
    assert event.status == "succeeded"
    assert (event.model, event.version, event.series_count) == ("lstm_timeseries", "2", 2)
    assert event.forecasts is not None
    assert [f.mean for f in event.forecasts] == [f["mean"] for f in view["forecasts"]]
    assert event.timings_s["infer_s"] > 0
