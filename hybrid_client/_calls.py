"""Each client method as a plan: the request bodies it sends and how their answers become frames.

The sync and asyncio clients only do the HTTP; everything else about a call lives here, once.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import numpy.typing as npt
import pandas as pd

from hybrid_client._array_jobs import array_request, worth_arrays
from hybrid_client._protocol import RequestLimits, error_from, npz_arrays
from hybrid_client.errors import JobCancelled, JobFailed, WaitTimeout
from hybrid_client.evaluation import Backtest, make_folds, score, season_length
from hybrid_client.frames import (
    DS,
    ID,
    WireSeries,
    answer_attrs,
    arrays_frame,
    chunks,
    forecasts_frame,
    prepare,
    request_body,
    to_wire,
)


@dataclass(frozen=True)
class ForecastOptions:
    """What every forecast request of one call asks, besides its series."""

    model: str
    version: str | None = None
    horizon: int | None = None
    levels: Sequence[float] = ()
    quantiles: Sequence[float] = ()
    routing_key: str | None = None


@dataclass(frozen=True)
class ForecastPlan:
    """The requests of one ``forecast`` or ``submit`` call: one per chunk of series."""

    options: ForecastOptions
    groups: list[list[WireSeries]]

    @classmethod
    def of(
        cls, df: pd.DataFrame, options: ForecastOptions, freq: str | None, limits: RequestLimits
    ) -> ForecastPlan:
        frame, freq = prepare(df, freq)
        return cls.split(to_wire(frame, freq), options, limits)

    @classmethod
    def split(cls, series: list[WireSeries], options: ForecastOptions, limits: RequestLimits) -> ForecastPlan:
        groups = list(chunks(series, limits.max_series, limits.max_points))
        if len(groups) > 1 and options.routing_key is None and options.version is None:
            # One routing key for every chunk: a canary rollout then serves the whole frame with one version.
            options = dataclasses.replace(options, routing_key=uuid.uuid4().hex)
        return cls(options, groups)

    def body(self, index: int) -> dict[str, Any]:
        """The JSON body of chunk ``index``."""
        o = self.options
        return request_body(
            o.model,
            self.groups[index],
            version=o.version,
            horizon=o.horizon,
            levels=o.levels,
            quantiles=o.quantiles,
            routing_key=o.routing_key,
        )

    def bodies(self) -> list[dict[str, Any]]:
        return [self.body(index) for index in range(len(self.groups))]

    def array_request(self, index: int, limits: RequestLimits) -> dict[str, Any] | None:
        """``POST /v1/jobs/arrays``'s arguments for chunk ``index``; None when it goes as JSON."""
        group = self.groups[index]
        if not worth_arrays(group, limits.array_min_points):
            return None
        o = self.options
        return array_request(
            group,
            model=o.model,
            version=o.version,
            horizon=o.horizon,
            levels=o.levels,
            quantiles=o.quantiles,
            routing_key=o.routing_key,
        )

    def frame(self, answers: Sequence[dict[str, Any]]) -> pd.DataFrame:
        """One long frame from the answers of every chunk (in order); attrs from the first answer."""
        parts = [forecasts_frame(answer, group) for answer, group in zip(answers, self.groups, strict=True)]
        frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        frame.attrs = answer_attrs(answers[0]) if answers else {}
        return frame


@dataclass(frozen=True)
class Submission:
    """Jobs submitted by ``submit``: one per chunk of the frame. Pass it to ``wait``."""

    job_ids: tuple[str, ...]
    model: str
    version: str
    arm: str
    plan: ForecastPlan | None = None


NO_FORECASTS = "job_has_no_forecasts"
"""The code of ``GET /v1/jobs/{id}/forecasts``'s 409: the job failed or was cancelled."""

Versions = Mapping[str, Mapping[str, dict[str, Any]]]
"""Each model's versions by name, as ``GET /v1/models/{model}`` lists them."""


@dataclass(frozen=True)
class JobArrays:
    """A succeeded job's forecasts read as arrays (``GET /v1/jobs/{id}/forecasts``), and the job they
    are of (``job_id``, ``model``, ``version``, ``arm``)."""

    job: dict[str, Any]
    arrays: dict[str, npt.NDArray[Any]]

    @property
    def labelled(self) -> bool:
        """Whether the archive says the version's ``interval_level`` and the job's ``direct_steps``
        itself (an API from before it did needs ``GET /v1/models/{model}``)."""
        return "interval_level" in self.arrays

    def view(self, versions: Versions) -> dict[str, Any] | None:
        """What the job's JSON view says besides its forecasts, from the archive or else ``versions``;
        None when neither says it."""
        horizon = int(self.arrays["mean"].shape[1])
        if self.labelled:
            direct = self.arrays.get("direct_steps")
            return self.job | {
                "horizon": horizon,
                "interval_level": float(self.arrays["interval_level"]),
                "direct_steps": None if direct is None else int(direct),
            }
        version = versions.get(self.job["model"], {}).get(self.job["version"])
        if version is None:
            return None
        # As the worker records it: past the version's own horizon, later steps were fed back recursively.
        direct_steps = int(version["horizon"]) if horizon > int(version["horizon"]) else None
        return self.job | {
            "horizon": horizon,
            "interval_level": version.get("interval_level"),
            "direct_steps": direct_steps,
        }


JobAnswer = dict[str, Any] | JobArrays
"""A finished job as read: its JSON view, or its forecasts as arrays."""


def known_job(submission: Submission, job_id: str) -> dict[str, Any] | None:
    """The job as ``submit`` recorded it; None for a bare job id (model and version unknown)."""
    if not (submission.model and submission.version):
        return None
    return {"job_id": job_id, "model": submission.model, "version": submission.version, "arm": submission.arm}


def job_of(view: dict[str, Any]) -> dict[str, Any]:
    """The job a status view is of, as :class:`JobArrays` keeps it."""
    return {key: view[key] for key in ("job_id", "model", "version", "arm")}


def forecasts_answer(response: httpx.Response, job: dict[str, Any]) -> JobAnswer | None:
    """What ``GET /v1/jobs/{id}/forecasts`` answered: the arrays (200), the status view of a job still
    queued or running (202), or None for a job without forecasts (409 ``job_has_no_forecasts``: failed
    or cancelled; its JSON view says why). Other errors raise."""
    if response.status_code >= 400:
        error = error_from(response)
        if error.code == NO_FORECASTS:
            return None
        raise error
    if response.status_code == 200:
        return JobArrays(job, npz_arrays(response.content))
    view: dict[str, Any] = response.json()
    return view


def still_running(job_id: str, view: dict[str, Any]) -> WaitTimeout:
    """What ``wait`` raises when the deadline passed and the job's view is not terminal."""
    return WaitTimeout(f"job {job_id} still {view['status']}", code="wait_timeout", retryable=True)


def finished_answer(view: dict[str, Any]) -> dict[str, Any]:
    """A terminal job view's answer, or JobFailed / JobCancelled."""
    if view["status"] == "succeeded":
        return view
    error = view.get("error") or {}
    error_type = JobCancelled if view["status"] == "cancelled" else JobFailed
    raise error_type(
        f"job {view['job_id']}: {error.get('message', view['status'])}",
        code=str(error.get("code") or view["status"]),
        field=error.get("field"),
    )


def finished(answers: Sequence[JobAnswer]) -> list[JobAnswer]:
    """The answers of succeeded jobs, or JobFailed / JobCancelled for the first that is not."""
    return [answer if isinstance(answer, JobArrays) else finished_answer(answer) for answer in answers]


def unlabelled_models(answers: Sequence[JobAnswer]) -> set[str]:
    """The models whose versions must label answers read as arrays whose archive does not say its
    version's ``interval_level`` (an API from before it did); none from a current API."""
    return {
        answer.job["model"] for answer in answers if isinstance(answer, JobArrays) and not answer.labelled
    }


def unlabelled(answers: Sequence[JobAnswer], versions: Versions) -> dict[int, str]:
    """Answers read as arrays that neither their archive nor their model's listed versions label (by
    position: the job id); only the job's JSON view then says how to label them."""
    return {
        index: answer.job["job_id"]
        for index, answer in enumerate(answers)
        if isinstance(answer, JobArrays) and answer.view(versions) is None
    }


def submission_frame(
    submission: Submission, answers: Sequence[JobAnswer], versions: Versions | None = None
) -> pd.DataFrame:
    """One long frame of the finished jobs' answers (in order), the same whether a job was read as
    arrays or as its JSON view; attrs from the first. ``versions`` labels the answers read as arrays."""
    sent: Sequence[Sequence[WireSeries] | None]
    sent = submission.plan.groups if submission.plan is not None else [None] * len(answers)
    parts, views = [], []
    for answer, group in zip(answers, sent, strict=True):
        if isinstance(answer, JobArrays):
            view = answer.view(versions or {})
            if view is None:
                raise ValueError(f"job {answer.job['job_id']}: no version {answer.job['version']!r} listed")
            parts.append(arrays_frame(answer.arrays, view["interval_level"], group))
        else:
            view = finished_answer(answer)
            parts.append(forecasts_frame(view, group))
        views.append(view)
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    frame.attrs = answer_attrs(views[0])
    return frame


@dataclass(frozen=True)
class BacktestPlan:
    """Every fold of every series as one named series; batched into as few requests as the limits allow."""

    forecast: ForecastPlan
    targets: pd.DataFrame
    """``unique_id``, ``ds``, ``cutoff``, ``y``: ``horizon`` rows per fold, in the order sent."""
    scales: dict[Hashable, float | None]
    skipped: list[Hashable]
    levels: Sequence[float]

    @classmethod
    def of(
        cls,
        df: pd.DataFrame,
        options: ForecastOptions,
        *,
        horizon: int,
        folds: int,
        step: int | None,
        input_size: int | None,
        freq: str | None,
        limits: RequestLimits,
    ) -> BacktestPlan:
        frame, freq = prepare(df, freq)
        made = make_folds(
            frame,
            horizon=horizon,
            folds=folds,
            step=step,
            input_size=input_size,
            min_size=input_size or 1,
            season=season_length(freq),
        )
        if made.targets.empty:
            raise ValueError(f"no series is long enough for {folds} folds of {horizon} steps")
        # Wire ids are fold numbers: ids must be unique in a request, and a series appears once per fold.
        plan = ForecastPlan.split(
            to_wire(made.histories, freq), dataclasses.replace(options, horizon=horizon), limits
        )
        return cls(plan, made.targets, made.scales, made.skipped, options.levels)

    def result(self, answers: Sequence[dict[str, Any]]) -> Backtest:
        predicted = self.forecast.frame(answers)
        if len(predicted) != len(self.targets):
            raise ValueError(
                f"expected {len(self.targets)} forecast steps, the API answered {len(predicted)}"
            )
        columns = [c for c in predicted.columns if c not in (ID, DS)]
        cv = pd.concat([self.targets, predicted[columns].set_axis(self.targets.index)], axis=1)
        return Backtest(
            model=str(predicted.attrs.get("model", self.forecast.options.model)),
            version=predicted.attrs.get("version"),
            forecasts=cv,
            scores=score(cv, self.scales, self.levels or _levels_in(columns)),
            skipped=self.skipped,
        )


def _levels_in(columns: Sequence[str]) -> list[float]:
    return [float(c[3:]) for c in columns if c.startswith("lo-")]


def model_window(info: dict[str, Any], version: str | None) -> int:
    """The window of ``version``, or the largest window among the model's versions."""
    windows = {v["version"]: int(v["window"]) for v in info.get("versions", [])}
    if version is not None and version in windows:
        return windows[version]
    return max(windows.values(), default=1)
