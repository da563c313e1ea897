"""The platform's error tree: one base that carries its HTTP status and retryability.

    HybridError                      500  permanent
    ├── InvalidInput                 422  permanent (names the offending field)
    ├── PayloadTooLarge              413  permanent
    ├── NotFound                     404  permanent
    │   ├── ModelNotFound
    │   ├── VersionNotFound
    │   └── JobNotFound
    ├── Conflict                     409  permanent
    │   ├── JobFinished                (cancelling a job that already ended)
    │   ├── NoForecasts                (asking a failed or cancelled job for its forecasts)
    │   ├── VersionNotLoaded
    │   └── VersionIncomplete         (a version folder lacks a file, or its artifact is truncated)
    ├── JobExpired                   504  permanent (no worker finished it in time)
    ├── JobCancelled                      the reason recorded on a job its owner cancelled
    ├── Unauthorized                 401  permanent
    ├── Forbidden                    403  permanent
    ├── TooManyRequests              429  retry later (a key's rate or in-flight limit, a full queue)
    └── RetryableError               503  retryable (Celery retries these and only these)
        ├── ServiceUnavailable           (Triton, Redis, database or broker down)
        │   ├── EnqueueFailed            (the job was recorded, the broker refused its message)
        │   ├── SyncAtCapacity           (the sync path's concurrency bound is reached)
        │   └── VersionNotReady          (in the repository, not yet READY in Triton: restart, rollout)
        └── DeadlineExceeded         504

Transports map these once: FastAPI through one exception handler, Celery
through ``autoretry_for=(RetryableError,)``.
"""

from __future__ import annotations


class HybridError(Exception):
    """Base of every error the platform raises on purpose."""

    status_code: int = 500
    code: str = "internal_error"
    retryable: bool = False
    retry_after_s: int = 1
    """What ``Retry-After`` tells an HTTP client when the error is retryable."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, str]:
        """The ``{"code", "message"[, "field"]}`` form used in API answers and job records."""
        body = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body


class InvalidInput(HybridError):
    status_code = 422
    code = "invalid_input"


class PayloadTooLarge(HybridError):
    status_code = 413
    code = "payload_too_large"


class NotFound(HybridError):
    status_code = 404
    code = "not_found"


class ModelNotFound(NotFound):
    code = "model_not_found"


class VersionNotFound(NotFound):
    code = "version_not_found"


class JobNotFound(NotFound):
    code = "job_not_found"


class Conflict(HybridError):
    status_code = 409
    code = "conflict"


class JobFinished(Conflict):
    code = "job_finished"


class NoForecasts(Conflict):
    code = "job_has_no_forecasts"


class VersionNotLoaded(Conflict):
    code = "version_not_loaded"


class VersionIncomplete(Conflict):
    """A version folder Triton would be asked to load is missing a file or holds a changed artifact."""

    code = "version_incomplete"


class JobExpired(HybridError):
    """No worker finished the job within ``job_timeout_s`` (lost message, workers down)."""

    status_code = 504
    code = "job_expired"


class JobCancelled(HybridError):
    """Recorded on a job its owner cancelled (status ``cancelled``); never an HTTP answer."""

    status_code = 409
    code = "cancelled"


class Unauthorized(HybridError):
    status_code = 401
    code = "unauthorized"


class Forbidden(HybridError):
    status_code = 403
    code = "forbidden"


class TooManyRequests(HybridError):
    """Shed before any work: the caller's limits or the queue are full; the request may be repeated."""

    status_code = 429
    code = "too_many_requests"
    retryable = True

    def __init__(self, message: str, *, reason: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after_s = retry_after_s


class RetryableError(HybridError):
    """A failure that may go away by itself; callers retry with backoff."""

    status_code = 503
    code = "unavailable"
    retryable = True


class ServiceUnavailable(RetryableError):
    code = "service_unavailable"


class EnqueueFailed(ServiceUnavailable):
    code = "enqueue_failed"


class SyncAtCapacity(ServiceUnavailable):
    code = "sync_at_capacity"


class VersionNotReady(ServiceUnavailable):
    """The repository holds the version, Triton does not serve it yet (it restarted, or a rollout
    is loading it): a job retries instead of failing."""

    code = "version_not_ready"


class DeadlineExceeded(RetryableError):
    status_code = 504
    code = "deadline_exceeded"
