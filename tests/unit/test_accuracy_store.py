"""Kept forecasts, actuals and the scoring pass, on a migrated SQLite database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select

from hybrid_core.scoring import TrackedForecast, score_point, seasonal_naive_scale
from hybrid_core.time_axis import SeriesAxis, as_utc
from job_store.accuracy import AccuracyStore, tracked_rows
from job_store.database import make_engine, make_session_factory, migrate
from job_store.jobs import utcnow
from job_store.models import Actual, ForecastScore
from job_store.models import TrackedForecast as TrackedRow


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'accuracy.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def accuracy(engine: Engine) -> AccuracyStore:
    return AccuracyStore(make_session_factory(engine))


def kept(series_id: str, version: str, arm: str, tenant: str = "t") -> list[dict[str, object]]:
    """A daily forecast of 3 steps after 2024-01-01: mean 10, 80% band [9, 11], scale 2."""
    tracked = TrackedForecast(
        series_id=series_id,
        axis=SeriesAxis("2024-01-01T00:00:00", "D"),
        mean=[10.0, 10.0, 10.0],
        bands={"80": ([9.0, 9.0, 9.0], [11.0, 11.0, 11.0])},
        scale=2.0,
    )
    return tracked_rows([tracked], job_id=None, tenant=tenant, model="m", version=version, arm=arm)


def count(engine: Engine, table: type) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table)) or 0)


def test_seasonal_naive_scale_uses_the_season_when_two_seasons_of_history() -> None:
    assert seasonal_naive_scale([float(t) for t in range(14)], 7) == 7.0
    assert seasonal_naive_scale([1.0, 3.0, None, 4.0], 7) == 2.0  # too short: lag 1, the gap skipped
    assert seasonal_naive_scale([5.0, 5.0, 5.0], 1) is None  # a flat history has no scale


def test_score_point_lists_the_levels_whose_band_holds_the_value() -> None:
    score = score_point(10.5, 10.0, {"50": (9.8, 10.2), "80": (9.0, 11.0)}, 2.0)
    assert (score.abs_error, score.scaled_error, score.covered) == (0.5, 0.25, ["80"])


def test_scoring_matches_each_actual_to_every_forecast_covering_its_date(
    accuracy: AccuracyStore, engine: Engine
) -> None:
    accuracy.track(kept("a", "1", "stable") + kept("a", "2", "shadow") + kept("a", "1", "stable", tenant="u"))
    points = [
        ("a", as_utc("2024-01-03"), 13.0),
        ("a", as_utc("2024-01-09"), 1.0),
        ("b", as_utc("2024-01-02"), 1.0),
    ]
    assert accuracy.record_actuals("m", "t", points) == 3
    assert accuracy.record_actuals("m", "t", points[:1]) == 0  # a point keeps its first value
    scores = accuracy.score_pending(limit=100)
    # 2024-01-03 is step 2 of both of tenant t's forecasts; the others match nothing.
    assert sorted((s.version, s.arm, s.point.abs_error, s.point.scaled_error) for s in scores) == [
        ("1", "stable", 3.0, 1.5),
        ("2", "shadow", 3.0, 1.5),
    ]
    assert all(s.point.covered == [] for s in scores)
    assert accuracy.score_pending(limit=100) == []  # every actual was scored once
    with engine.connect() as connection:
        matched = dict(
            connection.execute(
                select(Actual.series_id, func.sum(Actual.matched)).group_by(Actual.series_id)
            ).all()
        )
    assert matched == {"a": 2, "b": 0}
    rows = accuracy.scores("m", ["1", "2"], utcnow() - timedelta(hours=1))
    assert {(r.series_id, r.at, r.version) for r in rows} == {
        ("a", as_utc("2024-01-03"), v) for v in ("1", "2")
    }


def test_scoring_marks_a_pass_s_actuals_in_one_update_when_they_matched_differently(
    accuracy: AccuracyStore, engine: Engine
) -> None:
    accuracy.track(kept("a", "1", "stable") + kept("a", "2", "shadow"))
    days = ("2024-01-02", "2024-01-04", "2024-01-09")  # two forecasts cover the first two, none the last
    accuracy.record_actuals("m", "t", [("a", as_utc(day), 10.0) for day in days])
    updates: list[bool] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("UPDATE ACTUALS"):
            updates.append(executemany)

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert len(accuracy.score_pending(limit=10)) == 4
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert updates == [True]  # one executemany for the pass, not one statement per actual
    with engine.connect() as connection:
        rows = connection.execute(select(Actual.at, Actual.matched, Actual.scored_at)).all()
    assert {at: matched for at, matched, _ in rows} == {
        as_utc("2024-01-02"): 2,
        as_utc("2024-01-04"): 2,
        as_utc("2024-01-09"): 0,
    }
    assert all(scored_at is not None for _, _, scored_at in rows)


def test_prune_deletes_forecasts_and_actuals_dated_before_the_cutoff(
    accuracy: AccuracyStore, engine: Engine
) -> None:
    accuracy.track(kept("a", "1", "stable"))
    accuracy.record_actuals("m", "t", [("a", as_utc("2024-01-02"), 10.0)])
    accuracy.score_pending(limit=10)
    assert accuracy.prune(as_utc("2024-01-02"), limit=10) == 0  # the forecast runs to 2024-01-04
    assert accuracy.prune(as_utc("2024-02-01"), limit=10) == 2
    assert (count(engine, TrackedRow), count(engine, ForecastScore), count(engine, Actual)) == (0, 0, 0)
