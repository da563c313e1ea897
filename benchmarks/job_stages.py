"""Where a bulk job's time went, from its durable record and the client's own marks."""

from __future__ import annotations

from sqlalchemy import create_engine, select

from benchmarks.workloads import BulkJobTiming
from job_store.models import Job, JobResult


def job_stages(database_url: str, timing: BulkJobTiming) -> dict[str, float]:
    """Seconds per stage of the product path for one finished job.

    ``submit_s`` (POST: upload, parsing, validation, recording, enqueueing), ``queue_wait_s``
    (recorded -> a worker started it), the worker's ``preprocess_s`` / ``infer_s`` /
    ``postprocess_s``, ``worker_other_s`` (reading the input, persisting and publishing the
    result) and ``result_fetch_s`` (finished -> the client holds the parsed result).
    """
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            created, started, finished = connection.execute(
                select(Job.created_at, Job.started_at, Job.finished_at).where(Job.id == timing.job_id)
            ).one()
            timings = connection.execute(
                select(JobResult.timings).where(JobResult.job_id == timing.job_id)
            ).scalar_one()
    finally:
        engine.dispose()
    if started is None or finished is None:
        return {"submit_s": timing.submit_s}
    worker_s = (finished - started).total_seconds()
    forecast_s = float(timings.get("total_s", 0.0))
    return {
        "submit_s": timing.submit_s,
        "queue_wait_s": (started - created).total_seconds(),
        "preprocess_s": float(timings.get("preprocess_s", 0.0)),
        "infer_s": float(timings.get("infer_s", 0.0)),
        "postprocess_s": float(timings.get("postprocess_s", 0.0)),
        "worker_other_s": max(0.0, worker_s - forecast_s),
        "result_fetch_s": max(0.0, timing.answered_at_unix_s - finished.timestamp()),
    }
