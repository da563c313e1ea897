"""``HybridClient``: the platform from Python, blocking, over one ``httpx.Client``."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
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


class HybridClient:
    """Forecasts, jobs, actuals and backtests of one API, with long-format pandas frames.

    ``api_key`` defaults to ``$HYBRID_API_KEY``. 429 and 503 answers are retried after their
    ``Retry-After`` as ``retry`` allows; other errors raise from :mod:`hybrid_client.errors`.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        retry: RetryPolicy | None = None,
        limits: RequestLimits | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("HYBRID_API_KEY")
        self._http = httpx.Client(
            base_url=base_url, headers=headers(key), timeout=timeout_s, transport=transport
        )
        self._retry = retry or RetryPolicy()
        self._limits = limits or RequestLimits()
        self._sleep = sleep
        self._array_jobs = True
        """Whether the API takes ``POST /v1/jobs/arrays`` (until it answers that it does not)."""

    def __enter__(self) -> HybridClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The answer, once it is not one ``retry`` retries (429, 503) or retries ran out."""
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                raise transport_error(exc) from exc
            delay = self._retry.delay_s(response, attempt)
            if delay is None:
                return response
            self._sleep(delay)
            attempt += 1

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        return checked(self._send(method, path, **kwargs))

    def model(self, name: str) -> dict[str, Any]:
        """``GET /v1/models/{name}``: versions, READY state, window and horizon of each."""
        result: dict[str, Any] = self._request("GET", f"/v1/models/{name}")
        return result

    def forecast(
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
        """Forecast every series of ``df`` (``unique_id``, ``ds``, ``y``) now, on the sync path.

        Returns ``unique_id``, ``ds``, ``mean``, ``lo-<level>``/``hi-<level>``, ``q-<quantile>``; ``attrs``
        holds the model, version, arm, horizon and ``direct_steps`` (steps past it were recursive).
        """
        options = ForecastOptions(model, version, horizon, tuple(levels), tuple(quantiles), routing_key)
        plan = ForecastPlan.of(df, options, freq, self._limits)
        path = f"/v1/models/{model}/forecast"
        return plan.frame([self._request("POST", path, json=body) for body in plan.bodies()])

    def submit(
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
        """Submit ``df`` as jobs (one per chunk of series) and return at once; ``wait`` reads them.

        Chunks of ``RequestLimits.array_min_points`` points or more go as arrays
        (``POST /v1/jobs/arrays``, one ``.npz``), smaller ones as JSON (``POST /v1/jobs``): the same jobs.
        """
        options = ForecastOptions(model, version, horizon, tuple(levels), tuple(quantiles), routing_key)
        plan = ForecastPlan.of(df, options, freq, self._limits)
        accepted = [self._submit_chunk(plan, index) for index in range(len(plan.groups))]
        first = accepted[0]
        return Submission(tuple(a["job_id"] for a in accepted), model, first["version"], first["arm"], plan)

    def _submit_chunk(self, plan: ForecastPlan, index: int) -> dict[str, Any]:
        """Chunk ``index`` as one job: as arrays when it pays and the API takes them, else as JSON."""
        arrays = plan.array_request(index, self._limits) if self._array_jobs else None
        if arrays is not None:
            response = self._send("POST", ARRAY_JOBS_PATH, **arrays)
            if not lacks_array_jobs(response):
                accepted: dict[str, Any] = array_job_answer(response)
                return accepted
            self._array_jobs = False  # an API from before array jobs: JSON from now on
        answer: dict[str, Any] = self._request("POST", "/v1/jobs", json=plan.body(index))
        return answer

    def wait(self, submission: Submission | str, *, timeout_s: float = 600.0) -> pd.DataFrame:
        """The forecasts of submitted jobs, long-polling until each finishes (JobFailed, WaitTimeout).

        Forecasts are read as arrays (``GET /v1/jobs/{id}/forecasts``), which also say the version's
        ``interval_level`` and the job's ``direct_steps`` (from an API whose arrays do not, the model's
        versions label them: ``GET /v1/models/{model}``); a bare job id is first read as its JSON view,
        which holds the forecasts already when the job has finished.
        """
        if isinstance(submission, str):
            submission = Submission((submission,), "", "", "")
        deadline = time.monotonic() + timeout_s
        answers = finished(
            [self._wait_one(job_id, known_job(submission, job_id), deadline) for job_id in submission.job_ids]
        )
        versions = {model: self._versions(model) for model in unlabelled_models(answers)}
        for index, job_id in unlabelled(answers, versions).items():
            answers[index] = finished_answer(self._request("GET", f"/v1/jobs/{job_id}"))
        return submission_frame(submission, answers, versions)

    def _wait_one(self, job_id: str, job: dict[str, Any] | None, deadline: float) -> JobAnswer:
        if job is None:  # a bare id: its view names the model and version that label the arrays
            view: dict[str, Any] = self._request("GET", f"/v1/jobs/{job_id}")
            if view["status"] in TERMINAL_STATUSES:
                return view  # finished already: the view holds its forecasts
            if time.monotonic() >= deadline:
                raise still_running(job_id, view)
            job = job_of(view)
        while True:
            remaining = deadline - time.monotonic()
            wait_s = max(0.0, min(remaining, MAX_WAIT_PER_POLL_S))
            path = f"/v1/jobs/{job_id}/forecasts"
            answer = forecasts_answer(self._send("GET", path, params={"wait_s": wait_s}), job)
            if answer is None:  # failed or cancelled: its view holds the error
                failed: dict[str, Any] = self._request("GET", f"/v1/jobs/{job_id}")
                return failed
            if isinstance(answer, JobArrays) or answer["status"] in TERMINAL_STATUSES:
                return answer
            # 202's Retry-After is for callers that do not long-poll: the next request waits server-side.
            if remaining <= 0:
                raise still_running(job_id, answer)

    def _versions(self, model: str) -> dict[str, dict[str, Any]]:
        """``model``'s versions by name; none when the repository no longer holds the model."""
        try:
            info = self.model(model)
        except NotFound:
            return {}
        return {str(v["version"]): v for v in info.get("versions", [])}

    def actuals(self, df: pd.DataFrame, model: str, *, freq: str | None = None) -> int:
        """Record observed values (``unique_id``, ``ds``, ``y``) for accuracy; returns the points recorded."""
        frame, _ = prepare(df, freq, infer=False)
        limits = self._limits
        bodies = actuals_bodies(model, frame, limits.max_series, limits.max_points)
        return sum(int(self._request("POST", "/v1/actuals", json=body).get("points", 0)) for body in bodies)

    def backtest(
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
        """Rolling-origin evaluation of ``model`` on ``df``: every fold of every series in batched requests.

        ``input_size`` (default: the version's window, or the largest of the model's) trims what each
        fold sends; series too short for the folds and the window are skipped and listed.
        """
        size = input_size or model_window(self.model(model), version)
        options = ForecastOptions(model, version, horizon, tuple(levels))
        plan = BacktestPlan.of(
            df,
            options,
            horizon=horizon,
            folds=folds,
            step=step,
            input_size=size,
            freq=freq,
            limits=self._limits,
        )
        path = f"/v1/models/{model}/forecast"
        return plan.result([self._request("POST", path, json=body) for body in plan.forecast.bodies()])
