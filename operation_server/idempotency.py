"""``Idempotency-Key`` on ``POST /v1/jobs``: a retried submission gets the job it made the first time.

The same key with the same body answers the first job again (202, same ``job_id``); the same key
with another body is a 409. A tenant's key names at most one job (a unique index), so two
concurrent submissions with one key make one job.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, cast

import numpy as np
from fastapi import Header

from hybrid_core.errors import Conflict
from hybrid_core.schemas import Arm, ForecastRequest, JobAccepted, JobStatus
from job_store.models import Job
from operation_server.array_body import ArrayRequest

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        description="Repeat a submission safely: the same key and body give the same job.",
    ),
]


class IdempotencyConflict(Conflict):
    code = "idempotency_key_reused"


def request_fingerprint(body: ForecastRequest) -> str:
    """SHA-256 of the request as validated (field order and number formatting normalized)."""
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


def array_fingerprint(request: ArrayRequest) -> str:
    """SHA-256 of an array job as read: its options, and its series as float32 (any dtype sent)."""
    digest = hashlib.sha256(request.options.model_dump_json().encode())
    digest.update(repr(request.values.shape).encode())
    for part in (request.values, request.lengths, request.ids, request.starts):
        digest.update(b"|" if part is None else np.ascontiguousarray(part).tobytes())
    return digest.hexdigest()


def accepted(job: Job) -> JobAccepted:
    """The 202 answer of ``job``."""
    return JobAccepted(
        job_id=job.id,
        status=cast(JobStatus, job.status),
        model=job.model,
        version=job.version,
        arm=cast(Arm, job.arm),
        series_count=job.series_count,
        links={"self": f"/v1/jobs/{job.id}"},
    )


def replay(holder: Job, request_hash: str) -> JobAccepted:
    """The answer for a key already used: the first job, or 409 for another body."""
    if holder.request_hash != request_hash:
        raise IdempotencyConflict(
            "this Idempotency-Key was used with another request body", field="Idempotency-Key"
        )
    return accepted(holder)
