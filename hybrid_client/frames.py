"""pandas long frames <-> the API's named series and forecasts.

In: one row per observation, ``unique_id``, ``ds``, ``y``. ``ds`` is a date/datetime (the series is sent
as ``start`` + ``freq``, gaps as null, which the platform interpolates) or an integer step (the series is
sent without a time axis and its forecast is numbered on from the last step).

Out: one row per forecast step, ``unique_id``, ``ds``, ``mean``, then ``lo-<level>`` / ``hi-<level>`` for
each level asked (the version's own band, e.g. ``lo-90``, when none was), then ``q-<quantile>``.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

ID, DS, Y = "unique_id", "ds", "y"


@dataclass(frozen=True)
class WireSeries:
    """One series as sent: the user's id, the JSON object, and its last step when it has no time axis."""

    uid: Hashable
    body: dict[str, Any]
    last_step: int | None = None

    @property
    def points(self) -> int:
        return len(self.body["values"])


def check_columns(df: pd.DataFrame, *columns: str) -> None:
    """ValueError naming the columns ``df`` lacks."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"the frame lacks column(s) {missing}; expected long format {list(columns)}")


def _is_dated(ds: pd.Series) -> bool:
    return bool(pd.api.types.is_datetime64_any_dtype(ds))


def _dated(df: pd.DataFrame) -> pd.DataFrame:
    if _is_dated(df[DS]) or pd.api.types.is_integer_dtype(df[DS]):
        return df
    return df.assign(**{DS: pd.to_datetime(df[DS])})


def infer_freq(df: pd.DataFrame, *, sample: int = 50) -> str:
    """The pandas frequency alias of the frame's series (the first ``sample`` series must agree)."""
    found: set[str] = set()
    for _, group in list(df.groupby(ID, sort=False))[:sample]:
        stamps = pd.DatetimeIndex(group[DS].sort_values())
        if len(stamps) >= 3:
            freq = pd.infer_freq(stamps)
            if freq is not None:
                found.add(freq)
    if len(found) != 1:
        problem = f"series disagree ({sorted(found)})" if found else "no series is regular"
        raise ValueError(f"cannot infer the frequency: {problem}; pass freq=, e.g. 'W-SAT', 'D', 'h'")
    return found.pop()


def prepare(df: pd.DataFrame, freq: str | None, *, infer: bool = True) -> tuple[pd.DataFrame, str | None]:
    """The frame sorted by id and time with ``ds`` parsed, and its frequency (None for integer steps,
    or when not ``infer`` and none is given)."""
    check_columns(df, ID, DS, Y)
    frame = _dated(df[[ID, DS, Y]]).sort_values([ID, DS], kind="stable")
    if _is_dated(frame[DS]) and infer:
        return frame, freq or infer_freq(frame)
    return frame, None


def series_of(uid: Hashable, ds: pd.Series, y: pd.Series, freq: str | None) -> WireSeries:
    """One series' wire object: ``start`` + ``freq`` with gaps as null, or bare values for integer steps."""
    values = y.to_numpy(dtype=float)
    if freq is None:
        return WireSeries(uid, {"id": str(uid), "values": _nullable(values)}, last_step=int(ds.iloc[-1]))
    stamps = pd.DatetimeIndex(ds)
    if stamps.has_duplicates:
        raise ValueError(f"series {uid!r} has duplicate timestamps")
    axis = pd.date_range(stamps[0], stamps[-1], freq=freq)
    if len(axis) == 0 or axis[0] != stamps[0] or not stamps.isin(axis).all():
        raise ValueError(f"series {uid!r}: its timestamps do not fall on frequency {freq!r}")
    if len(axis) != len(stamps):
        values = pd.Series(values, index=stamps).reindex(axis).to_numpy(dtype=float)
    body = {"id": str(uid), "values": _nullable(values), "start": stamps[0].isoformat(), "freq": freq}
    return WireSeries(uid, body)


def to_wire(df: pd.DataFrame, freq: str | None) -> list[WireSeries]:
    """Every series of a prepared frame, in the frame's order."""
    return [series_of(uid, group[DS], group[Y], freq) for uid, group in df.groupby(ID, sort=False)]


def _nullable(values: npt.NDArray[np.float64]) -> list[float | None]:
    return [None if v != v else v for v in values.tolist()]  # NaN is the only value not equal to itself


def chunks(series: Sequence[WireSeries], max_series: int, max_points: int) -> Iterator[list[WireSeries]]:
    """Consecutive groups of at most ``max_series`` series and ``max_points`` points (one series at least)."""
    group: list[WireSeries] = []
    points = 0
    for item in series:
        if group and (len(group) >= max_series or points + item.points > max_points):
            yield group
            group, points = [], 0
        group.append(item)
        points += item.points
    if group:
        yield group


def request_body(
    model: str,
    series: Sequence[WireSeries],
    *,
    version: str | None,
    horizon: int | None,
    levels: Sequence[float],
    quantiles: Sequence[float],
    routing_key: str | None,
) -> dict[str, Any]:
    """The body of ``POST /v1/jobs`` and ``POST /v1/models/{model}/forecast``."""
    body: dict[str, Any] = {"model": model, "series": [s.body for s in series]}
    optional = {
        "version": version,
        "horizon": horizon,
        "levels": list(levels) or None,
        "quantiles": list(quantiles) or None,
        "routing_key": routing_key,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    return body


def label(value: float) -> str:
    """How the API keys a level or quantile (``f"{value:g}"``): 80 -> "80", 0.1 -> "0.1"."""
    return f"{value:g}"


def forecasts_frame(
    answer: dict[str, Any], sent: Sequence[WireSeries] | None = None
) -> pd.DataFrame:
    """The long frame of one answer (sync answer or finished job view), series in request order.

    ``sent`` gives the user's ids (not only their string form) and the last step of series without a
    time axis; without it the answer's ids are used and undated steps are numbered from 1.
    """
    forecasts: list[dict[str, Any]] = answer.get("forecasts") or []
    default_level = label(float(answer.get("interval_level") or 0.9) * 100)
    parts: list[pd.DataFrame] = []
    for position, forecast in enumerate(forecasts):
        steps = len(forecast["mean"])
        wire = sent[position] if sent is not None else None
        uid = wire.uid if wire is not None else forecast.get("id", position)
        if forecast.get("timestamps") is not None:
            ds: Any = pd.to_datetime(forecast["timestamps"])
        else:
            first = (wire.last_step if wire is not None and wire.last_step is not None else 0) + 1
            ds = np.arange(first, first + steps)
        columns: dict[str, Any] = {ID: [uid] * steps, DS: ds, "mean": forecast["mean"]}
        intervals = forecast.get("intervals")
        if intervals is None:
            intervals = {default_level: {"lower": forecast["lower"], "upper": forecast["upper"]}}
        for key, band in intervals.items():
            columns[f"lo-{key}"] = band["lower"]
            columns[f"hi-{key}"] = band["upper"]
        for key, values in (forecast.get("quantiles") or {}).items():
            columns[f"q-{key}"] = values
        parts.append(pd.DataFrame(columns))
    if not parts:
        return pd.DataFrame(columns=[ID, DS, "mean"])
    return pd.concat(parts, ignore_index=True)


def answer_attrs(answer: dict[str, Any]) -> dict[str, Any]:
    """What the answer says about the whole request, kept in ``DataFrame.attrs``."""
    keys = ("model", "version", "arm", "horizon", "interval_level", "direct_steps", "job_id")
    return {key: answer.get(key) for key in keys if answer.get(key) is not None}


def actuals_bodies(model: str, df: pd.DataFrame, max_series: int, max_points: int) -> list[dict[str, Any]]:
    """The bodies of ``POST /v1/actuals`` for a prepared frame: each series' observed points (missing
    ``y`` left out), at most ``max_series`` series and ``max_points`` points a body."""
    frame = df.dropna(subset=[Y])
    if not _is_dated(frame[DS]):
        raise ValueError("actuals need dates in ds: the platform matches them to forecasts by timestamp")
    bodies: list[dict[str, Any]] = []
    series: list[dict[str, Any]] = []
    points = 0
    for uid, group in frame.groupby(ID, sort=False):
        if series and (len(series) >= max_series or points + len(group) > max_points):
            bodies.append({"model": model, "series": series})
            series, points = [], 0
        stamps = pd.DatetimeIndex(group[DS])
        series.append(
            {
                "id": str(uid),
                "timestamps": [stamp.isoformat() for stamp in stamps],
                "values": group[Y].astype(float).tolist(),
            }
        )
        points += len(group)
    if series:
        bodies.append({"model": model, "series": series})
    return bodies
