"""hybrid_client's ``submit`` as arrays (``POST /v1/jobs/arrays``) against the in-process fake API."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pandas as pd
import pytest

from hybrid_client import AsyncHybridClient, InvalidInput, RequestLimits
from hybrid_client._array_jobs import json_field
from hybrid_client._calls import ForecastOptions, ForecastPlan
from hybrid_client._protocol import npz_arrays
from tests.support.fake_api import FakeApi, array_job_body, as_float32, client_of, weekly_frame

ARRAYS = RequestLimits(array_min_points=1)
"""Every chunk as arrays."""
JSON = RequestLimits(array_min_points=10**9)
"""Every chunk as JSON."""


def ragged_frame(points: tuple[int, ...]) -> pd.DataFrame:
    """Weekly series ending on the same Saturday, of ``points`` rows each; the second misses two."""
    parts = []
    for index, count in enumerate(points):
        stamps = pd.date_range(end="2001-12-29", periods=count, freq="W-SAT")
        part = pd.DataFrame({"unique_id": f"s{index}", "ds": stamps, "y": np.arange(count) + 0.1 * index})
        parts.append(part.drop(index=[3, 4]) if index == 1 else part)
    return pd.concat(parts, ignore_index=True)


def test_submit_sends_the_json_bodys_job_as_arrays_when_the_chunk_has_enough_points() -> None:
    api = FakeApi()
    frame = ragged_frame((30, 30, 30))
    options = ForecastOptions("m", "2", 3, (80, 95), (0.1,), "k")
    with client_of(api, limits=ARRAYS) as client:
        client.submit(frame, "m", version="2", horizon=3, levels=[80, 95], quantiles=[0.1], routing_key="k")
    (request,) = api.requests
    arrays = npz_arrays(request.content)
    plan = ForecastPlan.of(frame, options, None, ARRAYS)

    assert request.url.path == "/v1/jobs/arrays" and request.headers["content-type"] == "application/x-npz"
    assert request.url.params.get_list("levels") == ["80", "95"] and request.url.params["freq"] == "W-SAT"
    assert list(arrays) == ["values", "id", "start"]  # rows of equal length: no lengths
    assert arrays["values"].dtype == np.float32 and np.isnan(arrays["values"][1, 3:5]).all()
    assert array_job_body(request) == as_float32(plan.body(0))


def test_submit_sends_lengths_when_rows_are_ragged_and_json_when_padding_would_double_the_body() -> None:
    api = FakeApi()
    with client_of(api, limits=ARRAYS) as client:
        client.submit(ragged_frame((30, 20)), "m")
        client.submit(ragged_frame((40, 8, 8)), "m")  # 120 cells padded for 56 points

    assert api.posts() == ["/v1/jobs/arrays", "/v1/jobs"]
    assert npz_arrays(api.requests[0].content)["lengths"].tolist() == [30, 20]


def test_submit_sends_arrays_without_start_when_ds_is_an_integer_step() -> None:
    api = FakeApi()
    frame = pd.DataFrame({"unique_id": [7] * 5 + [8] * 3, "ds": [*range(1, 6), *range(4, 7)], "y": 1.0})
    with client_of(api, limits=ARRAYS) as client:
        out = client.wait(client.submit(frame, "m", horizon=2))

    (request,) = [r for r in api.requests if r.method == "POST"]
    assert (
        list(npz_arrays(request.content)) == ["values", "id", "lengths"] and "freq" not in request.url.params
    )
    assert list(out["ds"]) == [6, 7, 7, 8] and list(out["unique_id"]) == [7, 7, 8, 8]


def test_submit_sends_json_when_the_chunk_has_fewer_points_than_array_min_points() -> None:
    api = FakeApi()
    with client_of(api) as client:  # the default: 5,000 points
        client.submit(weekly_frame(), "m")
    assert api.posts() == ["/v1/jobs"]


def test_wait_returns_the_same_frame_when_the_jobs_went_as_arrays_or_as_json() -> None:
    frame = ragged_frame((30, 24, 30))
    outs = []
    for limits in (ARRAYS, JSON):
        api = FakeApi()
        with client_of(api, limits=limits) as client:
            outs.append(client.wait(client.submit(frame, "m", horizon=3, levels=[80], quantiles=[0.5])))
        assert api.posts() == ["/v1/jobs/arrays" if limits is ARRAYS else "/v1/jobs"]
    pd.testing.assert_frame_equal(outs[0], outs[1], check_exact=True)
    assert {k: v for k, v in outs[0].attrs.items() if k != "job_id"} == {
        k: v for k, v in outs[1].attrs.items() if k != "job_id"
    }


def test_submit_sends_json_from_then_on_when_the_api_has_no_array_jobs() -> None:
    api = FakeApi(array_jobs=False)
    with client_of(api, limits=RequestLimits(max_series=1, array_min_points=1)) as client:
        submission = client.submit(weekly_frame(("a", "b", "c")), "m")
        out = client.wait(submission)

    assert api.posts() == ["/v1/jobs/arrays", "/v1/jobs", "/v1/jobs", "/v1/jobs"]
    assert submission.job_ids == ("job0", "job1", "job2") and len(out) == 9


def test_async_submit_sends_arrays_concurrently_and_wait_reads_no_model_when_the_api_is_current() -> None:
    api = FakeApi()

    async def run() -> pd.DataFrame:
        limits = RequestLimits(max_series=1, array_min_points=1)
        async with AsyncHybridClient(
            "http://api", transport=httpx.MockTransport(api), limits=limits
        ) as client:
            return await client.wait(await client.submit(weekly_frame(("a", "b", "c")), "m", horizon=3))

    out = asyncio.run(run())
    assert api.posts() == ["/v1/jobs/arrays"] * 3
    assert api.reads() == [f"/v1/jobs/job{i}/forecasts" for i in range(3)]
    assert sorted(out["unique_id"].unique()) == ["a", "b", "c"] and out.attrs["direct_steps"] == 2


def test_submit_raises_invalid_input_naming_the_json_bodys_field_when_an_array_job_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        error = {"code": "invalid_input", "message": "values[1][17] is inf", "field": "values[1][17]"}
        return httpx.Response(422, json={"error": error})

    with client_of(handler, limits=ARRAYS) as client, pytest.raises(InvalidInput) as caught:
        client.submit(weekly_frame(), "m")
    assert caught.value.field == "series[1][17]" and caught.value.status == 422


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("values", "series"),
        ("values[3]", "series[3]"),
        ("values[3][17]", "series[3][17]"),
        ("lengths[2]", "series[2]"),
        ("id[2]", "series[2].id"),
        ("start[0]", "series[0].start"),
        ("freq", "series[0].freq"),
        ("horizon", "horizon"),
        ("levels[0]", "levels[0]"),
        (None, None),
    ],
)
def test_json_field_names_what_a_json_body_calls_an_archives_part_when_given_its_field(
    field: str | None, expected: str | None
) -> None:
    assert json_field(field) == expected
