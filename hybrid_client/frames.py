"""pandas long frames <-> the API's named series and forecasts.

In: one row per observation, ``unique_id``, ``ds``, ``y``. ``ds`` is a date/datetime (the series is sent
as ``start`` + ``freq``, gaps as null, which the platform interpolates) or an integer step (the series is
sent without a time axis and its forecast is numbered on from the last step).

Out: one row per forecast step, ``unique_id``, ``ds``, ``mean``, then ``lo-<level>`` / ``hi-<level>`` for
each level asked (the version's own band, e.g. ``lo-90``, when none was), then ``q-<quantile>``.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

ID, DS, Y = "unique_id", "ds", "y"


@dataclass(frozen=True)
class WireSeries:
    """One series as sent: the user's id and its string form, the values (NaN where missing), and
    either its first date and frequency or, without a time axis, its last step."""

    uid: Hashable
    id: str
    values: npt.NDArray[np.float64]
    start: str | None = None
    freq: str | None = None
    last_step: int | None = None

    @property
    def points(self) -> int:
        return len(self.values)

    def json(self) -> dict[str, Any]:
        """The series as a JSON body's named series (``null`` where missing)."""
        body: dict[str, Any] = {"id": self.id, "values": _nullable(self.values)}
        if self.start is not None:
            body |= {"start": self.start, "freq": self.freq}
        return body


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
    for _, group in itertools.islice(df.groupby(ID, sort=False), sample):
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


def to_wire(df: pd.DataFrame, freq: str | None) -> list[WireSeries]:
    """Every series of a prepared frame (sorted by id and ds), in the frame's order.

    Vectorized over the whole frame: every timestamp is placed on one axis at ``freq`` at once.
    """
    if df.empty:
        return []
    ids = df[ID].to_numpy()
    codes, _ = pd.factorize(df[ID], sort=False)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(df)]
    y = df[Y].to_numpy(dtype=float)
    if freq is None:
        last = df[DS].to_numpy()[ends - 1]
        return [
            WireSeries(ids[a], str(ids[a]), y[a:b], last_step=int(last[k]))
            for k, (a, b) in enumerate(zip(starts, ends, strict=True))
        ]
    stamps = pd.DatetimeIndex(df[DS])
    axis = pd.date_range(stamps.min(), stamps.max(), freq=freq)
    position = axis.get_indexer(stamps)
    off = np.flatnonzero(position < 0)
    if off.size:
        raise ValueError(f"series {ids[off[0]]!r}: {stamps[off[0]]} does not fall on frequency {freq!r}")
    repeated = np.flatnonzero(np.diff(position) <= 0)
    repeated = repeated[codes[repeated] == codes[repeated + 1]]
    if repeated.size:
        raise ValueError(f"series {ids[repeated[0]]!r} has duplicate timestamps")
    first = position[starts]
    spans = position[ends - 1] - first + 1
    start_iso = [stamp.isoformat() for stamp in axis[first]]
    wire = []
    for k, (a, b) in enumerate(zip(starts, ends, strict=True)):
        values = y[a:b]
        if spans[k] != b - a:  # gaps: NaN (null in JSON) where no row
            values = np.full(spans[k], np.nan)
            values[position[a:b] - first[k]] = y[a:b]
        wire.append(WireSeries(ids[a], str(ids[a]), values, start_iso[k], freq))
    return wire


def _nullable(values: npt.NDArray[np.float64]) -> list[float | None]:
    as_list: list[float | None] = values.tolist()
    if np.isnan(values).any():
        return [None if v != v else v for v in as_list]  # NaN is the only value not equal to itself
    return as_list


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
    body: dict[str, Any] = {"model": model, "series": [s.json() for s in series]}
    options = request_options(
        version=version, horizon=horizon, levels=levels, quantiles=quantiles, routing_key=routing_key
    )
    return body | options


def request_options(
    *,
    version: str | None,
    horizon: int | None,
    levels: Sequence[float],
    quantiles: Sequence[float],
    routing_key: str | None,
) -> dict[str, Any]:
    """A request's options besides its model and series, only those given (a JSON body's fields,
    an array job's query parameters)."""
    optional = {
        "version": version,
        "horizon": horizon,
        "levels": list(levels) or None,
        "quantiles": list(quantiles) or None,
        "routing_key": routing_key,
    }
    return {key: value for key, value in optional.items() if value is not None}


def label(value: float) -> str:
    """How the API keys a level or quantile (``f"{value:g}"``): 80 -> "80", 0.1 -> "0.1"."""
    return f"{value:g}"


def forecasts_frame(answer: dict[str, Any], sent: Sequence[WireSeries] | None = None) -> pd.DataFrame:
    """The long frame of one answer (sync answer or finished job view), series in request order.

    ``sent`` gives the user's ids (not only their string form) and the last step of series without a
    time axis; without it the answer's ids are used and undated steps are numbered from 1.
    """
    forecasts: list[dict[str, Any]] = answer.get("forecasts") or []
    if not forecasts:
        return pd.DataFrame(columns=[ID, DS, "mean"])
    steps = [len(f["mean"]) for f in forecasts]
    uids = [sent[i].uid if sent is not None else f.get("id", i) for i, f in enumerate(forecasts)]
    uid_column = np.empty(len(uids), dtype=object)
    uid_column[:] = uids
    columns: dict[str, Any] = {ID: np.repeat(uid_column, steps), DS: _future_ds(forecasts, sent)}
    columns["mean"] = _flat(f["mean"] for f in forecasts)
    default = {label(float(answer.get("interval_level") or 0.9) * 100): None}
    for key in forecasts[0].get("intervals") or default:
        bands = [f["intervals"][key] if key in (f.get("intervals") or {}) else f for f in forecasts]
        columns[f"lo-{key}"] = _flat(b["lower"] for b in bands)
        columns[f"hi-{key}"] = _flat(b["upper"] for b in bands)
    for key in forecasts[0].get("quantiles") or {}:
        columns[f"q-{key}"] = _flat(f["quantiles"][key] for f in forecasts)
    return pd.DataFrame(columns)


def _flat(lists: Iterable[list[float]]) -> npt.NDArray[np.float64]:
    return np.fromiter(itertools.chain.from_iterable(lists), dtype=np.float64)


def _future_ds(forecasts: Sequence[dict[str, Any]], sent: Sequence[WireSeries] | None) -> Any:
    """Every forecast's dates (one parse for all), or steps numbered on from each series' last one."""
    if all(f.get("timestamps") is not None for f in forecasts):
        return pd.to_datetime(
            list(itertools.chain.from_iterable(f["timestamps"] for f in forecasts)), format="ISO8601"
        )
    parts = []
    for i, f in enumerate(forecasts):
        if f.get("timestamps") is not None:
            parts.append(list(pd.to_datetime(f["timestamps"], format="ISO8601")))
            continue
        last = sent[i].last_step if sent is not None else None
        first = (last or 0) + 1
        parts.append(list(range(first, first + len(f["mean"]))))
    return list(itertools.chain.from_iterable(parts))


def arrays_frame(
    arrays: Mapping[str, npt.NDArray[Any]],
    interval_level: float | None,
    sent: Sequence[WireSeries] | None = None,
) -> pd.DataFrame:
    """The long frame of a job's forecasts read as arrays (``GET /v1/jobs/{id}/forecasts``): the frame
    :func:`forecasts_frame` builds from the job's JSON view, without a Python object per value.

    ``arrays`` in the archive's order: ``mean``, ``lower``, ``upper`` (``[series, horizon]``), then
    ``lo-80``/``hi-80`` and ``q-0.1``... as asked, ``id`` and ``timestamps`` ("" where a series was not
    named or dated). ``interval_level`` names the version's own band when no level was asked.
    """
    mean = arrays["mean"]
    count, steps = mean.shape
    if count == 0:
        return pd.DataFrame(columns=[ID, DS, "mean"])
    if sent is not None and len(sent) != count:
        raise ValueError(f"sent {len(sent)} series, the API answered {count} forecasts")
    columns: dict[str, Any] = {
        ID: np.repeat(_array_uids(arrays.get("id"), count, sent), steps),
        DS: _array_ds(arrays.get("timestamps"), count, steps, sent),
        "mean": mean.reshape(-1),
    }
    levels = [name[3:] for name in arrays if name.startswith("lo-")]
    for key in levels:
        columns[f"lo-{key}"] = arrays[f"lo-{key}"].reshape(-1)
        columns[f"hi-{key}"] = arrays[f"hi-{key}"].reshape(-1)
    if not levels:
        key = label(float(interval_level or 0.9) * 100)
        columns[f"lo-{key}"] = arrays["lower"].reshape(-1)
        columns[f"hi-{key}"] = arrays["upper"].reshape(-1)
    for name in arrays:
        if name.startswith("q-"):
            columns[name] = arrays[name].reshape(-1)
    return pd.DataFrame(columns)


def _array_uids(
    ids: npt.NDArray[np.str_] | None, count: int, sent: Sequence[WireSeries] | None
) -> npt.NDArray[np.object_]:
    """The user's ids when sent, else the answer's, else (as the JSON view leaves ``id`` out) the index."""
    column = np.empty(count, dtype=object)
    if sent is not None:
        column[:] = [s.uid for s in sent]
    elif ids is None:
        column[:] = list(range(count))
    else:
        column[:] = ids.tolist()
        unnamed = np.flatnonzero(ids == "")
        column[unnamed] = unnamed.tolist()
    return column


def _array_ds(
    stamps: npt.NDArray[np.str_] | None, count: int, steps: int, sent: Sequence[WireSeries] | None
) -> Any:
    """Every forecast's dates (one parse), or steps numbered on from each series' last one; an object
    column of both when only some series are dated, as :func:`_future_ds` gives."""
    dated = np.zeros(count, dtype=bool) if stamps is None else stamps[:, 0] != ""
    if stamps is not None and dated.all():
        return pd.to_datetime(stamps.reshape(-1), format="ISO8601")
    last = [s.last_step or 0 for s in sent] if sent is not None else [0] * count
    numbered = np.repeat(np.asarray(last, dtype=np.int64) + 1, steps) + np.tile(np.arange(steps), count)
    if stamps is None or not dated.any():
        return numbered
    mixed = numbered.astype(object)
    mixed[np.repeat(dated, steps)] = list(pd.to_datetime(stamps[dated].reshape(-1), format="ISO8601"))
    return mixed


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
