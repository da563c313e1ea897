"""Forecasts kept for scoring, observed values, and the scoring pass that matches them (SQL side).

Matching runs in bounded batches: a pass takes up to ``limit`` unscored actuals, finds every kept
forecast of the same model and series whose dates cover each one, writes one score per pair and
marks the actuals scored, in one transaction. An actual is matched with the forecasts made before
the pass that scores it; one that matches none is kept, marked scored with ``matched = 0``.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Table, bindparam, select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from hybrid_core.scoring import PointScore, TrackedForecast, packed_bands, score_point
from hybrid_core.time_axis import SeriesAxis, as_utc, future_timestamps
from job_store.jobs import insert_ignoring_duplicates, utcnow
from job_store.models import Actual, ForecastScore
from job_store.models import TrackedForecast as TrackedRow

_TRACKED: Table = TrackedRow.__table__  # type: ignore[assignment]
_ACTUALS: Table = Actual.__table__  # type: ignore[assignment]
_SCORES: Table = ForecastScore.__table__  # type: ignore[assignment]

# One executemany for a pass's actuals: each row gets its own ``matched``. The key parameters are
# renamed because SQLAlchemy reserves a column's own name for its SET value.
_MARK_SCORED = (
    _ACTUALS.update()
    .where(
        _ACTUALS.c.model == bindparam("key_model"),
        _ACTUALS.c.tenant == bindparam("key_tenant"),
        _ACTUALS.c.series_id == bindparam("key_series_id"),
        _ACTUALS.c.at == bindparam("key_at"),
    )
    .values(scored_at=bindparam("scored_at"), matched=bindparam("matched"))
)


def tracked_rows(
    tracked: Sequence[TrackedForecast],
    *,
    job_id: str | None,
    tenant: str,
    model: str,
    version: str,
    arm: str,
) -> list[dict[str, Any]]:
    """The ``tracked_forecasts`` rows of one answer's kept forecasts."""
    rows = []
    for item in tracked:
        steps = len(item.mean)
        [stamps] = future_timestamps([item.axis], steps)
        assert stamps is not None
        levels, array = packed_bands(item)
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        rows.append(
            {
                "job_id": job_id,
                "tenant": tenant,
                "model": model,
                "version": version,
                "arm": arm,
                "series_id": item.series_id,
                "freq": item.axis.freq,
                "last_observed": item.axis.last,
                "first_at": as_utc(stamps[0]),
                "last_at": as_utc(stamps[-1]),
                "steps": steps,
                "levels": levels,
                "packed": buffer.getvalue(),
                "scale": item.scale,
                "created_at": utcnow(),
            }
        )
    return rows


@dataclass(frozen=True)
class Score:
    """A score written by a pass, for the metrics."""

    model: str
    version: str
    arm: str
    levels: list[str]
    point: PointScore


@dataclass(frozen=True)
class ScoreRow:
    """A stored score, as the rollout report and guards read it."""

    version: str
    arm: str
    series_id: str
    at: datetime
    abs_error: float
    scaled_error: float | None
    covered: list[str]
    levels: list[str]


class AccuracyStore:
    """Keep forecasts, record actuals, score them, and read the scores back."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def track(self, rows: Sequence[dict[str, Any]]) -> None:
        """Keep forecasts that no job row carries (an unrecorded synchronous forecast)."""
        if rows:
            with self._sessions.begin() as session:
                session.execute(_TRACKED.insert(), list(rows))

    def record_actuals(self, model: str, tenant: str, points: Sequence[tuple[str, datetime, float]]) -> int:
        """Store ``tenant``'s observed ``(series_id, at, value)`` points; a point already recorded keeps
        its first value. Returns how many were new."""
        if not points:
            return 0
        now = utcnow()
        written = 0
        with self._sessions.begin() as session:
            for series_id, at, value in points:
                row = {
                    "model": model,
                    "tenant": tenant,
                    "series_id": series_id,
                    "at": at,
                    "value": value,
                    "received_at": now,
                }
                written += insert_ignoring_duplicates(session, _ACTUALS, row)
        return written

    def score_pending(self, *, limit: int) -> list[Score]:
        """Score up to ``limit`` unscored actuals against the forecasts that cover them (one transaction)."""
        now = utcnow()
        with self._sessions.begin() as session:
            actuals = session.execute(
                select(
                    _ACTUALS.c.model, _ACTUALS.c.tenant, _ACTUALS.c.series_id, _ACTUALS.c.at, _ACTUALS.c.value
                )
                .where(_ACTUALS.c.scored_at.is_(None))
                .order_by(_ACTUALS.c.received_at)
                .limit(limit)
            ).all()
            if not actuals:
                return []
            candidates = _covering(session, actuals)
            scores: list[Score] = []
            score_rows: list[dict[str, Any]] = []
            matched: dict[tuple[str, str, str, datetime], int] = defaultdict(int)
            for model, tenant, series_id, at, value in actuals:
                for tracked, stamps, array in candidates.get((model, tenant, series_id), []):
                    step = stamps.get(at)
                    if step is None:
                        continue
                    bands = {
                        key: (float(array[1 + 2 * i, step]), float(array[2 + 2 * i, step]))
                        for i, key in enumerate(tracked.levels)
                    }
                    point = score_point(value, float(array[0, step]), bands, tracked.scale)
                    matched[(model, tenant, series_id, at)] += 1
                    scores.append(Score(model, tracked.version, tracked.arm, tracked.levels, point))
                    score_rows.append(
                        {
                            "tracked_id": tracked.id,
                            "at": at,
                            "model": model,
                            "version": tracked.version,
                            "arm": tracked.arm,
                            "series_id": series_id,
                            "step": step + 1,
                            "abs_error": point.abs_error,
                            "scaled_error": point.scaled_error,
                            "covered": point.covered,
                            "levels": tracked.levels,
                            "created_at": now,
                        }
                    )
            for row in score_rows:
                insert_ignoring_duplicates(session, _SCORES, row)
            session.execute(
                _MARK_SCORED,
                [
                    {
                        "key_model": model,
                        "key_tenant": tenant,
                        "key_series_id": series_id,
                        "key_at": at,
                        "scored_at": now,
                        "matched": matched[(model, tenant, series_id, at)],
                    }
                    for model, tenant, series_id, at, _ in actuals
                ],
            )
            return scores

    def prune(self, before: datetime, *, limit: int) -> int:
        """Delete up to ``limit`` kept forecasts whose last date is before ``before`` (with their scores),
        and as many scored actuals dated before it; return how many rows went."""
        with self._sessions.begin() as session:
            ids = session.scalars(select(_TRACKED.c.id).where(_TRACKED.c.last_at < before).limit(limit)).all()
            if ids:
                session.execute(_SCORES.delete().where(_SCORES.c.tracked_id.in_(ids)))
                session.execute(_TRACKED.delete().where(_TRACKED.c.id.in_(ids)))
            keys = session.execute(
                select(_ACTUALS.c.model, _ACTUALS.c.tenant, _ACTUALS.c.series_id, _ACTUALS.c.at)
                .where(_ACTUALS.c.at < before, _ACTUALS.c.scored_at.is_not(None))
                .limit(limit)
            ).all()
            if keys:
                columns = (_ACTUALS.c.model, _ACTUALS.c.tenant, _ACTUALS.c.series_id, _ACTUALS.c.at)
                session.execute(_ACTUALS.delete().where(tuple_(*columns).in_([tuple(k) for k in keys])))
            return len(ids) + len(keys)

    def scores(
        self, model: str, versions: Sequence[str], since: datetime, *, limit: int = 200_000
    ) -> list[ScoreRow]:
        """Scores of ``model``'s ``versions`` written since ``since``, newest ``limit`` at most."""
        with self._sessions() as session:
            rows = session.execute(
                select(
                    _SCORES.c.version,
                    _SCORES.c.arm,
                    _SCORES.c.series_id,
                    _SCORES.c.at,
                    _SCORES.c.abs_error,
                    _SCORES.c.scaled_error,
                    _SCORES.c.covered,
                    _SCORES.c.levels,
                )
                .where(
                    _SCORES.c.model == model, _SCORES.c.version.in_(versions), _SCORES.c.created_at >= since
                )
                .order_by(_SCORES.c.created_at.desc())
                .limit(limit)
            )
            return [ScoreRow(*row) for row in rows]


_Candidate = tuple[Any, dict[datetime, int], npt.NDArray[np.float64]]


def _covering(session: Session, actuals: Sequence[Any]) -> dict[tuple[str, str, str], list[_Candidate]]:
    """Kept forecasts of the actuals' series whose dates reach theirs, with each date's step."""
    keys = {(model, tenant, series_id) for model, tenant, series_id, _, _ in actuals}
    earliest, latest = min(a.at for a in actuals), max(a.at for a in actuals)
    rows = session.execute(
        select(_TRACKED).where(
            tuple_(_TRACKED.c.model, _TRACKED.c.tenant, _TRACKED.c.series_id).in_(sorted(keys)),
            _TRACKED.c.first_at <= latest,
            _TRACKED.c.last_at >= earliest,
        )
    ).all()
    found: dict[tuple[str, str, str], list[_Candidate]] = defaultdict(list)
    for row in rows:
        [stamps] = future_timestamps([SeriesAxis(row.last_observed, row.freq)], row.steps)
        assert stamps is not None
        steps = {as_utc(stamp): index for index, stamp in enumerate(stamps)}
        found[(row.model, row.tenant, row.series_id)].append(
            (row, steps, np.load(io.BytesIO(row.packed), allow_pickle=False))
        )
    return found
