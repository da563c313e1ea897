"""Each client method as a plan: the request bodies it sends and how their answers become frames.

The sync and asyncio clients only do the HTTP; everything else about a call lives here, once.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from hybrid_client._protocol import RequestLimits
from hybrid_client.errors import JobCancelled, JobFailed
from hybrid_client.evaluation import Backtest, make_folds, score, season_length
from hybrid_client.frames import (
    DS,
    ID,
    WireSeries,
    answer_attrs,
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

    def bodies(self) -> list[dict[str, Any]]:
        o = self.options
        return [
            request_body(
                o.model,
                group,
                version=o.version,
                horizon=o.horizon,
                levels=o.levels,
                quantiles=o.quantiles,
                routing_key=o.routing_key,
            )
            for group in self.groups
        ]

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


def submission_frame(submission: Submission, views: Sequence[dict[str, Any]]) -> pd.DataFrame:
    answers = [finished_answer(view) for view in views]
    if submission.plan is not None:
        return submission.plan.frame(answers)
    frame = pd.concat([forecasts_frame(a) for a in answers], ignore_index=True)
    frame.attrs = answer_attrs(answers[0])
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
