"""Named and dated series, levels, quantiles and long horizons, over real HTTP, Triton and the database."""

from __future__ import annotations

import io
import re
import urllib.request
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from hybrid_core.forecast_spec import ForecastSpec
from local_stack.triton_server import LocalTritonServer
from tests.conftest import CANONICAL_REPOSITORY
from tests.integration.test_sync_forecast import forecast_now, run_job
from tests.support.data import request_series
from tests.support.reference import eager_forecast

pytestmark = pytest.mark.integration

MODEL = "lstm_timeseries"
VALUES = request_series(2, 200, seed=131)
DAYS = [s.date().isoformat() for s in pd.date_range("2024-01-01", periods=200, freq="D")]


def named(series_id: str, values: Sequence[float | None], **axis: Any) -> dict[str, Any]:
    return {"id": series_id, "values": values, **axis}


@pytest.mark.parametrize(
    ("freq", "start"),
    [("W-SAT", "2001-01-06"), ("h", "2024-03-01T00:00:00")],
)
def test_forecast_carries_ids_and_future_timestamps_when_series_are_named(
    client: httpx.Client, freq: str, start: str
) -> None:
    stamps = pd.date_range(start, periods=len(VALUES[1]), freq=freq)
    body = {
        "model": MODEL,
        "version": "1",
        "horizon": 6,
        "series": [
            named("by-start", VALUES[0], start=start, freq=freq),
            named("by-timestamps", VALUES[1], timestamps=[s.isoformat() for s in stamps]),
        ],
    }
    expected_first = pd.date_range(start, periods=len(VALUES[0]) + 6, freq=freq)[-6:]
    expected_second = pd.date_range(stamps[-1], periods=7, freq=freq)[1:]
    for forecasts in (forecast_now(client, body)["forecasts"], run_job(client, body)["forecasts"]):
        assert [f["id"] for f in forecasts] == ["by-start", "by-timestamps"]
        assert forecasts[0]["timestamps"] == [s.isoformat() for s in expected_first]
        assert forecasts[1]["timestamps"] == [s.isoformat() for s in expected_second]


def test_forecast_keeps_the_old_shape_when_series_are_bare_lists(client: httpx.Client) -> None:
    answer = forecast_now(client, {"model": MODEL, "version": "1", "series": VALUES})
    assert all(set(f) == {"mean", "lower", "upper"} for f in answer["forecasts"])
    assert answer["direct_steps"] is None


def test_named_and_bare_series_mix_when_only_some_have_ids(client: httpx.Client) -> None:
    body = {"model": MODEL, "version": "1", "series": [VALUES[0], named("b", VALUES[1])]}
    forecasts = run_job(client, body)["forecasts"]
    assert "id" not in forecasts[0] and forecasts[1]["id"] == "b"
    assert "timestamps" not in forecasts[1]


def test_narrower_levels_lie_inside_wider_ones_when_levels_asked(client: httpx.Client) -> None:
    body = {
        "model": MODEL,
        "version": "2",
        "series": VALUES,
        "horizon": 48,
        "levels": [95, 80],
        "quantiles": [0.1, 0.5, 0.9],
    }
    for forecast in run_job(client, body)["forecasts"]:
        eighty, ninety_five = forecast["intervals"]["80"], forecast["intervals"]["95"]
        assert np.all(np.array(ninety_five["lower"]) <= np.array(eighty["lower"]))
        assert np.all(np.array(eighty["lower"]) < np.array(forecast["mean"]))
        assert np.all(np.array(forecast["mean"]) < np.array(eighty["upper"]))
        assert np.all(np.array(eighty["upper"]) <= np.array(ninety_five["upper"]))
        q10, q50, q90 = (np.array(forecast["quantiles"][k]) for k in ("0.1", "0.5", "0.9"))
        assert np.all(q10 <= q50) and np.all(q50 <= q90)
        # The 80% band is the 10% and 90% quantiles.
        np.testing.assert_allclose(eighty["lower"], q10)
        np.testing.assert_allclose(eighty["upper"], q90)


@pytest.mark.parametrize(
    ("horizon", "labels"), [(None, ["interval_level"]), (30, ["direct_steps", "interval_level"])]
)
def test_forecast_arrays_match_the_json_view_when_series_are_named_dated_and_banded(
    client: httpx.Client, horizon: int | None, labels: list[str]
) -> None:
    body = {
        "model": MODEL,
        "version": "2",
        "series": [named("dated", VALUES[0], start="2001-01-06", freq="W-SAT"), VALUES[1]],
        "levels": [80],
        "quantiles": [0.5],
        **({"horizon": horizon} if horizon is not None else {}),
    }
    view = run_job(client, body)
    answer = client.get(f"/v1/jobs/{view['job_id']}/forecasts")

    assert answer.status_code == 200
    arrays = np.load(io.BytesIO(answer.content), allow_pickle=False)
    parts = ["hi-80", "id", "lo-80", "lower", "mean", "q-0.5", "timestamps", "upper"]
    assert sorted(arrays.files) == sorted(parts + labels)
    dated = view["forecasts"][0]
    assert arrays["id"].tolist() == ["dated", ""]
    assert arrays["timestamps"].tolist() == [dated["timestamps"], [""] * view["horizon"]]
    for index, forecast in enumerate(view["forecasts"]):
        np.testing.assert_array_equal(arrays["mean"][index], forecast["mean"])
        np.testing.assert_array_equal(arrays["lo-80"][index], forecast["intervals"]["80"]["lower"])
        np.testing.assert_array_equal(arrays["hi-80"][index], forecast["intervals"]["80"]["upper"])
        np.testing.assert_array_equal(arrays["q-0.5"][index], forecast["quantiles"]["0.5"])
    # What the view says besides its forecasts, as 0-d arrays.
    assert arrays["interval_level"].shape == () and arrays["interval_level"].item() == view["interval_level"]
    direct_steps = arrays["direct_steps"].item() if "direct_steps" in arrays.files else None
    assert direct_steps == view["direct_steps"] == (24 if horizon else None)


def _inference_requests(triton: LocalTritonServer, version: str) -> int:
    with urllib.request.urlopen(triton.metrics_url, timeout=5) as response:
        text = response.read().decode()
    pattern = rf'^nv_inference_request_success\{{model="{MODEL}",version="{version}"\}} (\d+)'
    match = re.search(pattern, text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def test_long_horizon_takes_one_triton_round_per_model_horizon_when_past_it(
    client: httpx.Client, triton: LocalTritonServer
) -> None:
    before = _inference_requests(triton, "1")
    answer = forecast_now(client, {"model": MODEL, "version": "1", "series": VALUES, "horizon": 72})
    assert _inference_requests(triton, "1") - before == 3  # two series, one request per round
    assert answer["direct_steps"] == 24
    expected = eager_forecast(CANONICAL_REPOSITORY, MODEL, "1", VALUES, spec=ForecastSpec(horizon=72))
    for got, want in zip(answer["forecasts"], expected, strict=True):
        assert len(got["mean"]) == 72
        np.testing.assert_allclose(got["mean"], want.mean, atol=1e-3)
        np.testing.assert_allclose(got["upper"], want.upper, atol=1e-3)


def test_job_view_says_which_steps_are_recursive_when_read_from_the_database(client: httpx.Client) -> None:
    view = run_job(client, {"model": MODEL, "version": "1", "series": VALUES[:1], "horizon": 30})
    durable = client.get(f"/v1/jobs/{view['job_id']}", params={"wait_s": 0}).json()
    assert view["direct_steps"] == durable["direct_steps"] == 24
    assert len(durable["forecasts"][0]["mean"]) == 30


@pytest.mark.parametrize(
    ("series", "extra", "field"),
    [
        ([named("a", VALUES[0]), named("a", VALUES[1])], {}, "series[1].id"),
        ([named("a", VALUES[0], start="2001-01-06", freq="fortnightly")], {}, "series[0].freq"),
        ([named("a", VALUES[0], timestamps=[*DAYS[:4], "x", *DAYS[5:]])], {}, "series[0].timestamps[4]"),
        (
            [named("a", VALUES[0], timestamps=[*DAYS[:7], *DAYS[8:], "2030-01-01"])],
            {},
            "series[0].timestamps",
        ),
        ([named("a", VALUES[0], timestamps=DAYS, freq="W-SAT")], {}, "series[0].timestamps[0]"),
        ([named("a", VALUES[0], timestamps=DAYS[:-1])], {}, "series[0].timestamps"),
        ([named("a", VALUES[0], start="2001-01-05", freq="W-SAT")], {}, "series[0].start"),
        ([VALUES[0]], {"levels": [40]}, "levels[0]"),
        ([VALUES[0]], {"quantiles": [0.5, 1.0]}, "quantiles[1]"),
        ([VALUES[0]], {"horizon": 97}, "horizon"),
    ],
)
def test_bad_names_times_and_bands_get_422_naming_the_field(
    client: httpx.Client, series: list[Any], extra: dict[str, Any], field: str
) -> None:
    body = {"model": MODEL, "version": "1", "series": series, **extra}
    for path in ("/v1/jobs", f"/v1/models/{MODEL}/forecast"):
        response = client.post(path, json=body)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == field
