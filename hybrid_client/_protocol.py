"""What the sync and asyncio clients share: limits, the retry rule and the mapping of error answers."""

from __future__ import annotations

import email.utils
import io
import time
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

from hybrid_client.errors import ERRORS_BY_STATUS, ApiError, HybridClientError, TransportError

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
MAX_WAIT_PER_POLL_S = 60.0
"""The API long-polls a job at most this long per request."""
ARRAY_MIN_POINTS = 5_000
"""A job of fewer points goes as JSON (about 30 series of 156 weekly points): see
:mod:`hybrid_client._array_jobs`."""


@dataclass(frozen=True)
class RetryPolicy:
    """Which answers are retried and how long to wait: 429 and 503, after their ``Retry-After``."""

    max_retries: int = 3
    """Retries after the first try; 0 turns retrying off."""
    max_delay_s: float = 30.0
    """A longer ``Retry-After`` is cut to this."""
    default_delay_s: float = 1.0
    """Wait when the answer gives no (readable) ``Retry-After``."""
    statuses: frozenset[int] = frozenset({429, 503})

    def delay_s(self, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before retrying ``response`` (try ``attempt``, from 0); None: do not retry."""
        if response.status_code not in self.statuses or attempt >= self.max_retries:
            return None
        after = retry_after_s(response)
        return min(self.default_delay_s if after is None else after, self.max_delay_s)


@dataclass(frozen=True)
class RequestLimits:
    """How a frame is split into requests; keep under the API's caps (series per job, body bytes)."""

    max_series: int = 1_000
    max_points: int = 1_000_000
    """About 20 MB of JSON at most per request."""
    array_min_points: int = ARRAY_MIN_POINTS
    """``submit`` sends a chunk of at least this many points as arrays (``POST /v1/jobs/arrays``)."""


def retry_after_s(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_from(response: httpx.Response) -> ApiError:
    """The exception for an error answer, from its envelope ``{"error": {code, message, field, details}}``."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    envelope: dict[str, Any] = payload.get("error") or {} if isinstance(payload, dict) else {}
    if not isinstance(envelope, dict):
        envelope = {}
    status = response.status_code
    error_type = ERRORS_BY_STATUS.get(status, ApiError)
    after = retry_after_s(response)
    return error_type(
        str(envelope.get("message") or response.text or response.reason_phrase),
        status=status,
        code=str(envelope.get("code") or f"http_{status}"),
        field=envelope.get("field"),
        retryable=status in (429, 503) or after is not None,
        retry_after_s=after,
        details=envelope.get("details"),
    )


def checked(response: httpx.Response) -> Any:
    """The answer's JSON, or the mapped exception for an error status."""
    if response.status_code >= 400:
        raise error_from(response)
    return response.json()


def npz_arrays(content: bytes) -> dict[str, npt.NDArray[Any]]:
    """The arrays of an ``.npz`` answer by name, in the archive's order; never unpickles."""
    with np.load(io.BytesIO(content), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def transport_error(exc: httpx.TransportError) -> HybridClientError:
    """A request that got no answer (refused, reset, timed out)."""
    return TransportError(str(exc) or type(exc).__name__, code="transport_error", retryable=True)


def headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}
