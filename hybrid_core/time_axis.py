"""Time axes of named series: validate a series' timestamps or start and frequency, and date its forecast.

A series is dated by the timestamp of its last point and a pandas frequency alias (``"W-SAT"``,
``"D"``, ``"h"``, ``"MS"``...). Its forecast's timestamps are that last point plus 1, 2 ... steps of
the frequency. Timestamps with a UTC offset are converted to UTC and keep ``+00:00``; naive ones
stay naive. All problems raise InvalidInput naming the field.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from pandas.tseries.offsets import BaseOffset

from hybrid_core.errors import InvalidInput

TimestampIn = date | datetime | str


@dataclass(frozen=True)
class SeriesAxis:
    """The timestamp of a series' last point (ISO 8601) and its frequency (pandas alias)."""

    last: str
    freq: str

    def as_list(self) -> list[str]:
        """The stored form, ``[last, freq]``."""
        return [self.last, self.freq]


def parse_offset(freq: str, field: str) -> BaseOffset:
    """The pandas offset of ``freq``; InvalidInput naming ``field`` for an unknown alias."""
    try:
        return to_offset(freq)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            f"{field} {freq!r} is not a known frequency; use a pandas alias such as 'D', 'h', 'W-SAT', 'MS'",
            field=field,
        ) from exc


def parse_timestamp(value: TimestampIn, field: str) -> pd.Timestamp:
    """``value`` as a pandas Timestamp (UTC when it carries an offset); InvalidInput naming ``field``."""
    return _timestamp(value, field)


def as_utc(stamp: pd.Timestamp | str) -> datetime:
    """A timestamp as an aware UTC datetime, naive ones read as UTC: how the database stores times."""
    parsed = pd.Timestamp(stamp)
    aware = parsed.tz_localize("UTC") if parsed.tzinfo is None else parsed.tz_convert("UTC")
    result: datetime = aware.to_pydatetime()
    return result


def _timestamp(value: TimestampIn, field: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"{field} {value!r} is not an ISO 8601 date or datetime", field=field) from exc
    if stamp is pd.NaT:
        raise InvalidInput(f"{field} is not a date", field=field)
    return stamp.tz_convert("UTC") if stamp.tzinfo is not None else stamp


def axis_from_start(start: TimestampIn, freq: str, length: int, field: str) -> SeriesAxis:
    """The axis of ``length`` points from ``start`` at ``freq``; the start must lie on the frequency."""
    return axis_on_offset(start, parse_offset(freq, f"{field}.freq"), length, f"{field}.start")


def axis_on_offset(start: TimestampIn, offset: BaseOffset, length: int, field: str) -> SeriesAxis:
    """The axis of ``length`` points from ``start`` (named ``field``), which must lie on ``offset``."""
    first = _timestamp(start, field)
    if not offset.is_on_offset(first):
        raise InvalidInput(
            f"{field} {first.isoformat()} does not fall on frequency {offset.freqstr!r}", field=field
        )
    return SeriesAxis(last=(first + (length - 1) * offset).isoformat(), freq=offset.freqstr)


def _parse_all(timestamps: Sequence[TimestampIn], field: str) -> pd.DatetimeIndex:
    """Every timestamp at once (UTC when they carry offsets); on failure, find and name the bad one."""
    try:
        index = pd.DatetimeIndex(pd.to_datetime(list(timestamps), format="ISO8601"))
    except (ValueError, TypeError):
        stamps = [_timestamp(value, f"{field}.timestamps[{i}]") for i, value in enumerate(timestamps)]
        if len({s.tzinfo is None for s in stamps}) > 1:
            message = f"{field}.timestamps mixes naive and UTC-offset times"
            raise InvalidInput(message, field=f"{field}.timestamps") from None
        index = pd.DatetimeIndex(stamps)
    if index.hasnans:
        position = int(index.isna().argmax())
        raise InvalidInput(
            f"{field}.timestamps[{position}] is not a date", field=f"{field}.timestamps[{position}]"
        )
    return index.tz_convert("UTC") if index.tz is not None else index


def axis_from_timestamps(
    timestamps: Sequence[TimestampIn], freq: str | None, length: int, field: str
) -> SeriesAxis:
    """The axis of explicit timestamps: one per value, strictly regular at ``freq`` (inferred if None)."""
    if len(timestamps) != length:
        raise InvalidInput(
            f"{field}.timestamps holds {len(timestamps)} timestamps for {length} values",
            field=f"{field}.timestamps",
        )
    index = _parse_all(timestamps, field)
    inferred = pd.infer_freq(index) if length >= 3 else None  # vectorized; None when irregular
    if freq is None and inferred is None:
        raise InvalidInput(
            f"{field}.timestamps are irregular (or too few to infer a frequency); send regular "
            "timestamps and a freq",
            field=f"{field}.timestamps",
        )
    offset = parse_offset(freq or str(inferred), f"{field}.freq")
    regular = inferred is not None and to_offset(inferred) == offset and offset.is_on_offset(index[0])
    if not regular:
        # The slow check (date_range walks non-fixed offsets point by point) names the first bad one.
        expected = pd.date_range(start=index[0], periods=length, freq=offset)
        if not offset.is_on_offset(index[0]) or not expected.equals(index):
            mismatch = next((i for i, (a, b) in enumerate(zip(index, expected, strict=True)) if a != b), 0)
            raise InvalidInput(
                f"{field}.timestamps are irregular for frequency {offset.freqstr!r} at position {mismatch}",
                field=f"{field}.timestamps[{mismatch}]",
            )
    return SeriesAxis(last=index[-1].isoformat(), freq=offset.freqstr)


FEW_DISTINCT_LASTS = 8


def future_timestamps(axes: Sequence[SeriesAxis | None], steps: int) -> list[list[str] | None]:
    """The ``steps`` timestamps after each axis' last point (None where a series has no axis).

    Series sharing a frequency are dated together (one vectorized addition per step over their
    distinct last points), and series sharing a last point share one list.
    """
    dated: list[list[str] | None] = [None] * len(axes)
    groups: dict[tuple[str, bool], dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for position, axis in enumerate(axes):
        if axis is not None:
            aware = "+" in axis.last[10:] or axis.last.endswith("Z")
            groups[(axis.freq, aware)][axis.last].append(position)
    for (freq, aware), by_last in groups.items():
        offset = to_offset(freq)
        lasts = list(by_last)
        index = pd.DatetimeIndex([pd.Timestamp(last) for last in lasts])
        if aware:
            index = index.tz_convert("UTC").tz_localize(None)
        if len(lasts) <= FEW_DISTINCT_LASTS:  # date_range per last point beats per-step additions here
            stamps = np.stack(
                [
                    pd.date_range(last + offset, periods=steps, freq=offset).to_numpy("datetime64[ns]")
                    for last in index
                ]
            )
        else:
            stamps = np.stack(
                [(index + step * offset).to_numpy("datetime64[ns]") for step in range(1, steps + 1)], axis=1
            )
        whole_seconds = bool((stamps.astype(np.int64) % 1_000_000_000 == 0).all())
        text = np.datetime_as_string(stamps, unit="s" if whole_seconds else "ns")
        if aware:
            text = np.char.add(text, "+00:00")
        for row, last in enumerate(lasts):
            shared = text[row].tolist()
            for position in by_last[last]:
                dated[position] = shared
    return dated


_SEASONS = {"h": 24, "min": 60, "D": 7, "B": 5, "W": 52, "M": 12, "Q": 4}


def season_length(freq: str) -> int:
    """The seasonal period used to scale MASE: 24 for hourly, 7 daily, 52 weekly, 12 monthly, 4 quarterly.

    Frequencies without a usual season (yearly, multiples such as ``15min``) give 1: the naive forecast.
    """
    offset = to_offset(freq)
    if offset.n != 1:
        return 1
    name = offset.name.split("-")[0]
    for prefix, season in _SEASONS.items():
        if name == prefix or (prefix in {"M", "Q"} and name.startswith(prefix)):
            return season
    return 1
