"""The background pass that scores observed values against the forecasts made for them.

Every :data:`SCORING_INTERVAL_S` one API process (elected by ``job_store.pass_lock``) scores
up to :data:`MAX_ACTUALS_PER_PASS` waiting actuals (``job_store.accuracy``) and counts the
scores in the Prometheus metrics. Scoring never runs on a request's path.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine

from job_store.accuracy import AccuracyStore, Score
from job_store.pass_lock import exclusive_pass
from operation_server import metrics

SCORING_INTERVAL_S = 2.0
MAX_ACTUALS_PER_PASS = 5_000


def score_actuals(engine: Engine, accuracy: AccuracyStore) -> int:
    """One scoring pass, unless another API process runs it now; return how many scores it wrote."""
    with exclusive_pass(engine, "actuals scoring") as elected:
        if not elected:
            return 0
        scores = accuracy.score_pending(limit=MAX_ACTUALS_PER_PASS)
    observe(scores)
    return len(scores)


def observe(scores: Sequence[Score]) -> None:
    """Count scores in the accuracy metrics."""
    for score in scores:
        labels = (score.model, score.version, score.arm)
        metrics.SCORED_POINTS.labels(*labels).inc()
        metrics.ABS_ERROR.labels(*labels).inc(score.point.abs_error)
        if score.point.scaled_error is not None:
            metrics.SCALED_POINTS.labels(*labels).inc()
            metrics.SCALED_ERROR.labels(*labels).inc(score.point.scaled_error)
        for level in score.point.covered:
            metrics.COVERED_POINTS.labels(*labels, level).inc()
