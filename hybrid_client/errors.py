"""What the client raises: one base that carries the answer's status, code, field and retryability.

    HybridClientError                   status, code, field, retryable, message
    ├── TransportError                  no answer at all: connection refused, timed out (retryable)
    ├── ApiError                        the API answered {"error": {...}}
    │   ├── BadRequest          400     the body could not be read
    │   ├── InvalidInput        422     field names the part, e.g. "series[3].freq"
    │   ├── Unauthorized        401     no key, or one nobody issued
    │   ├── Forbidden           403     revoked key, missing scope
    │   ├── NotFound            404     model, version or job
    │   ├── Conflict            409     version not loaded, job finished, idempotency key reused
    │   ├── PayloadTooLarge     413
    │   ├── TooManyRequests     429     retryable; retry_after_s from Retry-After
    │   ├── ServiceUnavailable  503     retryable; retry_after_s from Retry-After
    │   └── GatewayTimeout      504     Triton did not answer in time (retryable when Retry-After says so)
    ├── JobError                        a job ended without forecasts
    │   ├── JobFailed                   code and message are the job's error
    │   └── JobCancelled
    └── WaitTimeout                     the job had not finished when wait() gave up (retryable: wait again)

The client retries 429 and 503 itself, up to its RetryPolicy, after the Retry-After the API sends;
what it raises has run out of retries.
"""

from __future__ import annotations

from typing import Any


class HybridClientError(Exception):
    """Base of every error the client raises."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "client_error",
        field: str | None = None,
        retryable: bool = False,
        retry_after_s: float | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.field = field
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        self.details = details or []

    def __str__(self) -> str:
        where = f" ({self.field})" if self.field else ""
        status = f"{self.status} " if self.status is not None else ""
        return f"{status}{self.code}{where}: {self.message}"


class TransportError(HybridClientError):
    """The API could not be reached or did not answer in time."""


class ApiError(HybridClientError):
    """The API answered with its error envelope."""


class BadRequest(ApiError):
    pass


class InvalidInput(ApiError):
    pass


class Unauthorized(ApiError):
    pass


class Forbidden(ApiError):
    pass


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class PayloadTooLarge(ApiError):
    pass


class TooManyRequests(ApiError):
    pass


class ServiceUnavailable(ApiError):
    pass


class GatewayTimeout(ApiError):
    pass


class JobError(HybridClientError):
    """A job ended without forecasts."""


class JobFailed(JobError):
    pass


class JobCancelled(JobError):
    pass


class WaitTimeout(HybridClientError):
    """A job had not finished when ``wait`` gave up; waiting again may see it finish."""


ERRORS_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: InvalidInput,
    429: TooManyRequests,
    503: ServiceUnavailable,
    504: GatewayTimeout,
}
