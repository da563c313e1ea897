"""``AsyncHybridClient``: the same methods as ``HybridClient``, for asyncio, over one ``httpx.AsyncClient``.

The chunks of a large frame are sent concurrently, at most ``max_concurrency`` at a time.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
import pandas as pd

from hybrid_client._array_jobs import ARRAY_JOBS_PATH, array_job_answer, lacks_array_jobs
from hybrid_client._calls import (
    BacktestPlan,
    ForecastOptions,
    ForecastPlan,
    JobAnswer,
    JobArrays,
    Submission,
    finished,
    finished_answer,
    forecasts_answer,
    job_of,
    known_job,
    model_window,
    still_running,
    submission_frame,
    unlabelled,
    unlabelled_models,
)
from hybrid_client._protocol import (
    DEFAULT_BASE_URL,
    MAX_WAIT_PER_POLL_S,
    TERMINAL_STATUSES,
    RequestLimits,
    RetryPolicy,
    checked,
    headers,
    transport_error,
)
from hybrid_client.errors import NotFound
from hybrid_client.evaluation import Backtest
from hybrid_client.frames import actuals_bodies, prepare


class AsyncHybridClient:
    """Forecasts, jobs, actuals and backtests of one API from asyncio (see ``HybridClient``)."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        retry: RetryPolicy | None = None,
        limits: RequestLimits | None = None,
        max_concurrency: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("HYBRID_API_KEY")
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=headers(key), timeout=timeout_s, transport=transport
        )
        self._retry = retry or RetryPolicy()
        self._limits = limits or RequestLimits()
        self._slots = asyncio.Semaphore(max_concurrency)
        self._sleep = sleep
        self._array_jobs = True
        """Whether the API takes ``POST /v1/jobs/arrays`` (until it answers that it does not)."""

    async def __aenter__(self) -> AsyncHybridClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The answer, once it is not one ``retry`` retries (429, 503) or retries ran out."""
        attempt = 0
        while True:
            try:
                async with self._slots:
                    response = await self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                raise transport_error(exc) from exc
            delay = self._retry.delay_s(response, attempt)
            if delay is None:
                return response
            await self._sleep(delay)
            attempt += 1

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        return checked(await self._send(method, path, **kwargs))

    async def _each(self, method: str, path: str, bodies: Sequence[dict[str, Any]]) -> list[Any]:
        return list(await asyncio.gather(*(self._request(method, path, json=body) for body in bodies)))

    async def model(self, name: str) -> dict[str, Any]:
        """``GET /v1/models/{name}``: versions, READY state, window and horizon of each."""
        result: dict[str, Any] = await self._request("GET", f"/v1/models/{name}")
        return result

    async def forecast(
        self,
        df: pd.DataFrame,
        model: str,
        *,
        horizon: int | None = None,
        levels: Sequence[float] = (),
        quantiles: Sequence[float] = (),
        version: str | None = None,
        freq: str | None = None,
        routing_key: str | None = None,
    ) -> pd.DataFrame:
        """Forecast every series of ``df`` now (see ``HybridClient.forecast``)."""
        options = ForecastOptions(model, version, horizon, tuple(levels), tuple(quantiles), routing_key)
        plan = ForecastPlan.of(df, options, freq, self._limits)
        return plan.frame(await self._each("POST", f"/v1/models/{model}/forecast", plan.bodies()))

    async def submit(
        self,
        df: pd.DataFrame,
        model: str,
        *,
        horizon: int | None = None,
        levels: Sequence[float] = (),
        quantiles: Sequence[float] = (),
        version: str | None = None,
        freq: str | None = None,
        routing_key: str | None = None,
    ) -> Submission:
        """Submit ``df`` as jobs and return at once (see ``HybridClient.submit``)."""
        options = ForecastOptions(model, version, horizon, tuple(levels), tuple(quantiles), routing_key)
        plan = ForecastPlan.of(df, options, freq, self._limits)
        accepted = await asyncio.gather(
            *(self._submit_chunk(plan, index) for index in range(len(plan.groups)))
        )
        first = accepted[0]
        return Submission(tuple(a["job_id"] for a in accepted), model, first["version"], first["arm"], plan)

    async def _submit_chunk(self, plan: ForecastPlan, index: int) -> dict[str, Any]:
        """Chunk ``index`` as one job: as arrays when it pays and the API takes them, else as JSON."""
        arrays = plan.array_request(index, self._limits) if self._array_jobs else None
        if arrays is not None:
            response = await self._send("POST", ARRAY_JOBS_PATH, **arrays)
            if not lacks_array_jobs(response):
                accepted: dict[str, Any] = array_job_answer(response)
                return accepted
            self._array_jobs = False  # an API from before array jobs: JSON from now on
        answer: dict[str, Any] = await self._request("POST", "/v1/jobs", json=plan.body(index))
        return answer

    async def wait(self, submission: Submission | str, *, timeout_s: float = 600.0) -> pd.DataFrame:
        """The forecasts of submitted jobs, long-polling until each finishes (see ``HybridClient.wait``)."""
        if isinstance(submission, str):
            submission = Submission((submission,), "", "", "")
        deadline = time.monotonic() + timeout_s
        waits = (
            self._wait_one(job_id, known_job(submission, job_id), deadline) for job_id in submission.job_ids
        )
        answers = finished(await asyncio.gather(*waits))
        models = sorted(unlabelled_models(answers))
        versions = dict(zip(models, await asyncio.gather(*map(self._versions, models)), strict=True))
        missing = unlabelled(answers, versions)
        views = await asyncio.gather(
            *(self._request("GET", f"/v1/jobs/{job_id}") for job_id in missing.values())
        )
        for index, view in zip(missing, views, strict=True):
            answers[index] = finished_answer(view)
        return submission_frame(submission, answers, versions)

    async def _wait_one(self, job_id: str, job: dict[str, Any] | None, deadline: float) -> JobAnswer:
        if job is None:  # a bare id: its view names the model and version that label the arrays
            view: dict[str, Any] = await self._request("GET", f"/v1/jobs/{job_id}")
            if view["status"] in TERMINAL_STATUSES:
                return view  # finished already: the view holds its forecasts
            if time.monotonic() >= deadline:
                raise still_running(job_id, view)
            job = job_of(view)
        while True:
            remaining = deadline - time.monotonic()
            wait_s = max(0.0, min(remaining, MAX_WAIT_PER_POLL_S))
            path = f"/v1/jobs/{job_id}/forecasts"
            answer = forecasts_answer(await self._send("GET", path, params={"wait_s": wait_s}), job)
            if answer is None:  # failed or cancelled: its view holds the error
                failed: dict[str, Any] = await self._request("GET", f"/v1/jobs/{job_id}")
                return failed
            if isinstance(answer, JobArrays) or answer["status"] in TERMINAL_STATUSES:
                return answer
            # 202's Retry-After is for callers that do not long-poll: the next request waits server-side.
            if remaining <= 0:
                raise still_running(job_id, answer)

    async def _versions(self, model: str) -> dict[str, dict[str, Any]]:
        """``model``'s versions by name; none when the repository no longer holds the model."""
        try:
            info = await self.model(model)
        except NotFound:
            return {}
        return {str(v["version"]): v for v in info.get("versions", [])}

    async def actuals(self, df: pd.DataFrame, model: str, *, freq: str | None = None) -> int:
        """Record observed values (``unique_id``, ``ds``, ``y``); returns the points recorded."""
        frame, _ = prepare(df, freq, infer=False)
        bodies = actuals_bodies(model, frame, self._limits.max_series, self._limits.max_points)
        return sum(int(answer.get("points", 0)) for answer in await self._each("POST", "/v1/actuals", bodies))

    async def backtest(
        self,
        df: pd.DataFrame,
        model: str,
        *,
        horizon: int,
        folds: int = 3,
        step: int | None = None,
        levels: Sequence[float] = (80, 95),
        version: str | None = None,
        freq: str | None = None,
        input_size: int | None = None,
    ) -> Backtest:
        """Rolling-origin evaluation of ``model`` on ``df`` (see ``HybridClient.backtest``)."""
        size = input_size or model_window(await self.model(model), version)
        plan = BacktestPlan.of(
            df,
            ForecastOptions(model, version, horizon, tuple(levels)),
            horizon=horizon,
            folds=folds,
            step=step,
            input_size=size,
            freq=freq,
            limits=self._limits,
        )
        path = f"/v1/models/{model}/forecast"
        return plan.result(await self._each("POST", path, plan.forecast.bodies()))
