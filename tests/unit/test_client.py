"""hybrid_client against an in-process fake of the API (httpx.MockTransport): requests, frames, errors."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from hybrid_client import (
    AsyncHybridClient,
    HybridClient,
    InvalidInput,
    JobCancelled,
    JobFailed,
    RequestLimits,
    RetryPolicy,
    ServiceUnavailable,
    Submission,
    TooManyRequests,
    WaitTimeout,
)
from hybrid_client._calls import submission_frame
from hybrid_client._protocol import npz_arrays
from hybrid_client.frames import arrays_frame, forecasts_frame, label

Handler = Callable[[httpx.Request], httpx.Response]


def weekly_frame(ids: tuple[str, ...] = ("a", "b"), points: int = 30) -> pd.DataFrame:
    stamps = pd.date_range("2001-01-06", periods=points, freq="W-SAT")
    return pd.concat(
        [
            pd.DataFrame({"unique_id": uid, "ds": stamps, "y": np.arange(points, dtype=float) + 10 * i})
            for i, uid in enumerate(ids)
        ],
        ignore_index=True,
    )


VERSION = {"version": "1", "window": 4, "horizon": 2, "interval_level": 0.9}
"""The one version of every model of the fake: forecasts past 2 steps are partly recursive."""


def fake_forecast(body: dict[str, Any]) -> dict[str, Any]:
    """What the API answers for ``body``: mean = last value, bands +-level/10, dated from start+freq."""
    horizon = body.get("horizon", 3)
    forecasts = []
    for series in body["series"]:
        last = [v for v in series["values"] if v is not None][-1]
        mean = [last] * horizon
        forecast: dict[str, Any] = {"id": series["id"], "mean": mean, "lower": mean, "upper": mean}
        if "start" in series:
            axis = pd.date_range(
                series["start"], periods=len(series["values"]) + horizon, freq=series["freq"]
            )
            forecast["timestamps"] = [s.isoformat() for s in axis[-horizon:]]
        if body.get("levels"):
            forecast["intervals"] = {
                label(lv): {"lower": [last - lv / 10] * horizon, "upper": [last + lv / 10] * horizon}
                for lv in body["levels"]
            }
        if body.get("quantiles"):
            forecast["quantiles"] = {label(q): [last + q] * horizon for q in body["quantiles"]}
        forecasts.append(forecast)
    return {
        "model": body["model"],
        "version": "1",
        "arm": "latest",
        "horizon": horizon,
        "interval_level": VERSION["interval_level"],
        "direct_steps": VERSION["horizon"] if horizon > VERSION["horizon"] else None,
        "forecasts": forecasts,
        "timings_s": {},
    }


def npz_of(view: dict[str, Any], *, labelled: bool = True) -> bytes:
    """What ``GET /v1/jobs/{id}/forecasts`` answers for a succeeded job's view (README's contract);
    without ``interval_level`` and ``direct_steps`` when not ``labelled``, as an API before them did."""
    forecasts = view["forecasts"]
    rows = {part: [f[part] for f in forecasts] for part in ("mean", "lower", "upper")}
    for key in forecasts[0].get("intervals") or {}:
        rows[f"lo-{key}"] = [f["intervals"][key]["lower"] for f in forecasts]
        rows[f"hi-{key}"] = [f["intervals"][key]["upper"] for f in forecasts]
    for key in forecasts[0].get("quantiles") or {}:
        rows[f"q-{key}"] = [f["quantiles"][key] for f in forecasts]
    arrays: dict[str, Any] = {name: np.array(values, dtype=np.float64) for name, values in rows.items()}
    if any("id" in f for f in forecasts):
        arrays["id"] = np.array([f.get("id") or "" for f in forecasts], dtype=str)
    if any("timestamps" in f for f in forecasts):
        blank = [""] * len(forecasts[0]["mean"])
        arrays["timestamps"] = np.array([f.get("timestamps") or blank for f in forecasts], dtype=str)
    if labelled:
        arrays["interval_level"] = np.array(view["interval_level"])
        if view.get("direct_steps") is not None:
            arrays["direct_steps"] = np.array(view["direct_steps"])
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def array_job_body(request: httpx.Request) -> dict[str, Any]:
    """The JSON body that a ``POST /v1/jobs/arrays`` request stands for (as the API reads it)."""
    arrays = npz_arrays(request.content)
    values = arrays["values"]
    lengths = arrays.get("lengths", np.full(len(values), values.shape[1]))
    series = []
    for index, (row, length) in enumerate(zip(values, lengths.tolist(), strict=True)):
        item: dict[str, Any] = {"id": str(arrays["id"][index]) if "id" in arrays else None}
        item["values"] = [None if np.isnan(v) else float(v) for v in row[:length]]
        if "start" in arrays:
            item |= {"start": str(arrays["start"][index]), "freq": request.url.params["freq"]}
        series.append(item)
    params = request.url.params
    body: dict[str, Any] = {"model": params["model"], "series": series}
    for key in ("version", "routing_key"):
        if key in params:
            body[key] = params[key]
    if "horizon" in params:
        body["horizon"] = int(params["horizon"])
    for key in ("levels", "quantiles"):
        if key in params:
            body[key] = [float(v) for v in params.get_list(key)]
    return body


def as_float32(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with each value rounded to float32, as the API stores a job's values."""
    series = [
        s | {"values": [None if v is None else float(np.float32(v)) for v in s["values"]]}
        for s in body["series"]
    ]
    return body | {"series": series}


class FakeApi:
    """Records every request; answers forecasts, jobs and models like the API's contract."""

    def __init__(self, *, running_polls: int = 0, labelled: bool = True, array_jobs: bool = True) -> None:
        self.requests: list[httpx.Request] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.versions = [VERSION]
        self.running_polls = running_polls
        """How many reads of each job (view or arrays) find it running before it has finished."""
        self.labelled = labelled
        """Whether a job's arrays say ``interval_level`` and ``direct_steps`` (False: an older API)."""
        self.array_jobs = array_jobs
        """Whether ``POST /v1/jobs/arrays`` exists (False: an older API, which answers 405)."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path.endswith("/forecasts"):
            return self.forecasts(path.split("/")[3])
        if path.endswith("/forecast"):
            return httpx.Response(200, json=fake_forecast(json.loads(request.content)))
        if path in ("/v1/jobs", "/v1/jobs/arrays") and request.method == "POST":
            if path.endswith("/arrays") and not self.array_jobs:
                error = {"code": "method_not_allowed", "message": "Method Not Allowed"}
                return httpx.Response(405, json={"error": error})
            job_id = f"job{len(self.jobs)}"
            answer = fake_forecast(as_float32(self.body(request)))
            self.jobs[job_id] = {**answer, "job_id": job_id, "status": "succeeded"}
            return httpx.Response(
                202, json={"job_id": job_id, "status": "queued", "version": "1", "arm": "latest"}
            )
        if path.startswith("/v1/jobs/"):
            job_id = path.rsplit("/", 1)[1]
            return httpx.Response(
                200, json=self.status(job_id) if self.running(job_id) else self.jobs[job_id]
            )
        if path.startswith("/v1/models/"):
            return httpx.Response(200, json={"versions": self.versions})
        if path == "/v1/actuals":
            body = json.loads(request.content)
            return httpx.Response(202, json={"points": sum(len(s["values"]) for s in body["series"])})
        return httpx.Response(404, json={"error": {"code": "not_found", "message": path}})

    def running(self, job_id: str) -> bool:
        reads = sum(r.url.path.startswith(f"/v1/jobs/{job_id}") for r in self.requests)
        return reads <= self.running_polls

    def status(self, job_id: str) -> dict[str, Any]:
        """The view of a running job: no forecasts yet."""
        view = self.jobs[job_id]
        return {key: view[key] for key in ("job_id", "model", "version", "arm")} | {"status": "running"}

    def forecasts(self, job_id: str) -> httpx.Response:
        if self.running(job_id):
            return httpx.Response(202, headers={"Retry-After": "1"}, json=self.status(job_id))
        view = self.jobs[job_id]
        if view["status"] != "succeeded":
            error = {"code": "job_has_no_forecasts", "message": f"job {view['status']}", "field": "job_id"}
            return httpx.Response(409, json={"error": error})
        content = npz_of(view, labelled=self.labelled)
        return httpx.Response(200, headers={"Content-Type": "application/x-npz"}, content=content)

    @staticmethod
    def body(request: httpx.Request) -> dict[str, Any]:
        """A POST's body as JSON; an array job's as the JSON body it stands for."""
        if request.url.path.endswith("/arrays"):
            return array_job_body(request)
        body: dict[str, Any] = json.loads(request.content)
        return body

    def bodies(self) -> list[dict[str, Any]]:
        return [self.body(r) for r in self.requests if r.method == "POST" and r.content]

    def posts(self) -> list[str]:
        return [r.url.path for r in self.requests if r.method == "POST"]

    def reads(self) -> list[str]:
        return [r.url.path for r in self.requests if r.method == "GET"]


def client_of(handler: Handler, **kwargs: Any) -> HybridClient:
    return HybridClient("http://api", transport=httpx.MockTransport(handler), **kwargs)


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


def test_wait_returns_the_submitted_jobs_forecasts_when_they_succeed() -> None:
    api = FakeApi()
    with client_of(api, limits=RequestLimits(max_series=1)) as client:
        submission = client.submit(weekly_frame(), "m", horizon=2)
        out = client.wait(submission)
    assert submission.job_ids == ("job0", "job1")
    assert list(out["unique_id"]) == ["a", "a", "b", "b"]


@pytest.mark.parametrize(
    ("labelled", "labels_read"),
    [(True, []), (False, ["/v1/models/m"])],
    ids=["archive-says-level-and-direct-steps", "older-api-models-versions-say-them"],
)
def test_wait_reads_arrays_into_the_json_views_frame_when_series_are_named_dated_with_levels(
    labelled: bool, labels_read: list[str]
) -> None:
    api = FakeApi(labelled=labelled)
    with client_of(api, limits=RequestLimits(max_series=1)) as client:
        submission = client.submit(weekly_frame(), "m", horizon=3, levels=[80, 95], quantiles=[0.1, 0.5])
        out = client.wait(submission)
    expected = submission_frame(submission, list(api.jobs.values()))  # as read from the JSON views
    pd.testing.assert_frame_equal(out, expected, check_exact=True)
    assert out.attrs == expected.attrs and out.attrs["direct_steps"] == 2 and out.attrs["job_id"] == "job0"
    assert list(out.columns) == [
        *("unique_id", "ds", "mean", "lo-80", "hi-80", "lo-95", "hi-95", "q-0.1", "q-0.5")
    ]
    assert api.reads() == ["/v1/jobs/job0/forecasts", "/v1/jobs/job1/forecasts", *labels_read]


def test_wait_numbers_steps_on_and_names_the_versions_band_when_undated_series_are_read_as_arrays() -> None:
    api = FakeApi()
    frame = pd.DataFrame({"unique_id": [7] * 5 + [8] * 3, "ds": [*range(1, 6), *range(4, 7)], "y": 1.0})
    with client_of(api) as client:
        submission = client.submit(frame, "m", horizon=2)
        out = client.wait(submission)
    expected = submission_frame(submission, [api.jobs["job0"]])
    pd.testing.assert_frame_equal(out, expected, check_exact=True)
    assert out.attrs == expected.attrs
    assert list(out.columns) == ["unique_id", "ds", "mean", "lo-90", "hi-90"]
    assert list(out["ds"]) == [6, 7, 7, 8] and list(out["unique_id"]) == [7, 7, 8, 8]
    assert "direct_steps" not in out.attrs


def json_view(named: list[bool], dated: list[bool], **parts: Any) -> dict[str, Any]:
    """A succeeded view of ``len(named)`` forecasts of 3 steps, with the levels/quantiles in ``parts``."""
    view = fake_forecast({"model": "m", "horizon": 3, "series": [{"id": "", "values": [1.0]}] * len(named)})
    for index, forecast in enumerate(view["forecasts"]):
        forecast["mean"] = [index + step / 7 for step in range(3)]
        if named[index]:
            forecast["id"] = f"s{index}"
        else:
            del forecast["id"]
        if dated[index]:
            forecast["timestamps"] = [f"2024-03-0{day}T00:00:00" for day in (1, 2, 3)]
        if parts.get("levels"):
            forecast["intervals"] = {
                label(lv): {"lower": [0.0] * 3, "upper": [lv] * 3} for lv in parts["levels"]
            }
        if parts.get("quantiles"):
            forecast["quantiles"] = {label(q): [q] * 3 for q in parts["quantiles"]}
    return view | {"job_id": "j", "status": "succeeded"}


@pytest.mark.parametrize(
    ("named", "dated", "parts"),
    [
        ([True, True], [True, True], {"levels": [80, 95], "quantiles": [0.1, 0.5]}),
        ([False, False], [False, False], {}),
        ([True, False, True], [True, True, True], {"quantiles": [0.5]}),
        ([True, False, True], [True, False, True], {"levels": [80]}),
    ],
    ids=["named-dated-levels-quantiles", "unnamed-undated", "some-unnamed", "some-undated"],
)
def test_arrays_frame_equals_the_json_views_frame_when_series_are_named_or_dated_or_not(
    named: list[bool], dated: list[bool], parts: dict[str, list[float]]
) -> None:
    view = json_view(named, dated, **parts)
    out = arrays_frame(npz_arrays(npz_of(view)), view["interval_level"])
    expected = forecasts_frame(view)
    pd.testing.assert_frame_equal(out, expected, check_exact=True)
    for column in ("unique_id", "ds"):
        assert [type(v) for v in out[column]] == [type(v) for v in expected[column]]


@pytest.mark.parametrize(("status", "error_type"), [("failed", JobFailed), ("cancelled", JobCancelled)])
def test_wait_raises_the_jobs_error_from_its_view_when_the_arrays_answer_409(
    status: str, error_type: type[Exception]
) -> None:
    api = FakeApi()
    with client_of(api) as client:
        submission = client.submit(weekly_frame(), "m")
        api.jobs["job0"] = {
            "job_id": "job0",
            "status": status,
            "error": {"code": "triton_unavailable", "message": "down"},
        }
        with pytest.raises(error_type) as caught:
            client.wait(submission)
    assert getattr(caught.value, "code", None) == "triton_unavailable"
    assert api.reads() == ["/v1/jobs/job0/forecasts", "/v1/jobs/job0"]


def test_async_wait_raises_job_failed_with_the_jobs_code_when_the_arrays_answer_409() -> None:
    api = FakeApi()

    async def run() -> pd.DataFrame:
        async with AsyncHybridClient("http://api", transport=httpx.MockTransport(api)) as client:
            submission = await client.submit(weekly_frame(), "m")
            api.jobs["job0"] = {
                "job_id": "job0",
                "status": "failed",
                "error": {"code": "model_error", "message": "nan", "field": "series[1]"},
            }
            return await client.wait(submission)

    with pytest.raises(JobFailed) as caught:
        asyncio.run(run())
    assert (caught.value.code, caught.value.field) == ("model_error", "series[1]")


def test_wait_polls_the_arrays_again_without_sleeping_when_the_job_is_still_running() -> None:
    api = FakeApi(running_polls=2)
    slept: list[float] = []
    with client_of(api, sleep=slept.append) as client:
        out = client.wait(client.submit(weekly_frame(), "m"))
    assert slept == [] and len(out) == 6
    assert api.reads() == ["/v1/jobs/job0/forecasts"] * 3


def test_wait_raises_wait_timeout_when_the_arrays_answer_202_at_the_deadline() -> None:
    api = FakeApi(running_polls=10)
    with client_of(api) as client, pytest.raises(WaitTimeout) as caught:
        client.wait(client.submit(weekly_frame(), "m"), timeout_s=0)
    assert caught.value.retryable and api.reads() == ["/v1/jobs/job0/forecasts"]


def test_wait_reads_a_bare_job_id_as_arrays_when_its_view_says_it_is_running() -> None:
    api = FakeApi(running_polls=1)
    with client_of(api) as client:
        client.submit(weekly_frame(), "m", levels=[80])
        out = client.wait("job0")
    pd.testing.assert_frame_equal(
        out, submission_frame(Submission(("job0",), "", "", ""), [api.jobs["job0"]])
    )
    assert api.reads() == ["/v1/jobs/job0", "/v1/jobs/job0/forecasts"]


def test_wait_reads_the_json_view_of_a_bare_job_id_when_it_has_finished() -> None:
    api = FakeApi()
    with client_of(api) as client:
        client.submit(weekly_frame(), "m")
        out = client.wait("job0")
    assert list(out["unique_id"]) == ["a"] * 3 + ["b"] * 3 and api.reads() == ["/v1/jobs/job0"]


def test_wait_reads_the_jobs_json_view_when_the_archive_is_unlabelled_and_the_model_lost_its_version() -> (
    None
):
    api = FakeApi(labelled=False)
    api.versions = []
    with client_of(api) as client:
        submission = client.submit(weekly_frame(), "m")
        out = client.wait(submission)
    pd.testing.assert_frame_equal(out, submission_frame(submission, [api.jobs["job0"]]))
    assert api.reads() == ["/v1/jobs/job0/forecasts", "/v1/models/m", "/v1/jobs/job0"]


def test_wait_raises_job_failed_with_the_jobs_code_when_the_job_failed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "job_id": "j",
                "status": "failed",
                "error": {"code": "triton_unavailable", "message": "down"},
            },
        )

    with client_of(handler) as client, pytest.raises(JobFailed) as caught:
        client.wait("j")
    assert caught.value.code == "triton_unavailable"


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


def test_errors_map_envelope_to_typed_exception_when_api_answers_422() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        error = {"code": "invalid_input", "message": "unknown", "field": "series[0].freq"}
        return httpx.Response(422, json={"error": error})

    with client_of(handler) as client, pytest.raises(InvalidInput) as caught:
        client.forecast(weekly_frame(), "m")
    error = caught.value
    assert (error.status, error.code, error.field, error.retryable) == (
        422,
        "invalid_input",
        "series[0].freq",
        False,
    )


def test_retry_waits_retry_after_then_succeeds_when_api_answers_429() -> None:
    api = FakeApi()
    answers = iter(
        [
            httpx.Response(
                429,
                headers={"Retry-After": "2"},
                json={"error": {"code": "too_many_requests", "message": "slow"}},
            )
        ]
    )
    slept: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        return next(answers, None) or api(request)

    with client_of(handler, sleep=slept.append) as client:
        out = client.forecast(weekly_frame(), "m")
    assert slept == [2.0] and len(out) > 0


def test_retry_gives_up_with_retryable_error_when_503_persists() -> None:
    slept: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            503,
            headers={"Retry-After": "100"},
            json={"error": {"code": "sync_at_capacity", "message": "busy"}},
        )

    policy = RetryPolicy(max_retries=2, max_delay_s=5)
    with (
        client_of(handler, sleep=slept.append, retry=policy) as client,
        pytest.raises(ServiceUnavailable) as caught,
    ):
        client.forecast(weekly_frame(), "m")
    assert slept == [5.0, 5.0]  # capped at max_delay_s
    assert (
        caught.value.retryable
        and caught.value.retry_after_s == 100
        and caught.value.code == "sync_at_capacity"
    )


def test_retry_is_not_attempted_when_error_is_permanent() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(404, json={"error": {"code": "model_not_found", "message": "no"}})

    with client_of(handler) as client, pytest.raises(Exception) as caught:
        client.forecast(weekly_frame(), "nope")
    assert len(calls) == 1 and not getattr(caught.value, "retryable", True)


def test_async_client_retries_and_returns_the_same_frame_when_chunks_run_concurrently() -> None:
    api = FakeApi()
    first = [True]

    def handler(request: httpx.Request) -> httpx.Response:
        if first[0]:
            first[0] = False
            return httpx.Response(
                429,
                headers={"Retry-After": "0"},
                json={"error": {"code": "too_many_requests", "message": "x"}},
            )
        return api(request)

    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def run() -> pd.DataFrame:
        async with AsyncHybridClient(
            "http://api",
            transport=httpx.MockTransport(handler),
            limits=RequestLimits(max_series=1),
            sleep=sleep,
        ) as client:
            submission = await client.submit(weekly_frame(("a", "b", "c")), "m", horizon=2)
            return await client.wait(submission)

    out = asyncio.run(run())
    assert slept == [0.0]
    assert sorted(out["unique_id"].unique()) == ["a", "b", "c"] and len(out) == 6


def test_too_many_requests_is_raised_when_retries_are_off() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"error": {"code": "too_many_requests", "message": "x"}})

    with client_of(handler, retry=RetryPolicy(max_retries=0)) as client, pytest.raises(TooManyRequests):
        client.forecast(weekly_frame(), "m")


def test_retry_after_reads_an_http_date_when_the_header_is_one() -> None:
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    from hybrid_client._protocol import retry_after_s

    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    seconds = retry_after_s(httpx.Response(503, headers={"Retry-After": when}))
    assert seconds is not None and 100 < seconds <= 120
    assert retry_after_s(httpx.Response(503, headers={"Retry-After": "soon"})) is None


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


def test_wait_raises_retryable_wait_timeout_when_the_job_is_still_running() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"job_id": "j", "status": "running"})

    with client_of(handler) as client, pytest.raises(WaitTimeout) as caught:
        client.wait("j", timeout_s=0)
    assert caught.value.retryable and caught.value.code == "wait_timeout"
