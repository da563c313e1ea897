"""Safety net: no accepted job stays queued or running forever.

At-least-once delivery and retries finish almost every job; this sweeper fails the rest
(a message lost with a Redis that keeps nothing on disk, workers down for longer than
``job_timeout_s``) with the reason ``job_expired`` and publishes their events.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from hybrid_core.errors import JobExpired
from job_store.jobs import utcnow
from job_store.lifecycle import Failed
from operation_server.state import ApiState

logger = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 30.0


def expire_stale_jobs(state: ApiState) -> int:
    """Fail every job older than ``job_timeout_s`` that is still active; return how many."""
    timeout_s = state.settings.job_timeout_s
    error = JobExpired(f"no worker finished the job within {timeout_s:g} s of its submission")
    stale = state.store.stale_active_jobs(utcnow() - timedelta(seconds=timeout_s))
    expired = len(state.lifecycle.finish([Failed(job.id, error) for job in stale]))
    if expired:
        logger.warning("expired %d jobs older than %g s", expired, timeout_s)
    return expired
