"""hybrid_client's forecast, actuals, API key and CLI input against the fake API: requests and frames."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from hybrid_client import RequestLimits
from tests.support.fake_api import FakeApi, client_of, weekly_frame


def test_forecast_sends_named_series_with_start_and_freq_when_ds_is_regular() -> None:
    api = FakeApi()
    with client_of(api) as client:
        client.forecast(weekly_frame(), "lstm_timeseries", horizon=3, levels=[80, 95], version="2")
    (body,) = api.bodies()
    assert body["model"] == "lstm_timeseries" and body["version"] == "2" and body["levels"] == [80, 95]
    assert [s["id"] for s in body["series"]] == ["a", "b"]
    assert body["series"][0]["start"] == "2001-01-06T00:00:00" and body["series"][0]["freq"] == "W-SAT"
    assert "quantiles" not in body and "routing_key" not in body


def test_forecast_sends_null_for_gaps_when_a_series_misses_timestamps() -> None:
    api = FakeApi()
    frame = weekly_frame(("a",), 10).drop(index=[4, 5])
    with client_of(api) as client:
        client.forecast(frame, "m", freq="W-SAT")
    values = api.bodies()[0]["series"][0]["values"]
    assert len(values) == 10 and values[4] is None and values[5] is None and values[6] == 6.0


def test_forecast_returns_long_frame_with_level_and_quantile_columns_when_asked() -> None:
    with client_of(FakeApi()) as client:
        out = client.forecast(weekly_frame(), "m", horizon=3, levels=[80, 95], quantiles=[0.1, 0.9])
    assert list(out.columns) == [
        "unique_id",
        "ds",
        "mean",
        "lo-80",
        "hi-80",
        "lo-95",
        "hi-95",
        "q-0.1",
        "q-0.9",
    ]
    assert list(out["unique_id"]) == ["a"] * 3 + ["b"] * 3
    assert out["ds"].iloc[0] == pd.Timestamp("2001-08-04")  # the 31st Saturday from 2001-01-06
    assert out.loc[0, "lo-80"] == pytest.approx(29 - 8) and out.loc[0, "hi-95"] == pytest.approx(29 + 9.5)
    assert out.attrs["version"] == "1"


def test_forecast_gives_the_versions_own_band_when_no_level_asked() -> None:
    with client_of(FakeApi()) as client:
        out = client.forecast(weekly_frame(), "m")
    assert list(out.columns) == ["unique_id", "ds", "mean", "lo-90", "hi-90"]


def test_forecast_numbers_steps_on_when_ds_is_an_integer() -> None:
    api = FakeApi()
    frame = pd.DataFrame({"unique_id": [7] * 5, "ds": range(1, 6), "y": [1.0, 2, 3, 4, 5]})
    with client_of(api) as client:
        out = client.forecast(frame, "m", horizon=2)
    assert api.bodies()[0]["series"][0] == {"id": "7", "values": [1.0, 2, 3, 4, 5]}
    assert list(out["ds"]) == [6, 7] and list(out["unique_id"]) == [7, 7]


def test_forecast_splits_into_several_requests_with_one_routing_key_when_frame_is_large() -> None:
    api = FakeApi()
    frame = weekly_frame(tuple("abcde"))
    with client_of(api, limits=RequestLimits(max_series=2)) as client:
        out = client.forecast(frame, "m", horizon=2)
    bodies = api.bodies()
    assert [len(b["series"]) for b in bodies] == [2, 2, 1]
    assert len({b["routing_key"] for b in bodies}) == 1
    assert list(out["unique_id"].unique()) == list("abcde")


def test_forecast_refuses_frame_when_frequency_cannot_be_inferred() -> None:
    frame = pd.DataFrame(
        {"unique_id": "a", "ds": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-10"]), "y": [1.0, 2, 3]}
    )
    with client_of(FakeApi()) as client, pytest.raises(ValueError, match="freq="):
        client.forecast(frame, "m")


def test_actuals_sends_timestamps_and_observed_values_when_given_a_frame() -> None:
    api = FakeApi()
    frame = weekly_frame(("a",), 3)
    frame.loc[1, "y"] = np.nan
    with client_of(api) as client:
        points = client.actuals(frame, "m")
    (body,) = api.bodies()
    assert points == 2
    assert body["series"] == [
        {"id": "a", "timestamps": ["2001-01-06T00:00:00", "2001-01-20T00:00:00"], "values": [0.0, 2.0]}
    ]


def test_read_input_names_pyarrow_when_parquet_cannot_be_read(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hybrid_client.cli import read_input

    def no_engine(*_: object, **__: object) -> pd.DataFrame:
        raise ImportError("Unable to find a usable engine")

    monkeypatch.setattr(pd, "read_parquet", no_engine)
    with pytest.raises(SystemExit, match="pyarrow"):
        read_input(tmp_path / "series.parquet")


def test_read_input_takes_id_ds_y_and_parses_dates_when_given_a_csv(tmp_path: Any) -> None:
    from hybrid_client.cli import read_input

    path = tmp_path / "series.csv"
    weekly_frame(("a",), 3).rename(columns={"unique_id": "id"}).to_csv(path, index=False)
    frame = read_input(path)
    assert list(frame.columns) == ["unique_id", "ds", "y"]
    assert pd.api.types.is_datetime64_any_dtype(frame["ds"])


def test_client_sends_bearer_key_from_environment_when_no_key_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYBRID_API_KEY", "k-123")
    api = FakeApi()
    with client_of(api) as client:
        client.model("m")
    assert api.requests[0].headers["authorization"] == "Bearer k-123"
