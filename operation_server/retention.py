"""Retention: finished jobs (with their inputs, results and shadows), published events, and forecasts
kept for scoring and actuals dated before the cutoff, older than ``retention_days``, are deleted in
bounded batches by one API process at a time."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import Engine

from hybrid_core.settings import Settings
from job_store.accuracy import AccuracyStore
from job_store.jobs import JobStore, utcnow
from job_store.pass_lock import exclusive_pass

logger = logging.getLogger(__name__)

PRUNE_INTERVAL_S = 300.0
BATCH_ROWS = 1000
MAX_BATCHES_PER_PASS = 20
"""A pass deletes at most 20,000 jobs and 20,000 events: bounded transactions, bounded time."""


def prune_old_rows(
    settings: Settings, engine: Engine, store: JobStore, accuracy: AccuracyStore
) -> tuple[int, int]:
    """One retention pass; return (jobs, events) deleted (0, 0 when another process runs it)."""
    if not settings.retention_days:
        return (0, 0)
    cutoff = utcnow() - timedelta(days=settings.retention_days)
    jobs = events = 0
    with exclusive_pass(engine, "retention") as elected:
        if not elected:
            return (0, 0)
        for _ in range(MAX_BATCHES_PER_PASS):
            deleted = store.prune_finished(cutoff, limit=BATCH_ROWS)
            jobs += deleted
            if deleted < BATCH_ROWS:
                break
        for _ in range(MAX_BATCHES_PER_PASS):
            deleted = store.prune_published_events(cutoff, limit=BATCH_ROWS)
            events += deleted
            if deleted < BATCH_ROWS:
                break
        for _ in range(MAX_BATCHES_PER_PASS):
            if accuracy.prune(cutoff, limit=BATCH_ROWS) < BATCH_ROWS:
                break
    if jobs or events:
        logger.info(
            "retention: deleted %d jobs and %d published events older than %g days",
            jobs,
            events,
            settings.retention_days,
        )
    return (jobs, events)
