"""hybrid_client and ``hybrid-inference backtest`` against the real API, worker, Triton and database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from hybrid_cli.main import main
from hybrid_client import HybridClient, InvalidInput, JobCancelled, RequestLimits, Submission, WaitTimeout
from hybrid_client._calls import submission_frame
from local_stack.processes import ManagedProcess
from local_stack.triton_server import find_free_port
from tests.support.data import request_series
from tests.support.processes import start_api
from tests.support.services import postgres_database

pytestmark = pytest.mark.integration

MODEL = "lstm_timeseries"


@pytest.fixture(scope="module")
def idle_api(service_env: dict[str, str], session_dir: Path) -> Iterator[str]:
    """An API on a database and Redis database of its own that no worker consumes: jobs stay queued."""
    with postgres_database() as database_url:
        env = service_env | {
            "HYBRID_DATABASE_URL": database_url,
            "HYBRID_REDIS_URL": service_env["HYBRID_REDIS_URL"].rsplit("/", 1)[0] + "/9",
        }
        port = find_free_port()
        process = start_api(env, session_dir / "logs" / "api-idle.log", port)
        yield f"http://127.0.0.1:{port}"
        process.stop()


def long_frame(freq: str, start: str, points: int = 200) -> pd.DataFrame:
    values = request_series(2, points, seed=313)
    stamps = pd.date_range(start, periods=points, freq=freq)
    return pd.concat(
        [
            pd.DataFrame({"unique_id": uid, "ds": stamps, "y": v})
            for uid, v in zip(("north", "south"), values, strict=True)
        ],
        ignore_index=True,
    )


@pytest.mark.parametrize(("freq", "start"), [("W-SAT", "2001-01-06"), ("h", "2024-03-01T00:00")])
def test_client_round_trips_ids_and_dates_when_forecasting_and_waiting_for_jobs(
    api: str, worker: ManagedProcess, freq: str, start: str
) -> None:
    frame = long_frame(freq, start)
    expected_ds = list(pd.date_range(frame["ds"].max(), periods=31, freq=freq)[1:])
    with HybridClient(api) as client:
        now = client.forecast(frame, MODEL, version="1", horizon=30, levels=[80, 95], quantiles=[0.5])
        submission = client.submit(frame, MODEL, version="1", horizon=30, levels=[80, 95], quantiles=[0.5])
        later = client.wait(submission, timeout_s=120)
    for out in (now, later):
        assert list(out.columns) == ["unique_id", "ds", "mean", "lo-80", "hi-80", "lo-95", "hi-95", "q-0.5"]
        assert list(out["unique_id"].unique()) == ["north", "south"]
        for _, rows in out.groupby("unique_id"):
            assert list(rows["ds"]) == expected_ds
        assert (out["lo-95"] <= out["lo-80"]).all() and (out["hi-80"] <= out["hi-95"]).all()
        assert out.attrs["version"] == "1" and out.attrs["direct_steps"] == 24
    np.testing.assert_allclose(now["mean"], later["mean"], rtol=1e-6)
    # The job was read as arrays, the sync answer as JSON: the same frame either way.
    pd.testing.assert_frame_equal(now, later, rtol=1e-6)
    assert {key: value for key, value in later.attrs.items() if key != "job_id"} == now.attrs


class RecordingTransport(httpx.HTTPTransport):
    """Real HTTP, remembering each request's method and path."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.calls.append((request.method, request.url.path))
        return super().handle_request(request)


def ragged_frame(dated: bool) -> pd.DataFrame:
    """Three series of 200, 190 and 180 points, the second missing two; dated weekly, or steps."""
    values = request_series(3, 200, seed=29)
    parts = []
    for index, (uid, series) in enumerate(zip(("north", "south", "east"), values, strict=True)):
        count = 200 - 10 * index
        ds: Any = pd.date_range(end="2004-12-25", periods=count, freq="W-SAT") if dated else range(count)
        part = pd.DataFrame({"unique_id": uid, "ds": ds, "y": series[-count:]})
        parts.append(part.drop(index=[50, 51]) if index == 1 else part)
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("dated", [True, False], ids=["dated-weekly", "integer-steps"])
def test_client_submits_the_same_job_as_arrays_or_json_and_waits_without_reading_the_model(
    api: str, worker: ManagedProcess, client: httpx.Client, dated: bool
) -> None:
    frame = ragged_frame(dated)
    asked: dict[str, Any] = {"version": "1", "horizon": 30, "levels": [80, 95], "quantiles": [0.5]}
    outs, views = [], []
    for min_points in (1, 10**9):  # every chunk as arrays, then as JSON
        transport = RecordingTransport()
        limits = RequestLimits(array_min_points=min_points)
        with HybridClient(api, limits=limits, transport=transport) as sdk:
            submission = sdk.submit(frame, MODEL, **asked)
            outs.append(sdk.wait(submission, timeout_s=120))
        path = "/v1/jobs/arrays" if min_points == 1 else "/v1/jobs"
        assert [call for call in transport.calls if call[0] == "POST"] == [("POST", path)]
        assert not any(p.startswith("/v1/models") for _, p in transport.calls), transport.calls
        views.append(client.get(f"/v1/jobs/{submission.job_ids[0]}").json())

    arrays, as_json = outs
    pd.testing.assert_frame_equal(arrays, as_json, check_exact=True)
    assert {k: v for k, v in arrays.attrs.items() if k != "job_id"} == {
        k: v for k, v in as_json.attrs.items() if k != "job_id"
    }
    assert arrays.attrs["direct_steps"] == 24 and arrays.attrs["interval_level"] == 0.9
    same = ("status", "model", "version", "arm", "horizon", "series_count", "interval_level", "direct_steps")
    assert {k: views[0][k] for k in same} == {k: views[1][k] for k in same}
    assert views[0]["forecasts"] == views[1]["forecasts"]


def series_body(named: bool, dated: bool, values: list[float]) -> dict[str, Any] | list[float]:
    """An unnamed series is a bare list (so undated); a named one an object, dated or not."""
    if not named:
        return values
    body: dict[str, Any] = {"id": f"s{len(values)}", "values": values}
    if dated:
        body |= {"start": "2001-01-06", "freq": "W-SAT"}
    return body


@pytest.mark.parametrize(
    ("shapes", "asked"),
    [
        ([(True, True), (False, False), (True, False)], {"levels": [80, 95], "quantiles": [0.1, 0.5]}),
        ([(False, False), (False, False)], {}),
        ([(True, True), (True, True)], {"horizon": 30}),
    ],
    ids=["mixed-with-levels-quantiles", "unnamed-undated-own-band", "named-dated-recursive"],
)
def test_client_reads_a_jobs_arrays_as_the_frame_of_its_json_view_when_series_are_named_or_dated_or_not(
    api: str, client: httpx.Client, shapes: list[tuple[bool, bool]], asked: dict[str, Any]
) -> None:
    values = request_series(len(shapes), 200, seed=17)
    series = [
        series_body(n, d, v[: 190 + i]) for i, ((n, d), v) in enumerate(zip(shapes, values, strict=True))
    ]
    answer = client.post("/v1/jobs", json={"model": MODEL, "version": "1", "series": series, **asked})
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    view = client.get(f"/v1/jobs/{accepted['job_id']}", params={"wait_s": 60}).json()
    assert view["status"] == "succeeded", view
    submission = Submission((accepted["job_id"],), MODEL, accepted["version"], accepted["arm"])
    with HybridClient(api) as sdk:
        out = sdk.wait(submission, timeout_s=60)
    expected = submission_frame(submission, [view])
    pd.testing.assert_frame_equal(out, expected, check_exact=True)
    assert out.attrs == expected.attrs


def test_client_raises_job_cancelled_and_wait_timeout_when_its_jobs_never_run(idle_api: str) -> None:
    frame = long_frame("W-SAT", "2001-01-06")
    with HybridClient(idle_api) as client:
        queued = client.submit(frame, MODEL, version="1")
        with pytest.raises(WaitTimeout) as timed_out:
            client.wait(queued, timeout_s=0.5)
        httpx.delete(f"{idle_api}/v1/jobs/{queued.job_ids[0]}").raise_for_status()
        with pytest.raises(JobCancelled) as cancelled:
            client.wait(queued, timeout_s=5)
    assert timed_out.value.retryable and "queued" in timed_out.value.message
    assert cancelled.value.code == "cancelled"


def test_client_raises_invalid_input_naming_the_series_when_it_is_too_short(api: str) -> None:
    frame = long_frame("W-SAT", "2001-01-06", points=50)
    with HybridClient(api) as client, pytest.raises(InvalidInput) as caught:
        client.forecast(frame, MODEL, version="1")
    assert caught.value.status == 422 and caught.value.field == "series[0]"


def test_backtest_cli_prints_scores_of_each_version_and_the_baseline_when_given_a_csv(
    api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "series.csv"
    long_frame("W-SAT", "1990-01-06", points=220).rename(columns={"unique_id": "id"}).to_csv(csv, index=False)
    png = tmp_path / "backtest.png"
    argv = ["backtest", "--model", MODEL, "--input", str(csv), "--api", api, "--horizon", "12"]
    assert main([*argv, "--folds", "2", "--version", "1", "--version", "2", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    rows = [
        line
        for line in out.splitlines()
        if line.startswith(f"| {MODEL} ") or line.startswith("| moving_average")
    ]
    assert [row.split(" | ")[1] for row in rows] == ["1", "2", "1"]
    assert "coverage 80%" in out and "coverage 95%" in out
    for row in rows:
        series, points, mae, mase = row.split(" | ")[2:6]
        assert (series, points) == ("2", str(2 * 2 * 12))
        assert float(mae) > 0 and float(mase) > 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_client_records_actuals_for_the_forecast_dates_when_posted(api: str) -> None:
    frame = long_frame("W-SAT", "2001-01-06")
    with HybridClient(api) as client:
        forecast = client.forecast(frame, MODEL, version="1", horizon=4)
        observed = forecast[["unique_id", "ds"]].assign(y=forecast["mean"] + 0.5)
        assert client.actuals(observed, MODEL) == 8
