"""hybrid_client against the fake API: error envelopes to typed exceptions, retries and Retry-After."""

from __future__ import annotations

import asyncio

import httpx
import pandas as pd
import pytest

from hybrid_client import (
    AsyncHybridClient,
    InvalidInput,
    RequestLimits,
    RetryPolicy,
    ServiceUnavailable,
    TooManyRequests,
)
from tests.support.fake_api import FakeApi, client_of, weekly_frame


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
