"""hybrid_client's submit and wait against the fake API: jobs read as arrays or views, errors, timeouts."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pandas as pd
import pytest

from hybrid_client import AsyncHybridClient, JobCancelled, JobFailed, RequestLimits, Submission, WaitTimeout
from hybrid_client._calls import submission_frame
from hybrid_client._protocol import npz_arrays
from hybrid_client.frames import arrays_frame, forecasts_frame, label
from tests.support.fake_api import FakeApi, client_of, fake_forecast, npz_of, weekly_frame


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


def test_wait_raises_retryable_wait_timeout_when_the_job_is_still_running() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"job_id": "j", "status": "running"})

    with client_of(handler) as client, pytest.raises(WaitTimeout) as caught:
        client.wait("j", timeout_s=0)
    assert caught.value.retryable and caught.value.code == "wait_timeout"
